"""The CPU backend in 3-D: numba kernels of the acoustic time step, its exact
transpose, and the time loops over them (registry entry ``(3, "cpu")``,
:mod:`fwi_core.engine.backends`). The 3-D analogue of
:mod:`fwi_core.engine.backends.cpu2d`, with the same interface, the same
discrete operator (one more axis) and the same time loops.

Self-contained on purpose, as cpu2d: numba's on-disk cache is invalidated per
source file and does not track jitted functions imported from other files,
so the few small jitted helpers both backends need (the denormal-mode
intrinsics) are repeated here rather than imported.

Discrete forward operator (one step n, padded arrays ``(NZ, NY, NX)``,
``s = dt^2 vp^2``), for each axis a in (z, y, x):

    psi_a  = b_a psi_a  + a_a Da u
    zeta_a = b_a zeta_a + a_a (Daa u + Da psi_a)
    u+     = 2 u - u- + s (sum_a (Daa u + Da psi_a + zeta_a) + S f)

and its transpose, for ``W = s * adjoint field``:

    Z_a = b_a Z_a + a_a W
    P_a = b_a P_a - a_a Da (W + Z_a)
    Q   = sum_a (Daa (W + Z_a) - Da P_a)
    W-  = 2 W - W+ + s (Q + R^T r),      and the image g += u^n Q.

The CPML terms act only in the absorbing layer and the stencil radius next
to it. The update runs in parallel over z planes; each (z, y) row is one
vectorised loop over x, with the plain update everywhere and the CPML terms
added where their axis's layer is: z-band planes, y-band rows, x strips.
Region bounds ``(fz, ze, ys, ye, xs, xe)`` of the computed cells and
``(zc0, zc1, yc0, yc1, xc0, xc1)`` of the interior core (no CPML term).
Inner loops index row views that start 4 cells before their range, so every
index is ``k + const >= 0`` (no wrap-around checks, see cpu2d).
"""
from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# the same fast-math flags as cpu2d (no `reassoc`: same bits compiled or cached)
FASTMATH = frozenset({"contract", "nnan", "ninf", "nsz", "arcp", "afn"})
_OPTS = dict(cache=True, fastmath=set(FASTMATH), error_model="numpy", boundscheck=False)
R = 4  # stencil radius of the highest order; lower orders carry zero outer coefficients


# ---------------------------------------------------------------- denormals
# A wavefield that starts at zero carries a front of subnormal floats ahead of
# every arrival, and in the absorbing layer. x86 cores handle each of those in
# microcode, about 10x slower (measured: order-8 step at 1e-30 filled fields,
# 107 against 1055 Mpt/s). Every kernel therefore sets flush-to-zero and
# denormals-are-zero (MXCSR bits 15 and 6) in the thread that runs it, and
# restores the caller's mode when done, so no other code sees the change.
# The values lost are below 1.2e-38 (float32) or 2.2e-308 (float64).

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_FTZ_DAZ = 0x8040


def _mxcsr_call(builder, name, ptr):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])


@intrinsic
def _get_fp_mode(typingctx):
    """The thread's MXCSR (0 off x86)."""
    def codegen(context, builder, sig, args):
        if not _X86:
            return ir.Constant(ir.IntType(32), 0)
        ptr = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", ptr)
        return builder.load(ptr)
    return types.uint32(), codegen


@intrinsic
def _set_fp_mode(typingctx, mode):
    """Load ``mode`` into the thread's MXCSR (no-op off x86)."""
    def codegen(context, builder, sig, args):
        if _X86:
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", cgutils.alloca_once_value(builder, args[0]))
        return context.get_dummy_value()
    return types.void(types.uint32), codegen


@njit(inline="always", **_OPTS)
def flush_denormals():
    """Turn on flush-to-zero for this thread; returns the mode to restore."""
    old = _get_fp_mode()
    _set_fp_mode(old | np.uint32(_FTZ_DAZ))
    return old


@njit(inline="always", **_OPTS)
def restore_fp(old):
    _set_fp_mode(old)


# ---------------------------------------------------------------- stencils on row views
# A row view starts R cells before the first column it serves: value at
# column x0 + k is m[k + R]. ``_zrows``/``_yrows`` give the 9 rows a z or y
# stencil reads.

@njit(inline="always", **_OPTS)
def _zrows(a, i, j, b):
    return (a[i - 4, j, b:], a[i - 3, j, b:], a[i - 2, j, b:], a[i - 1, j, b:], a[i, j, b:],
            a[i + 1, j, b:], a[i + 2, j, b:], a[i + 3, j, b:], a[i + 4, j, b:])


@njit(inline="always", **_OPTS)
def _yrows(a, i, j, b):
    return (a[i, j - 4, b:], a[i, j - 3, b:], a[i, j - 2, b:], a[i, j - 1, b:], a[i, j, b:],
            a[i, j + 1, b:], a[i, j + 2, b:], a[i, j + 3, b:], a[i, j + 4, b:])


@njit(inline="always", **_OPTS)
def _dd(r, j, c):
    """Second derivative across the 9 row views ``r`` at index j."""
    return (c[0] * r[4][j] + c[1] * (r[5][j] + r[3][j]) + c[2] * (r[6][j] + r[2][j])
            + c[3] * (r[7][j] + r[1][j]) + c[4] * (r[8][j] + r[0][j]))


@njit(inline="always", **_OPTS)
def _d(r, j, c):
    """First derivative across the 9 row views ``r`` at index j."""
    return (c[1] * (r[5][j] - r[3][j]) + c[2] * (r[6][j] - r[2][j])
            + c[3] * (r[7][j] - r[1][j]) + c[4] * (r[8][j] - r[0][j]))


@njit(inline="always", **_OPTS)
def _ddx(m, j, c):
    return (c[0] * m[j] + c[1] * (m[j + 1] + m[j - 1]) + c[2] * (m[j + 2] + m[j - 2])
            + c[3] * (m[j + 3] + m[j - 3]) + c[4] * (m[j + 4] + m[j - 4]))


@njit(inline="always", **_OPTS)
def _dx(m, j, c):
    return (c[1] * (m[j + 1] - m[j - 1]) + c[2] * (m[j + 2] - m[j - 2])
            + c[3] * (m[j + 3] - m[j - 3]) + c[4] * (m[j + 4] - m[j - 4]))


@njit(**_OPTS)
def mirror_surface(a, fz):
    """Odd image about the free-surface plane ``fz - 1`` into the halo above it."""
    for k in range(1, fz):
        if fz - 1 - k < 0:
            break
        a[fz - 1 - k] = -a[fz - 1 + k]


# ---------------------------------------------------------------- forward row pieces

@njit(inline="always", **_OPTS)
def _lap_row(u, c2x, c2y, c2z, i, j, x0, x1, t):
    """``t[k] = (Dxx + Dyy + Dzz) u`` at row (i, j), columns x0 + k."""
    zr = _zrows(u, i, j, x0 - R)
    yr = _yrows(u, i, j, x0 - R)
    for k in range(x1 - x0):
        t[k] = _ddx(zr[4], k + R, c2x) + _dd(yr, k + R, c2y) + _dd(zr, k + R, c2z)


@njit(inline="always", **_OPTS)
def _core_row(u, um, out, s, c2x, c2y, c2z, i, j, x0, x1):
    """Plain update ``out = 2u - um + s (Dxx + Dyy + Dzz) u`` on row (i, j)."""
    zr = _zrows(u, i, j, x0 - R)
    yr = _yrows(u, i, j, x0 - R)
    p, o, sr = um[i, j, x0:], out[i, j, x0:], s[i, j, x0:]
    two = u.dtype.type(2)
    for k in range(x1 - x0):
        o[k] = two * zr[4][k + R] - p[k] + sr[k] * (
            _ddx(zr[4], k + R, c2x) + _dd(yr, k + R, c2y) + _dd(zr, k + R, c2z))


@njit(inline="always", **_OPTS)
def _band_terms(rows_u, rows_p, zeta, out, sr, c2, c1, a, b, n):
    """Add an axis's CPML terms to ``out`` on one row: ``s (Da psi + zeta)``
    with ``zeta = b zeta + a (Daa u + Da psi)`` (a != 0), or ``s Da psi``
    next to the layer (a = 0, zeta stays 0). ``rows_*``: 9 row views."""
    if a != 0:
        for k in range(n):
            dp = _d(rows_p, k + R, c1)
            z = b * zeta[k] + a * (_dd(rows_u, k + R, c2) + dp)
            zeta[k] = z
            out[k] += sr[k] * (dp + z)
    else:
        for k in range(n):
            out[k] += sr[k] * _d(rows_p, k + R, c1)


@njit(inline="always", **_OPTS)
def _psi_x(u, c1x, ax, bx, psx, i, j, x0, x1):
    ur, px, axr, bxr = u[i, j, x0 - R:], psx[i, j, x0:], ax[x0:], bx[x0:]
    for k in range(x1 - x0):
        px[k] = bxr[k] * px[k] + axr[k] * _dx(ur, k + R, c1x)


@njit(inline="always", **_OPTS)
def _zeta_x_add(u, c2x, c1x, ax, bx, psx, zex, out, s, i, j, x0, x1):
    ur, pxm = u[i, j, x0 - R:], psx[i, j, x0 - R:]
    zxr, axr, bxr, o, sc = zex[i, j, x0:], ax[x0:], bx[x0:], out[i, j, x0:], s[i, j, x0:]
    for k in range(x1 - x0):
        dpx = _dx(pxm, k + R, c1x)
        zx = bxr[k] * zxr[k] + axr[k] * (_ddx(ur, k + R, c2x) + dpx)
        zxr[k] = zx
        o[k] += sc[k] * (dpx + zx)


@njit(parallel=True, **_OPTS)
def _forward_aux(u, c1y, c1z, ay, by, az, bz, psy, psz, b):
    """psi_z on the z-band planes and psi_y on the y-band rows (the update
    reads them at neighbouring planes and rows)."""
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    for i in prange(fz, ze):
        fp = flush_denormals()
        for j in range(ys, ye):
            if az[i] != 0:
                zr = _zrows(u, i, j, xs - R)
                pz = psz[i, j, xs:]
                a, bb = az[i], bz[i]
                for k in range(xe - xs):
                    pz[k] = bb * pz[k] + a * _d(zr, k + R, c1z)
            if ay[j] != 0:
                yr = _yrows(u, i, j, xs - R)
                py = psy[i, j, xs:]
                a, bb = ay[j], by[j]
                for k in range(xe - xs):
                    py[k] = bb * py[k] + a * _d(yr, k + R, c1y)
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def forward_step(u, um, out, op, aux):
    """One step: u^{n+1} into ``out`` (a third array) from ``u`` = u^n, ``um`` = u^{n-1}."""
    s, c2x, c2y, c2z, c1x, c1y, c1z, ax, bx, ay, by, az, bz, b, fs = op
    psx, psy, psz, zex, zey, zez = aux
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    zc0, zc1, yc0, yc1, xc0, xc1 = b[6], b[7], b[8], b[9], b[10], b[11]
    if fs:
        mirror_surface(u, fz)
    _forward_aux(u, c1y, c1z, ay, by, az, bz, psy, psz, b)
    n = xe - xs
    for i in prange(fz, ze):
        fp = flush_denormals()
        zband = i < zc0 or i >= zc1
        for j in range(ys, ye):
            _psi_x(u, c1x, ax, bx, psx, i, j, xs, xc0)
            _psi_x(u, c1x, ax, bx, psx, i, j, xc1, xe)
            _core_row(u, um, out, s, c2x, c2y, c2z, i, j, xs, xe)
            o, sr = out[i, j, xs:], s[i, j, xs:]
            if zband:
                _band_terms(_zrows(u, i, j, xs - R), _zrows(psz, i, j, xs - R), zez[i, j, xs:], o, sr,
                            c2z, c1z, az[i], bz[i], n)
            if j < yc0 or j >= yc1:
                _band_terms(_yrows(u, i, j, xs - R), _yrows(psy, i, j, xs - R), zey[i, j, xs:], o, sr,
                            c2y, c1y, ay[j], by[j], n)
            _zeta_x_add(u, c2x, c1x, ax, bx, psx, zex, out, s, i, j, xs, xc0)
            _zeta_x_add(u, c2x, c1x, ax, bx, psx, zex, out, s, i, j, xc1, xe)
        restore_fp(fp)


# ---------------------------------------------------------------- adjoint step

@njit(parallel=True, **_OPTS)
def _adjoint_aux_z(w, ay, by, az, bz, zy, zz, b):
    """Z_z on the z-band planes and Z_y on the y-band rows: ``Z = b Z + a W``."""
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    for i in prange(fz, ze):
        fp = flush_denormals()
        for j in range(ys, ye):
            wr = w[i, j, xs:]
            if az[i] != 0:
                zr = zz[i, j, xs:]
                a, bb = az[i], bz[i]
                for k in range(xe - xs):
                    zr[k] = bb * zr[k] + a * wr[k]
            if ay[j] != 0:
                yr = zy[i, j, xs:]
                a, bb = ay[j], by[j]
                for k in range(xe - xs):
                    yr[k] = bb * yr[k] + a * wr[k]
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def _adjoint_aux_p(w, c1y, c1z, ay, by, az, bz, zy, zz, py, pz, b):
    """P_z and P_y: ``P = b P - a Da (W + Z)`` (after Z: it reads Z at neighbouring planes/rows)."""
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    for i in prange(fz, ze):
        fp = flush_denormals()
        for j in range(ys, ye):
            if az[i] != 0:
                wr, zr, pr = _zrows(w, i, j, xs - R), _zrows(zz, i, j, xs - R), pz[i, j, xs:]
                a, bb = az[i], bz[i]
                for k in range(xe - xs):
                    pr[k] = bb * pr[k] - a * (_d(wr, k + R, c1z) + _d(zr, k + R, c1z))
            if ay[j] != 0:
                wr, zr, pr = _yrows(w, i, j, xs - R), _yrows(zy, i, j, xs - R), py[i, j, xs:]
                a, bb = ay[j], by[j]
                for k in range(xe - xs):
                    pr[k] = bb * pr[k] - a * (_d(wr, k + R, c1y) + _d(zr, k + R, c1y))
        restore_fp(fp)


@njit(inline="always", **_OPTS)
def _q_band(t, rows_z, rows_p, c2, c1, n):
    """``t += Daa Z - Da P`` on one row (9 row views of Z and of P)."""
    for k in range(n):
        t[k] += _dd(rows_z, k + R, c2) - _d(rows_p, k + R, c1)


@njit(inline="always", **_OPTS)
def _x_strip_adjoint(w, t, c2x, c1x, ax, bx, zx, px, i, j, x0, x1, xs):
    """Z_x, P_x on one x strip of row (i, j), then ``t += Dxx Z_x - Dx P_x`` there
    (``t`` starts at column xs)."""
    wr, zr, axr, bxr = w[i, j, x0:], zx[i, j, x0:], ax[x0:], bx[x0:]
    for k in range(x1 - x0):
        zr[k] = bxr[k] * zr[k] + axr[k] * wr[k]
    wm, zm, pr = w[i, j, x0 - R:], zx[i, j, x0 - R:], px[i, j, x0:]
    for k in range(x1 - x0):
        pr[k] = bxr[k] * pr[k] - axr[k] * (_dx(wm, k + R, c1x) + _dx(zm, k + R, c1x))
    pm, tr = px[i, j, x0 - R:], t[x0 - xs:]
    for k in range(x1 - x0):
        tr[k] += _ddx(zm, k + R, c2x) - _dx(pm, k + R, c1x)


@njit(parallel=True, **_OPTS)
def adjoint_step(w, wp, t, u, g, image, op, adj_aux):
    """One transposed step: ``wp`` (W^{n+2}) is overwritten with W^n from ``w``
    (W^{n+1}): ``W^n = 2 W^{n+1} - W^{n+2} + s Q`` with ``Q`` the transposed
    spatial operator (CPML terms included; the receiver term is the
    caller's), built row by row in ``t`` (one scratch row per z plane,
    ``(NZ, NX)``). With ``image``, ``g += u Q`` (``u`` = u^n): the whole
    imaging condition, as in cpu2d.adjoint_step."""
    s, c2x, c2y, c2z, c1x, c1y, c1z, ax, bx, ay, by, az, bz, b, fs = op
    zx, zy, zz, px, py, pz = adj_aux
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    zc0, zc1, yc0, yc1, xc0, xc1 = b[6], b[7], b[8], b[9], b[10], b[11]
    if fs:
        mirror_surface(w, fz)
    _adjoint_aux_z(w, ay, by, az, bz, zy, zz, b)
    _adjoint_aux_p(w, c1y, c1z, ay, by, az, bz, zy, zz, py, pz, b)
    n = xe - xs
    two = w.dtype.type(2)
    for i in prange(fz, ze):
        fp = flush_denormals()
        tr = t[i]
        zband = i < zc0 or i >= zc1
        for j in range(ys, ye):
            _lap_row(w, c2x, c2y, c2z, i, j, xs, xe, tr)
            if zband:
                _q_band(tr, _zrows(zz, i, j, xs - R), _zrows(pz, i, j, xs - R), c2z, c1z, n)
            if j < yc0 or j >= yc1:
                _q_band(tr, _yrows(zy, i, j, xs - R), _yrows(py, i, j, xs - R), c2y, c1y, n)
            _x_strip_adjoint(w, tr, c2x, c1x, ax, bx, zx, px, i, j, xs, xc0, xs)
            _x_strip_adjoint(w, tr, c2x, c1x, ax, bx, zx, px, i, j, xc1, xe, xs)
            wr, o, sr = w[i, j, xs:], wp[i, j, xs:], s[i, j, xs:]
            for k in range(n):
                o[k] = two * wr[k] - o[k] + sr[k] * tr[k]
            if image:
                ur, gr = u[i, j, xs:], g[i, j, xs:]
                for k in range(n):
                    gr[k] += ur[k] * tr[k]
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def d2_squared(up, u, um, h, b):
    """``h += (up - 2u + um)^2`` over the computed region (the illumination)."""
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    two = u.dtype.type(2)
    for i in prange(fz, ze):
        fp = flush_denormals()
        for j in range(ys, ye):
            a, c, m, hr = up[i, j, xs:], u[i, j, xs:], um[i, j, xs:], h[i, j, xs:]
            for k in range(xe - xs):
                d2 = a[k] - two * c[k] + m[k]
                hr[k] += d2 * d2
        restore_fp(fp)


# ---------------------------------------------------------------- points

@njit(**_OPTS)
def inject(a, s, idx, wts, amp):
    """``a.flat[idx] += s.flat[idx] * wts * amp[p]`` for each point p (amp: (n_points,))."""
    af = a.ravel()
    sf = s.ravel()
    for p in range(idx.shape[0]):
        for k in range(idx.shape[1]):
            q = idx[p, k]
            af[q] += sf[q] * wts[p, k] * amp[p]


@njit(**_OPTS)
def inject_core(a, s, idx, wts, amp, b):
    """:func:`inject` of one source with amplitude ``amp`` into the core cells only."""
    ny, nx = a.shape[1], a.shape[2]
    af = a.ravel()
    sf = s.ravel()
    for k in range(idx.shape[1]):
        q = idx[0, k]
        i, j, x = q // (ny * nx), (q // nx) % ny, q % nx
        if b[6] <= i < b[7] and b[8] <= j < b[9] and b[10] <= x < b[11]:
            af[q] += sf[q] * wts[0, k] * amp


@njit(**_OPTS)
def gather(a, idx, wts, out):
    """``out[p] = sum_k wts[p,k] * a.flat[idx[p,k]]``."""
    af = a.ravel()
    for p in range(idx.shape[0]):
        acc = 0.0
        for k in range(idx.shape[1]):
            acc += wts[p, k] * af[idx[p, k]]
        out[p] = acc


# ---------------------------------------------------------------- boundary records
# The computed cells outside the core, in plane order: planes outside
# [zc0, zc1) whole, core planes their rows outside [yc0, yc1) whole and the
# two x strips of the other rows. The reverse sweep rebuilds the core from
# two later time levels and restores the rest from the record (as cpu2d).

@njit(inline="always", **_OPTS)
def _row_offset(i, j, b):
    """Offset in a record of row (i, j)'s saved cells, and the end of its left
    segment ``[xs, xl)`` and start of its right one ``[xr, xe)``."""
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    zc0, zc1, yc0, yc1, xc0, xc1 = b[6], b[7], b[8], b[9], b[10], b[11]
    wd = xe - xs
    plane = (ye - ys) * wd
    core_plane = (yc0 - ys + ye - yc1) * wd + (yc1 - yc0) * (wd - (xc1 - xc0))
    if i < zc0:
        return (i - fz) * plane + (j - ys) * wd, xe, xe
    if i >= zc1:
        return (zc0 - fz) * plane + (zc1 - zc0) * core_plane + (i - zc1) * plane + (j - ys) * wd, xe, xe
    base = (zc0 - fz) * plane + (i - zc0) * core_plane
    if j < yc0:
        return base + (j - ys) * wd, xe, xe
    if j >= yc1:
        return base + (yc0 - ys) * wd + (yc1 - yc0) * (wd - (xc1 - xc0)) + (j - yc1) * wd, xe, xe
    return base + (yc0 - ys) * wd + (j - yc0) * (wd - (xc1 - xc0)), xc0, xc1


@njit(inline="always", **_OPTS)
def _row_copy(a, rec, i, j, b, to_rec):
    xs, xe = b[4], b[5]
    off, xl, xr = _row_offset(i, j, b)
    nl = xl - xs
    if to_rec:
        rec[off:off + nl] = a[i, j, xs:xl]
        rec[off + nl:off + nl + xe - xr] = a[i, j, xr:xe]
    else:
        a[i, j, xs:xl] = rec[off:off + nl]
        a[i, j, xr:xe] = rec[off + nl:off + nl + xe - xr]


def boundary_size(b) -> int:
    """Cells of one boundary record for region bounds ``b`` (see :func:`boundary_copy`)."""
    fz, ze, ys, ye, xs, xe, zc0, zc1, yc0, yc1, xc0, xc1 = (int(x) for x in b)
    wd = xe - xs
    plane = (ye - ys) * wd
    core_plane = (yc0 - ys + ye - yc1) * wd + (yc1 - yc0) * (wd - (xc1 - xc0))
    return (zc0 - fz + ze - zc1) * plane + (zc1 - zc0) * core_plane


@njit(parallel=True, **_OPTS)
def boundary_copy(a, rec, b, to_rec):
    """Copy the computed cells of ``a`` outside the core into the 1-D record
    ``rec`` (``to_rec``) or back."""
    for i in prange(b[0], b[1]):
        for j in range(b[2], b[3]):
            _row_copy(a, rec, i, j, b, to_rec)


@njit(parallel=True, **_OPTS)
def _rebuild(u, up, out, s, c2x, c2y, c2z, rec, b):
    """u^{n-1} into ``out``: the core by the plain update read backwards
    (``2u^n - u^{n+1} + s L u^n``; the source term is the caller's,
    :func:`inject_core`), the other computed cells from the record ``rec``."""
    for i in prange(b[0], b[1]):
        fp = flush_denormals()
        core_plane = b[6] <= i < b[7]
        for j in range(b[2], b[3]):
            if core_plane and b[8] <= j < b[9]:
                _core_row(u, up, out, s, c2x, c2y, c2z, i, j, b[10], b[11])
            _row_copy(out, rec, i, j, b, False)
        restore_fp(fp)


# ---------------------------------------------------------------- layout (plain Python)
#: Width multiple (cells) of the x absorbing strips: one AVX-512 float32 vector.
STRIP_ALIGN = 16
HALO = R
#: Names of the forward CPML fields, in the order of :func:`cpml_fields`.
AUX = ("psi_x", "psi_y", "psi_z", "zeta_x", "zeta_y", "zeta_z")


def regions(layout) -> np.ndarray:
    """Region bounds ``(fz, ze, ys, ye, xs, xe, zc0, zc1, yc0, yc1, xc0, xc1)``
    of a padded 3-D layout: the computed cells, and the interior core further
    than the stencil radius from the absorbing layer (int64 array)."""
    NZ, NY, NX = layout.shape
    fz = HALO + (1 if layout.free_surface else 0)
    ze, ys, ye, xs, xe = NZ - HALO, HALO, NY - HALO, HALO, NX - HALO
    reach = HALO
    pml = layout.pml
    zc0 = HALO + layout.top + reach if layout.top else fz
    zc1 = ze - pml - reach if pml else ze
    yc0, yc1 = (ys + pml + reach, ye - pml - reach) if pml else (ys, ye)
    strip = -(-(pml + reach) // STRIP_ALIGN) * STRIP_ALIGN   # whole vectors (CPML terms are 0 beyond the layer)
    xc0, xc1 = (xs + strip, xe - strip) if pml else (xs, xe)
    if zc1 <= zc0:
        zc0 = zc1 = fz
    if yc1 <= yc0:
        yc0 = yc1 = ys
    if xc1 <= xc0:
        xc0 = xc1 = xs
    if zc0 == zc1 or yc0 == yc1 or xc0 == xc1:   # no core at all: everything is boundary
        zc0 = zc1 = fz
        yc0 = yc1 = ys
        xc0 = xc1 = xs
    return np.array((fz, ze, ys, ye, xs, xe, zc0, zc1, yc0, yc1, xc0, xc1), dtype=np.int64)


def core_points(bounds) -> int:
    """Cells of the interior core."""
    b = [int(x) for x in bounds]
    return (b[7] - b[6]) * (b[9] - b[8]) * (b[11] - b[10])


def snapshot_cells(layout) -> int:
    """Cells of one snapshot at most: two time levels and the CPML fields
    outside the core (consecutive snapshots share a time level, :func:`execute`)."""
    return 2 * int(np.prod(layout.shape)) + len(AUX) * boundary_size(regions(layout))


def pack(s, coefs, cpml, bounds, free_surface: bool) -> tuple:
    """The operator tuple the loops take: ``s`` = dt^2 vp^2 (padded), per axis
    (z, y, x) the stencil coefficients ``(c2, c1)`` (5-tuples scaled by the
    spacing) and the CPML ``(a, b)``, the region bounds and the free-surface flag."""
    (c2z, c1z), (c2y, c1y), (c2x, c1x) = coefs
    (az, bz), (ay, by), (ax, bx) = cpml
    return (s, c2x, c2y, c2z, c1x, c1y, c1z, ax, bx, ay, by, az, bz, bounds, bool(free_surface))


def fields(layout, dtype, n: int) -> tuple:
    """``n`` zero fields of the padded shape."""
    return tuple(np.zeros(layout.shape, dtype=dtype) for _ in range(n))


def cpml_fields(layout, dtype) -> tuple:
    """Forward CPML memory ``(psi_x, psi_y, psi_z, zeta_x, zeta_y, zeta_z)``, zero."""
    return fields(layout, dtype, len(AUX))


def adjoint_fields(layout, dtype, threads: int) -> tuple:
    """Adjoint CPML memory ``(Z_x, Z_y, Z_z, P_x, P_y, P_z)`` and the scratch
    rows of :func:`adjoint_step` (one per z plane, ``(NZ, NX)``), zero."""
    return fields(layout, dtype, 6) + (np.zeros((layout.shape[0], layout.shape[2]), dtype=dtype),)


def snapshot_store(layout, dtype, n_snap: int) -> tuple:
    """Checkpoint storage for :func:`execute` with ``n_snap`` snapshots:
    ``(levels, refs, slot_levels, slot_step, aux_records)``; a snapshot keeps
    the CPML fields as boundary records (they are zero in the core)."""
    levels = np.zeros((2 * n_snap + 3, *layout.shape), dtype=dtype)
    return (levels, np.zeros(levels.shape[0], dtype=np.int64), np.full((n_snap, 2), -1, dtype=np.int64),
            np.zeros(n_snap, dtype=np.int64),
            np.empty((n_snap, len(AUX), boundary_size(regions(layout))), dtype=dtype))


# ---------------------------------------------------------------- time loops
# As in cpu2d: ``op`` (:func:`pack`), ``aux`` (:func:`cpml_fields`),
# ``src``/``rec`` = (flat indices, weights) of one shot's points,
# ``adj_aux`` (:func:`adjoint_fields` without the scratch rows).

_LOOP_OPTS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit(**_LOOP_OPTS)
def _step(n, u, um, out, aux, op, src, wav, rec, syn, record, amp, h, illum):
    """Forward step n: records u^n into ``syn[n]`` if ``record``, then u^{n+1}
    into ``out``; with ``illum``, ``h += (s L u^n)^2`` (before the source)."""
    s, b = op[0], op[13]
    if record:
        gather(u, rec[0], rec[1], syn[n])
    forward_step(u, um, out, op, aux)
    if illum:
        d2_squared(out, u, um, h, b)
    amp[0] = wav[n]
    inject(out, s, src[0], src[1], amp)


@njit(**_LOOP_OPTS)
def advance(k, n0, u, um, spare, aux, op, src, wav, rec, syn, record):
    """k forward steps from state n0 (``u`` = u^n0, ``um`` = u^{n0-1}), rotating
    three buffers; records u^n into ``syn[n]`` (``(nt, n_rec)``) if ``record``.
    Returns the new ``(u, um, spare)``."""
    fp = flush_denormals()
    amp = np.empty(1, dtype=u.dtype)
    for n in range(n0, n0 + k):
        _step(n, u, um, spare, aux, op, src, wav, rec, syn, record, amp, u, False)
        u, um, spare = spare, u, um
    restore_fp(fp)
    return u, um, spare


@njit(**_LOOP_OPTS)
def adjoint_sweep(w, wp, t, adj_aux, op, src, rec, r, out):
    """Source-side adjoint of one shot: ``out (nt,)`` from the residual
    ``r (n_rec, nt)``, W^{nt-1} = s R^T r^{nt-1} already in ``w``."""
    fp = flush_denormals()
    s = op[0]
    buf = np.empty(1, dtype=w.dtype)
    for n in range(r.shape[1] - 2, -1, -1):
        gather(w, src[0], src[1], buf)     # f^n sees W^{n+1}
        out[n] = buf[0]
        adjoint_step(w, wp, t, w, w, False, op, adj_aux)
        inject(wp, s, rec[0], rec[1], r[:, n])
        w, wp = wp, w
    restore_fp(fp)


@njit(**_LOOP_OPTS)
def _free_level(refs, cu, cm):
    """A time-level buffer that no snapshot and not the current state uses."""
    for q in range(refs.shape[0]):
        if refs[q] == 0 and q != cu and q != cm:
            return q
    return -1


@njit(**_LOOP_OPTS)
def _aux_records(slot, aux, records, b, to_slot):
    """Copy the CPML fields outside the core into (``to_slot``) or out of a snapshot slot."""
    for f in range(len(aux)):
        boundary_copy(aux[f], records[slot, f], b, to_slot)


@njit(**_LOOP_OPTS)
def execute(actions, cur, cu, cm, store, aux, op, src, wav, rec, syn, record,
            w, wp, t, adj_aux, g, h, illum, adj):
    """Run checkpoint-schedule actions (codes: 0 advance, 1 save, 2 restore,
    3 reverse), exactly as cpu2d.execute (time levels shared between
    snapshots, a restore's CPML copy deferred to the next advance or save).
    Returns (cur, cu, cm, w, wp)."""
    levels, refs, slot_levels, slot_step, records = store
    s, b = op[0], op[13]
    fp = flush_denormals()
    amp = np.empty(1, dtype=levels.dtype)
    pending = -1
    for a in range(actions.shape[0]):
        code, arg = actions[a, 0], actions[a, 1]
        if code <= 1 and pending >= 0:
            _aux_records(pending, aux, records, b, False)
            pending = -1
        if code == 0:
            for n in range(cur, cur + arg):
                f = _free_level(refs, cu, cm)
                _step(n, levels[cu], levels[cm], levels[f], aux, op, src, wav, rec, syn, record, amp,
                      h, illum)
                cu, cm = f, cu
            cur += arg
        elif code == 1:
            for q in range(2):
                if slot_levels[arg, q] >= 0:
                    refs[slot_levels[arg, q]] -= 1
            slot_levels[arg, 0], slot_levels[arg, 1] = cu, cm
            refs[cu] += 1
            refs[cm] += 1
            _aux_records(arg, aux, records, b, True)
            slot_step[arg] = cur
        elif code == 2:
            cu, cm = slot_levels[arg, 0], slot_levels[arg, 1]
            pending = arg
            cur = slot_step[arg]
        else:
            n = arg  # W^n into wp from W^{n+1} = w, imaged against u^n
            u = levels[cu]
            adjoint_step(w, wp, t, u, g, True, op, adj_aux)
            inject(wp, s, rec[0], rec[1], adj[n])
            inject(g, u, rec[0], rec[1], adj[n])
            w, wp = wp, w
    restore_fp(fp)
    return cur, cu, cm, w, wp


@njit(**_LOOP_OPTS)
def sweep_saving(nt, u, um, spare, aux, op, src, wav, rec, syn, store, h, illum):
    """Forward sweep u^0 -> u^{nt-1} as :func:`advance` (recording every
    sample but the last), saving the boundary of u^k into ``store[k]`` for
    k = 1..len(store)-1. Returns (u^{nt-1}, u^{nt-2}, spare)."""
    b = op[13]
    fp = flush_denormals()
    amp = np.empty(1, dtype=u.dtype)
    for n in range(nt - 1):
        _step(n, u, um, spare, aux, op, src, wav, rec, syn, True, amp, h, illum)
        if n + 1 < store.shape[0]:
            boundary_copy(spare, store[n + 1], b, True)
        u, um, spare = spare, u, um
    restore_fp(fp)
    return u, um, spare


@njit(**_LOOP_OPTS)
def reverse_saved(nt, u_next, u, spare, store, op, src, wav, rec, w, wp, t, adj_aux, g, adj):
    """Reverse sweep with the forward field rebuilt from ``store`` (see
    :func:`sweep_saving`), as cpu2d.reverse_saved. Returns the final adjoint field buffer."""
    s, c2x, c2y, c2z, b, fs = op[0], op[1], op[2], op[3], op[13], op[14]
    fp = flush_denormals()
    for n in range(nt - 2, -1, -1):
        rebuild = n >= 1
        if rebuild and fs:
            mirror_surface(u, b[0])
        adjoint_step(w, wp, t, u, g, True, op, adj_aux)
        inject(wp, s, rec[0], rec[1], adj[n])
        inject(g, u, rec[0], rec[1], adj[n])
        w, wp = wp, w
        if rebuild:
            _rebuild(u, u_next, spare, s, c2x, c2y, c2z, store[max(n - 1, 0)], b)
            inject_core(spare, s, src[0], src[1], wav[n], b)
            u_next, u, spare = u, spare, u_next
    restore_fp(fp)
    return w
