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
to it (the "bands"). Steps run in parallel over z planes and update a
plane's computed cells as one flat range (see the forward step), in place
over the older time level; the CPML terms are added in the same loop where
a plane or row is in a z or y band, and in short loops over the x strips.
The CPML memory lives in compact arrays next to the layers. Region bounds:
:func:`regions`. Inner loops index views that start before their range,
so every index is ``k + const >= 0`` (no wrap-around checks, see cpu2d).
"""
from __future__ import annotations

import platform

import numba
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


# ---------------------------------------------------------------- stencils along x
# On a row view m that starts R cells before the first cell it serves
# (value at cell k is m[k + R]): every index is ``k + const >= 0``.

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


# ---------------------------------------------------------------- forward step on flat planes
# A plane's computed cells, rows [ys, ye) x columns [xs, xe), are one flat
# range of the plane's ``NY * NX`` values (with the 2R halo columns between
# rows inside it). The update runs as one vectorised loop over such a range:
# a per-row loop pays, per 190-cell row, for ~20 row views and the alias
# checks of its loop, which cost a third of the plain update (measured:
# 580 against 890 Mpt/s single-threaded). The halo columns the range
# covers get values of no meaning and are zeroed at the end of the plane.
# Neighbours along y are the same flat view shifted by whole rows (NX).
#
# CPML memory is compact (:func:`cpml_fields`): psi/zeta of z on the planes
# ``[0, zlo) U [zhi, NZ)``, of y on the rows ``[0, ylo) U [yhi, NY)``, each
# a band with the stencil radius on both sides (zero outside the layer), and
# of x on "seams": seam jj holds the right x strip of row jj - 1, the halo
# and the left x strip of row jj, which are contiguous in the flat plane
# (columns ``[xhi, NX)`` then ``[0, xlo)``). A block that would cover the
# whole axis (small grids) is the whole axis (``lo = hi = N``).


@njit(inline="always", **_OPTS)
def _shifted(a, q0, off):
    """Views of the 1-D ``a`` from ``q0 - off, q0 + off, ..., q0 - 4 off, q0 + 4 off``
    (the neighbours of a stencil along a flat stride ``off``: constant
    offsets from the loop index, which LLVM vectorises, unlike ``k + d * off``)."""
    return (a[q0 - off:], a[q0 + off:], a[q0 - 2 * off:], a[q0 + 2 * off:],
            a[q0 - 3 * off:], a[q0 + 3 * off:], a[q0 - 4 * off:], a[q0 + 4 * off:])


@njit(inline="always", **_OPTS)
def _d1(v, k, c):
    """First derivative from the 8 shifted views of :func:`_shifted`."""
    return (c[1] * (v[1][k] - v[0][k]) + c[2] * (v[3][k] - v[2][k])
            + c[3] * (v[5][k] - v[4][k]) + c[4] * (v[7][k] - v[6][k]))


@njit(inline="always", **_OPTS)
def _update_range(U, P, S, i, q0, n, NX, c2x, c2y, c2z,
                  zt, DZ, ZZ, zp, azi, bzi, yt, DYi, ZYi, AY, BY, yq0):
    """``P = 2u - P + s (Dxx + Dyy + Dzz) u`` in place on the flat cells
    ``[q0, q0 + n)`` of plane i (``U, P, S``: ``(NZ, NY * NX)`` views; one
    view of P's row for reading and writing, as LLVM's run-time alias check
    fails on two views of one row), plus the z CPML terms if ``zt``
    (``Dz psi_z`` and zeta_z in the compact plane ``zp`` of ``DZ, ZZ``;
    ``azi, bzi`` the plane's coefficients) and the y terms if ``yt`` (``DYi,
    ZYi`` the compact y arrays of plane i, ``AY, BY`` the per-cell
    coefficients, ``yq0`` the compact index of q0). Where a = b = 0 (the
    stencil radius next to a layer) zeta stays 0 and only ``Da psi`` adds.
    The derivatives of psi come precomputed (:func:`_dz_pass`,
    :func:`_dy_rows`): reading psi at eight neighbours here made the loop
    too wide for the registers and, with both axes, for LLVM's alias checks."""
    two = U.dtype.type(2)
    m = U[i, q0 - R:]
    y1m, y1p, y2m, y2p = U[i, q0 - NX:], U[i, q0 + NX:], U[i, q0 - 2 * NX:], U[i, q0 + 2 * NX:]
    y3m, y3p, y4m, y4p = U[i, q0 - 3 * NX:], U[i, q0 + 3 * NX:], U[i, q0 - 4 * NX:], U[i, q0 + 4 * NX:]
    z1m, z1p, z2m, z2p = U[i - 1, q0:], U[i + 1, q0:], U[i - 2, q0:], U[i + 2, q0:]
    z3m, z3p, z4m, z4p = U[i - 3, q0:], U[i + 3, q0:], U[i - 4, q0:], U[i + 4, q0:]
    p, sr = P[i, q0:], S[i, q0:]
    dzr, zzr = DZ[zp, q0:], ZZ[zp, q0:]
    dyr, zyr, ayr, byr = DYi[yq0:], ZYi[yq0:], AY[yq0:], BY[yq0:]
    c0 = c2x[0] + c2y[0] + c2z[0]
    for k in range(n):
        q = k + R
        dxx = (c2x[1] * (m[q + 1] + m[q - 1]) + c2x[2] * (m[q + 2] + m[q - 2])
               + c2x[3] * (m[q + 3] + m[q - 3]) + c2x[4] * (m[q + 4] + m[q - 4]))
        dyy = (c2y[1] * (y1p[k] + y1m[k]) + c2y[2] * (y2p[k] + y2m[k])
               + c2y[3] * (y3p[k] + y3m[k]) + c2y[4] * (y4p[k] + y4m[k]))
        dzz = (c2z[1] * (z1p[k] + z1m[k]) + c2z[2] * (z2p[k] + z2m[k])
               + c2z[3] * (z3p[k] + z3m[k]) + c2z[4] * (z4p[k] + z4m[k]))
        lap = c0 * m[q] + dxx + dyy + dzz
        if zt:
            dpz = dzr[k]
            zz = bzi * zzr[k] + azi * (c2z[0] * m[q] + dzz + dpz)
            zzr[k] = zz
            lap += dpz + zz
        if yt:
            dpy = dyr[k]
            zy = byr[k] * zyr[k] + ayr[k] * (c2y[0] * m[q] + dyy + dpy)
            zyr[k] = zy
            lap += dpy + zy
        p[k] = two * m[q] - p[k] + sr[k] * lap


@njit(inline="always", **_OPTS)
def _dy_rows(PYi, DYi, pq0, n, NX, c1y):
    """``DYi = Dy psi_y`` on ``n`` flat cells of a compact y plane from ``pq0``."""
    pv = _shifted(PYi, pq0, NX)
    dr = DYi[pq0:]
    for k in range(n):
        dr[k] = _d1(pv, k, c1y)


@njit(inline="always", **_OPTS)
def _x_seams(U, P, S, PX, ZX, AXS, BXS, c2x, c1x, i, j0, j1, NX, xhi):
    """psi_x and zeta_x on seams ``j0 <= jj < j1`` of plane i, then
    ``P += s (Dx psi_x + zeta_x)`` there (the x CPML terms)."""
    SW = PX.shape[2]
    n = SW - 2 * R
    axr, bxr = AXS[R:], BXS[R:]
    for jj in range(j0, j1):
        base = (jj - 1) * NX + xhi            # flat index of the seam's first cell
        ur = U[i, base:]
        px = PX[i, jj]
        pxr = px[R:]
        for k in range(n):
            pxr[k] = bxr[k] * pxr[k] + axr[k] * _dx(ur, k + R, c1x)
        zxr, pr, sr = ZX[i, jj, R:], P[i, base + R:], S[i, base + R:]
        for k in range(n):
            dpx = _dx(px, k + R, c1x)
            zx = bxr[k] * zxr[k] + axr[k] * (_ddx(ur, k + R, c2x) + dpx)
            zxr[k] = zx
            pr[k] += sr[k] * (dpx + zx)


@njit(inline="always", **_OPTS)
def _psi_y(U, PYi, AY, BY, i, q0, n, NX, pq0, c1y):
    """psi_y = b psi_y + a Dy u on the flat cells ``[q0, q0 + n)`` of plane i
    (compact index ``pq0`` in ``PYi``, coefficients per cell in ``AY, BY``)."""
    ur = _shifted(U[i], q0, NX)
    pr, ar, br = PYi[pq0:], AY[pq0:], BY[pq0:]
    for k in range(n):
        pr[k] = br[k] * pr[k] + ar[k] * _d1(ur, k, c1y)


@njit(parallel=True, **_OPTS)
def _psi_z_pass(U, PZ, az, bz, c1z, zplanes, zlo, zhi, q0, n):
    """psi_z = b psi_z + a Dz u on the z layer's planes ``zplanes`` (flat
    cells ``[q0, q0 + n)``): the update reads it at neighbouring planes."""
    for t in prange(zplanes.shape[0]):
        fp = flush_denormals()
        i = zplanes[t]
        zp = i if i < zlo else i - zhi + zlo
        z1m, z1p, z2m, z2p = U[i - 1, q0:], U[i + 1, q0:], U[i - 2, q0:], U[i + 2, q0:]
        z3m, z3p, z4m, z4p = U[i - 3, q0:], U[i + 3, q0:], U[i - 4, q0:], U[i + 4, q0:]
        pr = PZ[zp, q0:]
        a, bb = az[i], bz[i]
        for k in range(n):
            pr[k] = bb * pr[k] + a * (c1z[1] * (z1p[k] - z1m[k]) + c1z[2] * (z2p[k] - z2m[k])
                                      + c1z[3] * (z3p[k] - z3m[k]) + c1z[4] * (z4p[k] - z4m[k]))
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def _dz_pass(PZ, DZ, c1z, zbands, zlo, zhi, q0, n):
    """``DZ = Dz psi_z`` on the planes ``zbands`` that take z terms (after
    :func:`_psi_z_pass`: it reads psi_z at neighbouring planes)."""
    for t in prange(zbands.shape[0]):
        fp = flush_denormals()
        i = zbands[t]
        zp = i if i < zlo else i - zhi + zlo
        p1m, p1p, p2m, p2p = PZ[zp - 1, q0:], PZ[zp + 1, q0:], PZ[zp - 2, q0:], PZ[zp + 2, q0:]
        p3m, p3p, p4m, p4p = PZ[zp - 3, q0:], PZ[zp + 3, q0:], PZ[zp - 4, q0:], PZ[zp + 4, q0:]
        dr = DZ[zp, q0:]
        for k in range(n):
            dr[k] = (c1z[1] * (p1p[k] - p1m[k]) + c1z[2] * (p2p[k] - p2m[k])
                     + c1z[3] * (p3p[k] - p3m[k]) + c1z[4] * (p4p[k] - p4m[k]))
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def forward_step(u, um, op, aux):
    """One step in place: ``um`` (u^{n-1}) is overwritten with u^{n+1} from
    ``u`` (u^n); ``aux`` = :func:`cpml_fields`. The halo of ``s`` is zero
    (:func:`pack`), so the update leaves the halo cells a flat range covers
    at zero."""
    s, c2x, c2y, c2z, c1x, c1y, c1z, ax, bx, ay, by, az, bz, b, fs, AY, BY, AXS, BXS, zplanes, zbands = op
    psx, psy, psz, zex, zey, zez, dy, dz = aux
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    zc0, zc1, yc0, yc1 = b[6], b[7], b[8], b[9]
    zlo, zhi, ylo, yhi, xhi, xw = b[12], b[13], b[14], b[15], b[17], b[18]
    yl0, yl1 = b[19], b[20]          # y layer rows: [ys, yl0) and [yl1, ye)
    NZ, NY, NX = u.shape
    if fs:
        mirror_surface(u, fz)
    U, P, S = u.reshape((NZ, NY * NX)), um.reshape((NZ, NY * NX)), s.reshape((NZ, NY * NX))
    PZ, ZZ, DZ = psz.reshape((psz.shape[0], NY * NX)), zez.reshape((zez.shape[0], NY * NX)), dz.reshape((dz.shape[0], NY * NX))
    PY, ZY, DY = psy.reshape((NZ, psy.shape[1] * NX)), zey.reshape((NZ, zey.shape[1] * NX)), dy.reshape((NZ, dy.shape[1] * NX))
    q0, nfl = ys * NX + xs, (ye - ys - 1) * NX + (xe - xs)
    if zplanes.shape[0]:
        _psi_z_pass(U, PZ, az, bz, c1z, zplanes, zlo, zhi, q0, nfl)
    if zbands.shape[0]:
        _dz_pass(PZ, DZ, c1z, zbands, zlo, zhi, q0, nfl)
    ydel = (yhi - ylo) * NX                    # compact y index = flat index - ydel in the upper block
    for i in prange(fz, ze):
        fp = flush_denormals()
        zt = i < zc0 or i >= zc1
        zp = (i if i < zlo else i - zhi + zlo) if zt else R
        azi, bzi = az[i], bz[i]
        PYi, ZYi, DYi = PY[i], ZY[i], DY[i]
        # psi_y on the y layer's rows, then its derivative on the y bands
        for (r0, r1, d) in ((ys, yl0, 0), (yl1, ye, ydel)):
            if r1 > r0:
                _psi_y(U, PYi, AY, BY, i, r0 * NX + xs, (r1 - r0 - 1) * NX + (xe - xs), NX, r0 * NX + xs - d, c1y)
        for (r0, r1, d) in ((ys, yc0, 0), (yc1, ye, ydel)):
            if r1 > r0:
                _dy_rows(PYi, DYi, r0 * NX + xs - d, (r1 - r0 - 1) * NX + (xe - xs), NX, c1y)
        # the update on the y bands and between them
        for (r0, r1, yt, d) in ((ys, yc0, True, 0), (yc0, yc1, False, 0), (yc1, ye, True, ydel)):
            if r1 > r0:
                a0, nn = r0 * NX + xs, (r1 - r0 - 1) * NX + (xe - xs)
                yq = a0 - d if yt else 0
                if zt and yt:
                    _update_range(U, P, S, i, a0, nn, NX, c2x, c2y, c2z, True, DZ, ZZ, zp, azi, bzi,
                                  True, DYi, ZYi, AY, BY, yq)
                elif zt:
                    _update_range(U, P, S, i, a0, nn, NX, c2x, c2y, c2z, True, DZ, ZZ, zp, azi, bzi,
                                  False, DYi, ZYi, AY, BY, yq)
                elif yt:
                    _update_range(U, P, S, i, a0, nn, NX, c2x, c2y, c2z, False, DZ, ZZ, zp, azi, bzi,
                                  True, DYi, ZYi, AY, BY, yq)
                else:
                    _update_range(U, P, S, i, a0, nn, NX, c2x, c2y, c2z, False, DZ, ZZ, zp, azi, bzi,
                                  False, DYi, ZYi, AY, BY, yq)
        if xw:
            _x_seams(U, P, S, psx, zex, AXS, BXS, c2x, c1x, i, ys, ye + 1, NX, xhi)
        restore_fp(fp)


# ---------------------------------------------------------------- adjoint step
# The transposed step on flat planes, as the forward: the CPML memory of the
# adjoint (Z, P per axis) in the same compact layout, the spatial term Q of
# a plane built in a per-thread scratch (its flat range, one row of margin
# each side for the seams), then W and the image updated from it.


@njit(parallel=True, **_OPTS)
def _adj_z_pass(W, ZZ, PZ, az, bz, c1z, zplanes, zlo, zhi, q0, n, which):
    """On the z layer's planes: ``Z_z = b Z_z + a W`` (``which`` 0), or
    ``P_z = b P_z - a Dz (W + Z_z)`` (1, after 0: it reads Z_z at neighbouring planes)."""
    for t in prange(zplanes.shape[0]):
        fp = flush_denormals()
        i = zplanes[t]
        zp = i if i < zlo else i - zhi + zlo
        a, bb = az[i], bz[i]
        if which == 0:
            zr, wr = ZZ[zp, q0:], W[i, q0:]
            for k in range(n):
                zr[k] = bb * zr[k] + a * wr[k]
        else:
            w1m, w1p, w2m, w2p = W[i - 1, q0:], W[i + 1, q0:], W[i - 2, q0:], W[i + 2, q0:]
            w3m, w3p, w4m, w4p = W[i - 3, q0:], W[i + 3, q0:], W[i - 4, q0:], W[i + 4, q0:]
            z1m, z1p, z2m, z2p = ZZ[zp - 1, q0:], ZZ[zp + 1, q0:], ZZ[zp - 2, q0:], ZZ[zp + 2, q0:]
            z3m, z3p, z4m, z4p = ZZ[zp - 3, q0:], ZZ[zp + 3, q0:], ZZ[zp - 4, q0:], ZZ[zp + 4, q0:]
            pr = PZ[zp, q0:]
            for k in range(n):
                dw = (c1z[1] * (w1p[k] - w1m[k]) + c1z[2] * (w2p[k] - w2m[k])
                      + c1z[3] * (w3p[k] - w3m[k]) + c1z[4] * (w4p[k] - w4m[k]))
                dz = (c1z[1] * (z1p[k] - z1m[k]) + c1z[2] * (z2p[k] - z2m[k])
                      + c1z[3] * (z3p[k] - z3m[k]) + c1z[4] * (z4p[k] - z4m[k]))
                pr[k] = bb * pr[k] - a * (dw + dz)
        restore_fp(fp)


@njit(inline="always", **_OPTS)
def _adj_y_layer(W, ZYi, PYi, AY, BY, i, q0, n, NX, pq0, c1y, which):
    """On flat cells of the y layer's rows of plane i: ``Z_y = b Z_y + a W``
    (``which`` 0) or ``P_y = b P_y - a Dy (W + Z_y)`` (1, after 0 on all the
    layer's rows)."""
    ar, br = AY[pq0:], BY[pq0:]
    if which == 0:
        zr, wr = ZYi[pq0:], W[i, q0:]
        for k in range(n):
            zr[k] = br[k] * zr[k] + ar[k] * wr[k]
    else:
        wv = _shifted(W[i], q0, NX)
        zv = _shifted(ZYi, pq0, NX)
        pr = PYi[pq0:]
        for k in range(n):
            pr[k] = br[k] * pr[k] - ar[k] * (_d1(wv, k, c1y) + _d1(zv, k, c1y))


@njit(inline="always", **_OPTS)
def _q_range(W, Tv, i, q0, n, NX, c2x, c2y, c2z, zt, ZZ, PZ, zp, c1z, yt, ZYi, PYi, yq0, c1y):
    """``Tv[k] = Q`` at flat cell q0 + k of plane i: ``(Dxx + Dyy + Dzz) W``
    plus ``Dzz Z_z - Dz P_z`` if ``zt`` and ``Dyy Z_y - Dy P_y`` if ``yt``."""
    m = W[i, q0 - R:]
    y1m, y1p, y2m, y2p = W[i, q0 - NX:], W[i, q0 + NX:], W[i, q0 - 2 * NX:], W[i, q0 + 2 * NX:]
    y3m, y3p, y4m, y4p = W[i, q0 - 3 * NX:], W[i, q0 + 3 * NX:], W[i, q0 - 4 * NX:], W[i, q0 + 4 * NX:]
    z1m, z1p, z2m, z2p = W[i - 1, q0:], W[i + 1, q0:], W[i - 2, q0:], W[i + 2, q0:]
    z3m, z3p, z4m, z4p = W[i - 3, q0:], W[i + 3, q0:], W[i - 4, q0:], W[i + 4, q0:]
    zc = ZZ[zp, q0:]
    zz1m, zz1p, zz2m, zz2p = ZZ[zp - 1, q0:], ZZ[zp + 1, q0:], ZZ[zp - 2, q0:], ZZ[zp + 2, q0:]
    zz3m, zz3p, zz4m, zz4p = ZZ[zp - 3, q0:], ZZ[zp + 3, q0:], ZZ[zp - 4, q0:], ZZ[zp + 4, q0:]
    pz1m, pz1p, pz2m, pz2p = PZ[zp - 1, q0:], PZ[zp + 1, q0:], PZ[zp - 2, q0:], PZ[zp + 2, q0:]
    pz3m, pz3p, pz4m, pz4p = PZ[zp - 3, q0:], PZ[zp + 3, q0:], PZ[zp - 4, q0:], PZ[zp + 4, q0:]
    yc = ZYi[yq0:]
    zyv = _shifted(ZYi, yq0, NX)
    pyv = _shifted(PYi, yq0, NX)
    c0 = c2x[0] + c2y[0] + c2z[0]
    for k in range(n):
        q = k + R
        lap = (c0 * m[q] + c2x[1] * (m[q + 1] + m[q - 1]) + c2x[2] * (m[q + 2] + m[q - 2])
               + c2x[3] * (m[q + 3] + m[q - 3]) + c2x[4] * (m[q + 4] + m[q - 4])
               + c2y[1] * (y1p[k] + y1m[k]) + c2y[2] * (y2p[k] + y2m[k])
               + c2y[3] * (y3p[k] + y3m[k]) + c2y[4] * (y4p[k] + y4m[k])
               + c2z[1] * (z1p[k] + z1m[k]) + c2z[2] * (z2p[k] + z2m[k])
               + c2z[3] * (z3p[k] + z3m[k]) + c2z[4] * (z4p[k] + z4m[k]))
        if zt:
            lap += (c2z[0] * zc[k] + c2z[1] * (zz1p[k] + zz1m[k]) + c2z[2] * (zz2p[k] + zz2m[k])
                    + c2z[3] * (zz3p[k] + zz3m[k]) + c2z[4] * (zz4p[k] + zz4m[k])
                    - (c1z[1] * (pz1p[k] - pz1m[k]) + c1z[2] * (pz2p[k] - pz2m[k])
                       + c1z[3] * (pz3p[k] - pz3m[k]) + c1z[4] * (pz4p[k] - pz4m[k])))
        if yt:
            lap += (c2y[0] * yc[k] + c2y[1] * (zyv[1][k] + zyv[0][k]) + c2y[2] * (zyv[3][k] + zyv[2][k])
                    + c2y[3] * (zyv[5][k] + zyv[4][k]) + c2y[4] * (zyv[7][k] + zyv[6][k]) - _d1(pyv, k, c1y))
        Tv[k] = lap


@njit(inline="always", **_OPTS)
def _q_y_add(Tv, ZYi, PYi, yq0, n, NX, c2y, c1y):
    """``Tv += Dyy Z_y - Dy P_y`` (the y terms of the cells that also take z
    terms: in one loop with those, too many arrays for LLVM's alias checks)."""
    yc = ZYi[yq0:]
    zyv = _shifted(ZYi, yq0, NX)
    pyv = _shifted(PYi, yq0, NX)
    for k in range(n):
        Tv[k] += (c2y[0] * yc[k] + c2y[1] * (zyv[1][k] + zyv[0][k]) + c2y[2] * (zyv[3][k] + zyv[2][k])
                  + c2y[3] * (zyv[5][k] + zyv[4][k]) + c2y[4] * (zyv[7][k] + zyv[6][k]) - _d1(pyv, k, c1y))


@njit(inline="always", **_OPTS)
def _x_seams_adjoint(W, T, ZX, PX, AXS, BXS, c2x, c1x, i, j0, j1, NX, xhi, tbase):
    """Z_x, P_x on seams ``j0 <= jj < j1`` of plane i, then ``T += Dxx Z_x -
    Dx P_x`` there (``T[f - tbase]`` holds flat cell f)."""
    SW = PX.shape[2]
    n = SW - 2 * R
    axr, bxr = AXS[R:], BXS[R:]
    for jj in range(j0, j1):
        base = (jj - 1) * NX + xhi
        wr = W[i, base:]
        zx, px = ZX[i, jj], PX[i, jj]
        zxr, pxr = zx[R:], px[R:]
        for k in range(n):
            zxr[k] = bxr[k] * zxr[k] + axr[k] * wr[k + R]
        for k in range(n):
            pxr[k] = bxr[k] * pxr[k] - axr[k] * (_dx(wr, k + R, c1x) + _dx(zx, k + R, c1x))
        tr = T[base + R - tbase:]
        for k in range(n):
            tr[k] += _ddx(zx, k + R, c2x) - _dx(px, k + R, c1x)


@njit(parallel=True, **_OPTS)
def adjoint_step(w, wp, t, u, g, image, op, adj_aux):
    """One transposed step: ``wp`` (W^{n+2}) is overwritten with W^n from ``w``
    (W^{n+1}): ``W^n = 2 W^{n+1} - W^{n+2} + s Q`` with ``Q`` the transposed
    spatial operator (CPML terms included; the receiver term is the
    caller's), built plane by plane in the thread's row of the scratch ``t``
    (:func:`adjoint_fields`). With ``image``, ``g += u Q`` (``u`` = u^n): the
    whole imaging condition, as in cpu2d.adjoint_step."""
    s, c2x, c2y, c2z, c1x, c1y, c1z, ax, bx, ay, by, az, bz, b, fs, AY, BY, AXS, BXS, zplanes, zbands = op
    zx, zy, zz, px, py, pz = adj_aux
    fz, ze, ys, ye, xs, xe = b[0], b[1], b[2], b[3], b[4], b[5]
    zc0, zc1, yc0, yc1 = b[6], b[7], b[8], b[9]
    zlo, zhi, ylo, yhi, xhi, xw = b[12], b[13], b[14], b[15], b[17], b[18]
    yl0, yl1 = b[19], b[20]
    NZ, NY, NX = w.shape
    if fs:
        mirror_surface(w, fz)
    W, WP, S = w.reshape((NZ, NY * NX)), wp.reshape((NZ, NY * NX)), s.reshape((NZ, NY * NX))
    U, G = u.reshape((NZ, NY * NX)), g.reshape((NZ, NY * NX))
    ZZ, PZ = zz.reshape((zz.shape[0], NY * NX)), pz.reshape((pz.shape[0], NY * NX))
    ZY, PY = zy.reshape((NZ, zy.shape[1] * NX)), py.reshape((NZ, py.shape[1] * NX))
    q0, nfl = ys * NX + xs, (ye - ys - 1) * NX + (xe - xs)
    if zplanes.shape[0]:
        _adj_z_pass(W, ZZ, PZ, az, bz, c1z, zplanes, zlo, zhi, q0, nfl, 0)
        _adj_z_pass(W, ZZ, PZ, az, bz, c1z, zplanes, zlo, zhi, q0, nfl, 1)
    ydel = (yhi - ylo) * NX
    two = w.dtype.type(2)
    for i in prange(fz, ze):
        fp = flush_denormals()
        T = t[numba.get_thread_id()]          # T[f - (q0 - NX)] holds flat cell f of plane i
        zt = i < zc0 or i >= zc1
        zp = (i if i < zlo else i - zhi + zlo) if zt else R
        ZYi, PYi = ZY[i], PY[i]
        for which in range(2):
            for (r0, r1, d) in ((ys, yl0, 0), (yl1, ye, ydel)):
                if r1 > r0:
                    _adj_y_layer(W, ZYi, PYi, AY, BY, i, r0 * NX + xs, (r1 - r0 - 1) * NX + (xe - xs), NX,
                                 r0 * NX + xs - d, c1y, which)
        for (r0, r1, yt, d) in ((ys, yc0, True, 0), (yc0, yc1, False, 0), (yc1, ye, True, ydel)):
            if r1 > r0:
                a0, nn = r0 * NX + xs, (r1 - r0 - 1) * NX + (xe - xs)
                yq = a0 - d if yt else 4 * NX
                Tv = T[a0 - q0 + NX:]
                if zt and yt:
                    _q_range(W, Tv, i, a0, nn, NX, c2x, c2y, c2z, True, ZZ, PZ, zp, c1z, False, ZYi, PYi, yq, c1y)
                    _q_y_add(Tv, ZYi, PYi, yq, nn, NX, c2y, c1y)
                elif zt:
                    _q_range(W, Tv, i, a0, nn, NX, c2x, c2y, c2z, True, ZZ, PZ, zp, c1z, False, ZYi, PYi, yq, c1y)
                elif yt:
                    _q_range(W, Tv, i, a0, nn, NX, c2x, c2y, c2z, False, ZZ, PZ, zp, c1z, True, ZYi, PYi, yq, c1y)
                else:
                    _q_range(W, Tv, i, a0, nn, NX, c2x, c2y, c2z, False, ZZ, PZ, zp, c1z, False, ZYi, PYi, yq, c1y)
        if xw:
            _x_seams_adjoint(W, T, zx, px, AXS, BXS, c2x, c1x, i, ys, ye + 1, NX, xhi, q0 - NX)
        Tq = T[NX:]
        wr, o, sr = W[i, q0:], WP[i, q0:], S[i, q0:]
        for k in range(nfl):
            o[k] = two * wr[k] - o[k] + sr[k] * Tq[k]
        if image:
            ur, gr = U[i, q0:], G[i, q0:]
            for k in range(nfl):
                gr[k] += ur[k] * Tq[k]
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
    fz, ze, ys, ye, xs, xe, zc0, zc1, yc0, yc1, xc0, xc1 = (int(x) for x in b[:12])
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
def _rebuild(u, up, op, rec):
    """u^{n-1} over ``up`` (u^{n+1}, in place): the core by the plain update
    read backwards (``2u^n - u^{n+1} + s L u^n``; the source term is the
    caller's, :func:`inject_core`), on the flat range of each core plane's
    core rows, then every computed cell outside the core from the record
    ``rec`` (which also overwrites what the flat range computed in the x strips)."""
    s, c2x, c2y, c2z, b, AY, BY = op[0], op[1], op[2], op[3], op[13], op[15], op[16]
    NZ, NY, NX = u.shape
    U, P, S = u.reshape((NZ, NY * NX)), up.reshape((NZ, NY * NX)), s.reshape((NZ, NY * NX))
    xs, xe, yc0, yc1 = b[4], b[5], b[8], b[9]
    for i in prange(b[0], b[1]):
        fp = flush_denormals()
        if b[6] <= i < b[7] and yc1 > yc0:
            _update_range(U, P, S, i, yc0 * NX + xs, (yc1 - yc0 - 1) * NX + (xe - xs), NX, c2x, c2y, c2z,
                          False, P, P, R, c2x[0], c2x[0], False, P[i], P[i], AY, BY, 0)
        for j in range(b[2], b[3]):
            _row_copy(up, rec, i, j, b, False)
        restore_fp(fp)


# ---------------------------------------------------------------- layout (plain Python)
#: Width multiple (cells) of the x absorbing strips: one AVX-512 float32 vector.
STRIP_ALIGN = 16
HALO = R
#: Names of the forward CPML fields, in the order of :func:`cpml_fields`.
AUX = ("psi_x", "psi_y", "psi_z", "zeta_x", "zeta_y", "zeta_z")


def regions(layout) -> np.ndarray:
    """Region bounds of a padded 3-D layout (int64 array):

    - 0-5 ``fz, ze, ys, ye, xs, xe``: the computed cells;
    - 6-11 ``zc0, zc1, yc0, yc1, xc0, xc1``: the interior core, further than
      the stencil radius from the absorbing layer (no CPML term; x bounds in
      whole vectors, for the boundary rebuild);
    - 12-17 ``zlo, zhi, ylo, yhi, xlo, xhi``: the compact CPML blocks (see
      the forward step; ``lo = hi = N`` when a block spans the axis);
    - 18 ``xw``: width of the x CPML terms from each x edge (layer plus radius);
    - 19-20 ``yl0, yl1``: the y layer's rows are ``[ys, yl0)`` and ``[yl1, ye)``."""
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
    xw = pml + reach if pml else 0

    def block(lo, hi, n):
        return (lo, hi) if lo < hi else (n, n)

    zlo, zhi = block(zc0 + reach, zc1 - reach, NZ)
    ylo, yhi = block(yc0 + reach, yc1 - reach, NY)
    xlo, xhi = block(xs + xw + reach, xe - xw - reach, NX)
    yl0 = min(ys + pml, ye)
    yl1 = max(ye - pml, yl0)
    return np.array((fz, ze, ys, ye, xs, xe, zc0, zc1, yc0, yc1, xc0, xc1,
                     zlo, zhi, ylo, yhi, xlo, xhi, xw, yl0, yl1), dtype=np.int64)


def core_points(bounds) -> int:
    """Cells of the interior core."""
    b = [int(x) for x in bounds]
    return (b[7] - b[6]) * (b[9] - b[8]) * (b[11] - b[10])


def _compact_shapes(layout) -> tuple:
    """Shapes of the compact CPML arrays of x (seams), y and z."""
    NZ, NY, NX = layout.shape
    zlo, zhi, ylo, yhi, xlo, xhi = (int(v) for v in regions(layout)[12:18])
    return (NZ, NY + 1, NX - xhi + xlo), (NZ, ylo + NY - yhi, NX), (zlo + NZ - zhi, NY, NX)


def _record_boxes(layout) -> np.ndarray:
    """Boxes ``(field, lo0, hi0, lo1, hi1, lo2, hi2)`` of the compact CPML
    arrays (in :data:`AUX` order) that cover the layer, where psi and zeta
    can be nonzero: what a snapshot keeps of them (int64 array)."""
    b = [int(v) for v in regions(layout)]
    fz, ze, ys, ye, xs, xe = b[:6]
    zlo, zhi, ylo, yhi, xlo, xhi = b[12:18]
    yl0, yl1 = b[19], b[20]
    NZ, NY, NX = layout.shape
    pml, top = layout.pml, layout.top
    (_, _, SW), (_, nyc, _), (nzc, _, _) = _compact_shapes(layout)
    cz = lambda p: p if p < zlo else p - zhi + zlo     # noqa: E731
    cy = lambda r: r if r < ylo else r - yhi + ylo     # noqa: E731
    zr = [(cz(HALO), cz(HALO) + top), (cz(ze - pml), cz(ze - pml) + pml)] if pml else []
    yr = [(cy(ys), cy(ys) + yl0 - ys), (cy(yl1), cy(yl1) + ye - yl1)] if pml else []
    c0, c1 = (xe - pml - xhi, xs + pml + NX - xhi) if xlo < xhi else (xs, xe)
    boxes = []
    for f in (0, 3):
        if pml:
            boxes.append((f, fz, ze, ys, ye + 1, c0, c1))
    for f in (1, 4):
        boxes += [(f, fz, ze, r0, r1, 0, NX) for r0, r1 in yr if r1 > r0]
    for f in (2, 5):
        boxes += [(f, z0, z1, 0, NY, 0, NX) for z0, z1 in zr if z1 > z0]
    return np.array(boxes, dtype=np.int64).reshape(-1, 7)


def _record_cells(layout) -> int:
    bx = _record_boxes(layout)
    return int(np.sum((bx[:, 2] - bx[:, 1]) * (bx[:, 4] - bx[:, 3]) * (bx[:, 6] - bx[:, 5])))


def snapshot_cells(layout) -> int:
    """Cells of one snapshot at most: two time levels and the CPML fields in
    the layer (consecutive snapshots share a time level, :func:`execute`)."""
    return 2 * int(np.prod(layout.shape)) + _record_cells(layout)


def pack(s, coefs, cpml, bounds, free_surface: bool) -> tuple:
    """The operator tuple the loops take: ``s`` = dt^2 vp^2 (padded), per axis
    (z, y, x) the stencil coefficients ``(c2, c1)`` (5-tuples scaled by the
    spacing) and the CPML ``(a, b)``, the region bounds, the free-surface
    flag, and the CPML coefficients laid out as the compact arrays: per cell
    of a compact y plane (``AY, BY``), per cell of a seam (``AXS, BXS``), and
    the planes of the z layer."""
    (c2z, c1z), (c2y, c1y), (c2x, c1x) = coefs
    (az, bz), (ay, by), (ax, bx) = cpml
    NY, NX = len(ay), len(ax)
    ylo, yhi, xlo, xhi = (int(v) for v in bounds[14:18])
    rows = np.r_[0:ylo, yhi:NY]
    AY, BY = (np.ascontiguousarray(np.repeat(c[rows], NX)) for c in (ay, by))
    cols = np.r_[xhi:NX, 0:xlo]
    AXS, BXS = (np.ascontiguousarray(c[cols]) for c in (ax, bx))
    zplanes = np.flatnonzero(az != 0).astype(np.int64)
    fz, ze, zc0, zc1 = (int(bounds[k]) for k in (0, 1, 6, 7))
    zbands = np.r_[fz:zc0, zc1:ze].astype(np.int64)
    NZ = len(az)
    s3 = s.reshape(NZ, NY, NX)
    s3[:HALO] = s3[NZ - HALO:] = 0          # a zero halo keeps the halo cells the updates cover at zero
    s3[:, :HALO] = s3[:, NY - HALO:] = 0
    s3[:, :, :HALO] = s3[:, :, NX - HALO:] = 0
    return (s, c2x, c2y, c2z, c1x, c1y, c1z, ax, bx, ay, by, az, bz, bounds, bool(free_surface),
            AY, BY, AXS, BXS, zplanes, zbands)


def fields(layout, dtype, n: int) -> tuple:
    """``n`` zero fields of the padded shape."""
    return tuple(np.zeros(layout.shape, dtype=dtype) for _ in range(n))


def cpml_fields(layout, dtype) -> tuple:
    """Forward CPML memory ``(psi_x, psi_y, psi_z, zeta_x, zeta_y, zeta_z)``,
    zero, in the compact layout of the forward step, and the scratch of
    the derivatives of psi_y and psi_z (same layouts as psi)."""
    shx, shy, shz = _compact_shapes(layout)
    return tuple(np.zeros(sh, dtype=dtype) for sh in (shx, shy, shz, shx, shy, shz, shy, shz))


def adjoint_fields(layout, dtype, threads: int) -> tuple:
    """Adjoint CPML memory ``(Z_x, Z_y, Z_z, P_x, P_y, P_z)`` in the compact
    layout of the forward, and the scratch of :func:`adjoint_step` (one
    plane's flat range plus a row each side, per thread), zero."""
    shx, shy, shz = _compact_shapes(layout)
    NZ, NY, NX = layout.shape
    scratch = np.zeros((max(threads, numba.config.NUMBA_NUM_THREADS), (NY - 2 * HALO + 2) * NX), dtype=dtype)
    return tuple(np.zeros(sh, dtype=dtype) for sh in (shx, shy, shz, shx, shy, shz)) + (scratch,)


def snapshot_store(layout, dtype, n_snap: int) -> tuple:
    """Checkpoint storage for :func:`execute` with ``n_snap`` snapshots:
    ``(levels, refs, slot_levels, slot_step, aux_records, boxes)``; a
    snapshot keeps the CPML fields in the layer (:func:`_record_boxes`)."""
    levels = np.zeros((2 * n_snap + 3, *layout.shape), dtype=dtype)
    return (levels, np.zeros(levels.shape[0], dtype=np.int64), np.full((n_snap, 2), -1, dtype=np.int64),
            np.zeros(n_snap, dtype=np.int64), np.empty((n_snap, _record_cells(layout)), dtype=dtype),
            _record_boxes(layout))


# ---------------------------------------------------------------- time loops
# As in cpu2d: ``op`` (:func:`pack`), ``aux`` (:func:`cpml_fields`),
# ``src``/``rec`` = (flat indices, weights) of one shot's points,
# ``adj_aux`` (:func:`adjoint_fields` without the scratch rows).

_LOOP_OPTS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit(**_LOOP_OPTS)
def _step(n, u, um, out, aux, op, src, wav, rec, syn, record, amp, h, illum, inplace):
    """Forward step n: records u^n into ``syn[n]`` if ``record``, then u^{n+1}
    into ``out`` (``um`` itself with ``inplace``); with ``illum`` (not in
    place), ``h += (s L u^n)^2`` (before the source)."""
    s, b = op[0], op[13]
    if record:
        gather(u, rec[0], rec[1], syn[n])
    if not inplace:
        _copy_flat(out, um.reshape(um.size), False)
    forward_step(u, out, op, aux)
    if illum:
        d2_squared(out, u, um, h, b)
    amp[0] = wav[n]
    inject(out, s, src[0], src[1], amp)


@njit(**_LOOP_OPTS)
def advance(k, n0, u, um, spare, aux, op, src, wav, rec, syn, record):
    """k forward steps from state n0 (``u`` = u^n0, ``um`` = u^{n0-1}), each
    in place over u^{n-1}; records u^n into ``syn[n]`` (``(nt, n_rec)``) if
    ``record``. Returns the new ``(u, um, spare)`` (``spare`` untouched)."""
    fp = flush_denormals()
    amp = np.empty(1, dtype=u.dtype)
    for n in range(n0, n0 + k):
        _step(n, u, um, um, aux, op, src, wav, rec, syn, record, amp, u, False, True)
        u, um = um, u
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


@njit(parallel=True, **_OPTS)
def _copy_flat(a, rec, to_rec):
    """``rec[:] = a.ravel()`` (``to_rec``) or back, in parallel chunks."""
    af = a.reshape(a.size)
    n = af.shape[0]
    nc = (n + 65535) // 65536
    for c in prange(nc):
        lo, hi = c * 65536, min((c + 1) * 65536, n)
        if to_rec:
            rec[lo:hi] = af[lo:hi]
        else:
            af[lo:hi] = rec[lo:hi]


@njit(parallel=True, **_OPTS)
def _copy_box(a, rec, bx, to_rec):
    """``a[lo0:hi0, lo1:hi1, lo2:hi2]`` into the 1-D ``rec`` in C order (``to_rec``) or back."""
    n1, n2 = bx[4] - bx[3], bx[6] - bx[5]
    for i in prange(bx[2] - bx[1]):
        for j in range(n1):
            o = (i * n1 + j) * n2
            if to_rec:
                rec[o:o + n2] = a[bx[1] + i, bx[3] + j, bx[5]:bx[6]]
            else:
                a[bx[1] + i, bx[3] + j, bx[5]:bx[6]] = rec[o:o + n2]


@njit(**_LOOP_OPTS)
def _aux_records(slot, aux, records, boxes, to_slot):
    """Copy the CPML fields in the layer into (``to_slot``) or out of a snapshot slot."""
    off = 0
    for q in range(boxes.shape[0]):
        bx = boxes[q]
        n = (bx[2] - bx[1]) * (bx[4] - bx[3]) * (bx[6] - bx[5])
        _copy_box(aux[bx[0]], records[slot, off:off + n], bx, to_slot)
        off += n


@njit(**_LOOP_OPTS)
def execute(actions, cur, cu, cm, store, aux, op, src, wav, rec, syn, record,
            w, wp, t, adj_aux, g, h, illum, adj):
    """Run checkpoint-schedule actions (codes: 0 advance, 1 save, 2 restore,
    3 reverse), exactly as cpu2d.execute (time levels shared between
    snapshots, a restore's CPML copy deferred to the next advance or save).
    Returns (cur, cu, cm, w, wp)."""
    levels, refs, slot_levels, slot_step, records, boxes = store
    s, b = op[0], op[13]
    fp = flush_denormals()
    amp = np.empty(1, dtype=levels.dtype)
    pending = -1
    for a in range(actions.shape[0]):
        code, arg = actions[a, 0], actions[a, 1]
        if code <= 1 and pending >= 0:
            _aux_records(pending, aux[:6], records, boxes, False)
            pending = -1
        if code == 0:
            for n in range(cur, cur + arg):
                if refs[cm] == 0 and not illum:     # u^{n-1} is no snapshot's: overwrite it
                    _step(n, levels[cu], levels[cm], levels[cm], aux, op, src, wav, rec, syn, record, amp,
                          h, illum, True)
                    cu, cm = cm, cu
                else:
                    f = _free_level(refs, cu, cm)
                    _step(n, levels[cu], levels[cm], levels[f], aux, op, src, wav, rec, syn, record, amp,
                          h, illum, False)
                    cu, cm = f, cu
            cur += arg
        elif code == 1:
            for q in range(2):
                if slot_levels[arg, q] >= 0:
                    refs[slot_levels[arg, q]] -= 1
            slot_levels[arg, 0], slot_levels[arg, 1] = cu, cm
            refs[cu] += 1
            refs[cm] += 1
            _aux_records(arg, aux[:6], records, boxes, True)
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
        if illum:
            _step(n, u, um, spare, aux, op, src, wav, rec, syn, True, amp, h, illum, False)
            u, um, spare = spare, u, um
        else:
            _step(n, u, um, um, aux, op, src, wav, rec, syn, True, amp, h, illum, True)
            u, um = um, u
        if n + 1 < store.shape[0]:
            boundary_copy(u, store[n + 1], b, True)
    restore_fp(fp)
    return u, um, spare


@njit(**_LOOP_OPTS)
def reverse_saved(nt, u_next, u, spare, store, op, src, wav, rec, w, wp, t, adj_aux, g, adj):
    """Reverse sweep with the forward field rebuilt from ``store`` (see
    :func:`sweep_saving`), as cpu2d.reverse_saved (``spare`` unused: the
    rebuild is in place). Returns the final adjoint field buffer."""
    s, b, fs = op[0], op[13], op[14]
    fp = flush_denormals()
    for n in range(nt - 2, -1, -1):
        rebuild = n >= 1
        if rebuild and fs:
            mirror_surface(u, b[0])
        adjoint_step(w, wp, t, u, g, True, op, adj_aux)
        inject(wp, s, rec[0], rec[1], adj[n])
        inject(g, u, rec[0], rec[1], adj[n])
        w, wp = wp, w
        if rebuild:                  # u^{n-1} over u^{n+1}: two time levels suffice
            _rebuild(u, u_next, op, store[max(n - 1, 0)])
            inject_core(u_next, s, src[0], src[1], wav[n], b)
            u_next, u = u, u_next
    restore_fp(fp)
    return w
