"""The CPU backend in 2-D: numba kernels of the acoustic time step, its exact
transpose, and the time loops over them (registry entry ``(2, "cpu")``,
:mod:`fwi_core.engine.backends`).

This file is self-contained on purpose: numba's on-disk cache is invalidated
per source file and does not track jitted functions imported from other
files, so every jitted function a loop calls lives here. The drivers
(:mod:`fwi_core.engine.propagation`, :mod:`fwi_core.engine.gradient`) see
only the interface at the end of the file, with the operator's arrays packed
in a few tuples (:func:`pack`).

Discrete forward operator (one step n, padded arrays, ``s = dt^2 vp^2``):

    psi_x  = bx psi_x  + ax Dx u                      (and z alike)
    zeta_x = bx zeta_x + ax (Dxx u + Dx psi_x)
    u+     = 2 u - u- + s (Dxx u + Dzz u + Dx psi_x + Dz psi_z + zeta_x + zeta_z + S f)

``Dx``/``Dxx`` are central stencils of radius 4 (lower orders carry zero outer
coefficients) on zero-extended arrays, so ``Dx^T = -Dx`` and ``Dxx^T = Dxx``.
With a free surface the halo above row ``fz - 1`` holds the odd mirror image
of the field, which keeps ``Dzz`` symmetric on the unknowns. Transposing the
step line by line (see docs/engine.md) gives, for ``W = s * adjoint field``:

    Z_x  = bx Z_x + ax W
    P_x  = bx P_x - ax Dx (W + Z_x)
    W-   = 2 W - W+ + s (Dxx (W + Z_x) + Dzz (W + Z_z) - Dx P_x - Dz P_z + R^T r)

Interior points, further than the stencil radius from the absorbing layer,
see none of the auxiliary terms: there both steps are the same branch-free
update. All kernels take the region bounds ``(fz, ze, xs, xe)`` of computed
points and ``(zc0, zc1, xc0, xc1)`` of that interior core.

Speed note: numba wraps negative indices (``a[j - 1]`` costs a select unless
LLVM can prove ``j >= 1``), which stops vectorisation. Every inner loop here
therefore runs ``k`` from 0 over row views that start 4 columns before the
range (:func:`_rows`), so all indices are ``k + const >= 0``.
"""
from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# fastmath without `reassoc`: with reassociation and `nsz` together, the code
# LLVM gives a kernel in the process that compiles it differs from the code
# the same process writes to numba's cache, so a run's bits depended on
# whether its kernels were just compiled or loaded (2.5e-7 relative in a
# forward; issue 14). Without `reassoc` both are the same code, and the
# stencils lose nothing (they vectorise over independent cells, no
# reductions): docs/engine.md, tests/test_reproducibility.py.
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


@njit(inline="always", **_OPTS)
def _rows(a, i, j0):
    """Views of rows i-4..i+4 from column j0-4: ``view[m][k + 4] = a[i - 4 + m, j0 + k]``."""
    b = j0 - R
    return (a[i - 4, b:], a[i - 3, b:], a[i - 2, b:], a[i - 1, b:], a[i, b:],
            a[i + 1, b:], a[i + 2, b:], a[i + 3, b:], a[i + 4, b:])


@njit(inline="always", **_OPTS)
def _rows2(a, i, j0):
    """Views of rows i-4..i+5 from column j0-4 (the rows of two z-stencils, rows i and i+1)."""
    b = j0 - R
    return (a[i - 4, b:], a[i - 3, b:], a[i - 2, b:], a[i - 1, b:], a[i, b:],
            a[i + 1, b:], a[i + 2, b:], a[i + 3, b:], a[i + 4, b:], a[i + 5, b:])


@njit(inline="always", **_OPTS)
def _dzz2(r, k, c):
    """Second z-derivatives at column j0+k of rows i and i+1 from the views ``r`` of
    :func:`_rows2`: the eight rows the two stencils share are loaded once."""
    j = k + R
    return ((c[0] * r[4][j] + c[1] * (r[5][j] + r[3][j]) + c[2] * (r[6][j] + r[2][j])
             + c[3] * (r[7][j] + r[1][j]) + c[4] * (r[8][j] + r[0][j])),
            (c[0] * r[5][j] + c[1] * (r[6][j] + r[4][j]) + c[2] * (r[7][j] + r[3][j])
             + c[3] * (r[8][j] + r[2][j]) + c[4] * (r[9][j] + r[1][j])))


@njit(inline="always", **_OPTS)
def _dxx(m, k, c):
    """Second x-derivative at column j0+k of a row view ``m`` starting at j0-4."""
    j = k + R
    return (c[0] * m[j] + c[1] * (m[j + 1] + m[j - 1]) + c[2] * (m[j + 2] + m[j - 2])
            + c[3] * (m[j + 3] + m[j - 3]) + c[4] * (m[j + 4] + m[j - 4]))


@njit(inline="always", **_OPTS)
def _dx(m, k, c):
    j = k + R
    return (c[1] * (m[j + 1] - m[j - 1]) + c[2] * (m[j + 2] - m[j - 2])
            + c[3] * (m[j + 3] - m[j - 3]) + c[4] * (m[j + 4] - m[j - 4]))


@njit(inline="always", **_OPTS)
def _dzz(r, k, c):
    """Second z-derivative at column j0+k from the row views ``r`` of :func:`_rows`."""
    j = k + R
    return (c[0] * r[4][j] + c[1] * (r[5][j] + r[3][j]) + c[2] * (r[6][j] + r[2][j])
            + c[3] * (r[7][j] + r[1][j]) + c[4] * (r[8][j] + r[0][j]))


@njit(inline="always", **_OPTS)
def _dz(r, k, c):
    j = k + R
    return (c[1] * (r[5][j] - r[3][j]) + c[2] * (r[6][j] - r[2][j])
            + c[3] * (r[7][j] - r[1][j]) + c[4] * (r[8][j] - r[0][j]))


@njit(**_OPTS)
def mirror_surface(a, fz):
    """Odd image about the free-surface row ``fz - 1`` into the halo above it."""
    for k in range(1, fz):
        if fz - 1 - k < 0:
            break
        for j in range(a.shape[1]):
            a[fz - 1 - k, j] = -a[fz - 1 + k, j]


# ---------------------------------------------------------------- row pieces
# Each works on row i, columns [j0, j1). Forward: interior rows take the
# plain update in pairs (``_core2``), rows of the z absorbing bands (and the
# stencil radius next to them) the update fused with their z terms
# (``_core_zeta_z``), and the two x strips then add the x terms. The adjoint
# step builds its spatial term row by row in a scratch row (``_wlap*``, then
# ``_q_z``, ``_q_x``), then updates W and images from it (``_w_update``,
# ``_image_row``). The terms add up to the full operator. Loops are kept
# small, one written array each: LLVM vectorises a
# loop only if a handful of run-time checks rule out aliasing between the
# arrays it writes and those it reads.

@njit(inline="always", **_OPTS)
def _psi_x(u, c1x, ax, bx, psx, i, j0, j1):
    """Forward: psi_x = b psi_x + a Dx u."""
    ur, px, axr, bxr = u[i, j0 - R:], psx[i, j0:], ax[j0:], bx[j0:]
    for k in range(j1 - j0):
        px[k] = bxr[k] * px[k] + axr[k] * _dx(ur, k, c1x)


@njit(inline="always", **_OPTS)
def _psi_z(u, c1z, az, bz, psz, i, j0, j1):
    """Forward: psi_z = b psi_z + a Dz u."""
    ur = _rows(u, i, j0)
    pz = psz[i, j0:]
    azi, bzi = az[i], bz[i]
    for k in range(j1 - j0):
        pz[k] = bzi * pz[k] + azi * _dz(ur, k, c1z)


@njit(inline="always", **_OPTS)
def _zeta_x_add(u, c2x, c1x, ax, bx, psx, zex, out, scale, i, j0, j1):
    """Advance zeta_x = b zeta_x + a (Dxx u + Dx psi_x), then
    ``out += scale * (Dx psi_x + zeta_x)`` (the x CPML terms of the operator;
    ``out, scale = u^{n+1}, s``)."""
    ur, pxm = u[i, j0 - R:], psx[i, j0 - R:]
    zxr, axr, bxr, o, sc = zex[i, j0:], ax[j0:], bx[j0:], out[i, j0:], scale[i, j0:]
    for k in range(j1 - j0):
        dpx = _dx(pxm, k, c1x)
        zx = bxr[k] * zxr[k] + axr[k] * (_dxx(ur, k, c2x) + dpx)
        zxr[k] = zx
        o[k] += sc[k] * (dpx + zx)


@njit(inline="always", **_OPTS)
def _core(u, um, out, s, c2x, c2z, i, j0, j1):
    """Interior update ``out <- 2u - um + s (Dxx + Dzz) u`` (odd interior row of the forward step).

    ``out`` must not be ``um``: with two views of one row LLVM's run-time
    alias check fails and the loop runs scalar; steps rotate three buffers."""
    ur = _rows(u, i, j0)
    p, o, sr = um[i, j0:], out[i, j0:], s[i, j0:]
    two = u.dtype.type(2)
    for k in range(j1 - j0):
        o[k] = two * ur[4][k + R] - p[k] + sr[k] * (_dxx(ur[4], k, c2x) + _dzz(ur, k, c2z))


@njit(inline="always", **_OPTS)
def _core2(u, um, out, s, c2x, c2z, i, j0, j1):
    """:func:`_core` on rows i and i+1 in one pass: the eight rows the two
    z-stencils share are loaded once (about 20 % faster than two passes)."""
    r = _rows2(u, i, j0)
    p0, p1, o0, o1 = um[i, j0:], um[i + 1, j0:], out[i, j0:], out[i + 1, j0:]
    s0, s1 = s[i, j0:], s[i + 1, j0:]
    two = u.dtype.type(2)
    for k in range(j1 - j0):
        a0, a1 = _dzz2(r, k, c2z)
        o0[k] = two * r[4][k + R] - p0[k] + s0[k] * (_dxx(r[4], k, c2x) + a0)
        o1[k] = two * r[5][k + R] - p1[k] + s1[k] * (_dxx(r[5], k, c2x) + a1)


@njit(inline="always", **_OPTS)
def _core_zeta_z(u, um, out, s, c2x, c2z, c1z, az, bz, psz, zez, i, j0, j1):
    """:func:`_core` plus the z CPML terms of row i in one pass; where
    ``a = b = 0`` zeta_z stays 0 and only ``Dz psi_z`` is added."""
    ur = _rows(u, i, j0)
    pzr = _rows(psz, i, j0)
    p, o, sr, zzr = um[i, j0:], out[i, j0:], s[i, j0:], zez[i, j0:]
    azi, bzi = az[i], bz[i]
    two = u.dtype.type(2)
    for k in range(j1 - j0):
        dzz = _dzz(ur, k, c2z)
        dpz = _dz(pzr, k, c1z)
        zz = bzi * zzr[k] + azi * (dzz + dpz)
        zzr[k] = zz
        o[k] = two * ur[4][k + R] - p[k] + sr[k] * (_dxx(ur[4], k, c2x) + dzz + dpz + zz)


@njit(inline="always", **_OPTS)
def _work_item(q, fz, zc0, zc1):
    """Row and kind of parallel work item q of a step: kind 0 is one row of a
    z absorbing band (with the stencil radius next to it), 1 a pair of
    interior rows (i, i+1), 2 the odd interior row left over. Band rows come
    first and last, so a static split gives each thread a like share."""
    nb0 = zc0 - fz
    npair = (zc1 - zc0) // 2
    odd = (zc1 - zc0) % 2
    if q < nb0:
        return fz + q, 0
    if q < nb0 + npair:
        return zc0 + 2 * (q - nb0), 1
    if odd and q == nb0 + npair:
        return zc1 - 1, 2
    return zc1 + (q - nb0 - npair - odd), 0


@njit(inline="always", **_OPTS)
def _n_work_items(fz, ze, zc0, zc1):
    return (ze - fz) - (zc1 - zc0) // 2


@njit(inline="always", **_OPTS)
def _zaux_x(w, ax, bx, zx, i, j0, j1):
    """Adjoint: Z_x = b Z_x + a W."""
    wr, zxr, axr, bxr = w[i, j0:], zx[i, j0:], ax[j0:], bx[j0:]
    for k in range(j1 - j0):
        zxr[k] = bxr[k] * zxr[k] + axr[k] * wr[k]


@njit(inline="always", **_OPTS)
def _zaux_z(w, az, bz, zz, i, j0, j1):
    """Adjoint: Z_z = b Z_z + a W."""
    wr, zzr = w[i, j0:], zz[i, j0:]
    azi, bzi = az[i], bz[i]
    for k in range(j1 - j0):
        zzr[k] = bzi * zzr[k] + azi * wr[k]


@njit(inline="always", **_OPTS)
def _paux_x(w, c1x, ax, bx, zx, px, i, j0, j1):
    """Adjoint: P_x = b P_x - a Dx (W + Z_x)."""
    wm, zxm = w[i, j0 - R:], zx[i, j0 - R:]
    pxr, axr, bxr = px[i, j0:], ax[j0:], bx[j0:]
    for k in range(j1 - j0):
        pxr[k] = bxr[k] * pxr[k] - axr[k] * (_dx(wm, k, c1x) + _dx(zxm, k, c1x))


@njit(inline="always", **_OPTS)
def _paux_z(w, c1z, az, bz, zz, pz, i, j0, j1):
    """Adjoint: P_z = b P_z - a Dz (W + Z_z)."""
    wr = _rows(w, i, j0)
    zzr = _rows(zz, i, j0)
    pzr = pz[i, j0:]
    azi, bzi = az[i], bz[i]
    for k in range(j1 - j0):
        pzr[k] = bzi * pzr[k] - azi * (_dz(wr, k, c1z) + _dz(zzr, k, c1z))


@njit(inline="always", **_OPTS)
def _wlap(w, t, c2x, c2z, i, ti, j0, j1):
    """Adjoint: ``t[ti] = (Dxx + Dzz) W`` of row i (``t``: scratch rows)."""
    wr = _rows(w, i, j0)
    tr = t[ti, j0:]
    for k in range(j1 - j0):
        tr[k] = _dxx(wr[4], k, c2x) + _dzz(wr, k, c2z)


@njit(inline="always", **_OPTS)
def _wlap2(w, t, c2x, c2z, i, ti, j0, j1):
    """:func:`_wlap` on rows i and i+1 (into t[ti], t[ti+1]) in one pass (shared rows, as in :func:`_core2`)."""
    r = _rows2(w, i, j0)
    t0, t1 = t[ti, j0:], t[ti + 1, j0:]
    for k in range(j1 - j0):
        a0, a1 = _dzz2(r, k, c2z)
        t0[k] = _dxx(r[4], k, c2x) + a0
        t1[k] = _dxx(r[5], k, c2x) + a1


@njit(inline="always", **_OPTS)
def _q_x(t, c2x, c1x, zx, px, i, ti, j0, j1):
    """Adjoint: ``t[ti] += Dxx Z_x - Dx P_x`` of row i (the x CPML terms)."""
    zxm, pxm, tr = zx[i, j0 - R:], px[i, j0 - R:], t[ti, j0:]
    for k in range(j1 - j0):
        tr[k] += _dxx(zxm, k, c2x) - _dx(pxm, k, c1x)


@njit(inline="always", **_OPTS)
def _q_z(t, c2z, c1z, zz, pz, i, ti, j0, j1):
    """Adjoint: ``t[ti] += Dzz Z_z - Dz P_z`` of row i (the z CPML terms)."""
    zzr = _rows(zz, i, j0)
    pzr = _rows(pz, i, j0)
    tr = t[ti, j0:]
    for k in range(j1 - j0):
        tr[k] += _dzz(zzr, k, c2z) - _dz(pzr, k, c1z)


@njit(inline="always", **_OPTS)
def _w_update(w, wp, s, t, i, ti, j0, j1):
    """Adjoint: ``wp <- 2W - wp + s t[ti]`` on row i (in place: one view of wp's row)."""
    wr, o, sr, tr = w[i, j0:], wp[i, j0:], s[i, j0:], t[ti, j0:]
    two = w.dtype.type(2)
    for k in range(j1 - j0):
        o[k] = two * wr[k] - o[k] + sr[k] * tr[k]


@njit(inline="always", **_OPTS)
def _image_row(u, t, g, i, ti, j0, j1):
    """Imaging: ``g += u t[ti]`` on row i."""
    ur, tr, gr = u[i, j0:], t[ti, j0:], g[i, j0:]
    for k in range(j1 - j0):
        gr[k] += ur[k] * tr[k]


@njit(inline="always", **_OPTS)
def _d2_squared(up, u, um, h, i, j0, j1):
    """Illumination: ``h += (u+ - 2u + u-)^2`` on row i."""
    a, b, c, hr = up[i, j0:], u[i, j0:], um[i, j0:], h[i, j0:]
    two = u.dtype.type(2)
    for k in range(j1 - j0):
        d2 = a[k] - two * b[k] + c[k]
        hr[k] += d2 * d2


# ---------------------------------------------------------------- boundary records
# The reverse sweep can rebuild the forward field instead of recomputing it
# from snapshots: the plain update is reversible, u^{n-1} = 2u^n - u^{n+1} +
# s (L u^n + S f^n), wherever no CPML term acts, i.e. on the interior core
# ``[zc0, zc1) x [xc0, xc1)``. The rest of the computed region (absorbing
# layer and the stencil radius next to it) is saved at every step of the
# forward sweep and put back after each reconstruction. The reverse sweep then
# touches three time levels instead of a snapshot pool.

@njit(inline="always", **_OPTS)
def _boundary_row(i, fz, ze, xs, xe, zc0, zc1, xc0, xc1):
    """Offset in a boundary record of row i's saved cells, and the end of its
    left segment ``[xs, xl)`` and start of its right one ``[xr, xe)``."""
    wd = xe - xs
    if i < zc0:
        return (i - fz) * wd, xe, xe
    if i >= zc1:
        return (zc0 - fz + i - zc1) * wd, xe, xe
    return (zc0 - fz + ze - zc1) * wd + (i - zc0) * (wd - (xc1 - xc0)), xc0, xc1


@njit(inline="always", **_OPTS)
def _boundary_row_copy(a, rec, i, fz, ze, xs, xe, zc0, zc1, xc0, xc1, to_rec):
    """Row i's cells outside the core, from ``a`` into the record ``rec`` (``to_rec``) or back."""
    off, xl, xr = _boundary_row(i, fz, ze, xs, xe, zc0, zc1, xc0, xc1)
    nl = xl - xs
    if to_rec:
        rec[off:off + nl] = a[i, xs:xl]
        rec[off + nl:off + nl + xe - xr] = a[i, xr:xe]
    else:
        a[i, xs:xl] = rec[off:off + nl]
        a[i, xr:xe] = rec[off + nl:off + nl + xe - xr]


def boundary_size(b) -> int:
    """Cells of one boundary record for region bounds ``b`` (see :func:`boundary_copy`)."""
    fz, ze, xs, xe, zc0, zc1, xc0, xc1 = (int(x) for x in b)
    wd = xe - xs
    return (zc0 - fz + ze - zc1) * wd + (zc1 - zc0) * (wd - (xc1 - xc0))


@njit(parallel=True, **_OPTS)
def boundary_copy(a, rec, fz, ze, xs, xe, zc0, zc1, xc0, xc1, to_rec):
    """Copy the computed cells of ``a`` outside the core into the 1-D record
    ``rec`` (``to_rec``) or back: rows above and below the core whole, core
    rows their two x strips, in row order."""
    for i in prange(fz, ze):
        _boundary_row_copy(a, rec, i, fz, ze, xs, xe, zc0, zc1, xc0, xc1, to_rec)


# ---------------------------------------------------------------- steps

@njit(inline="always", **_OPTS)
def _band_row(q, fz, zc0, zc1):
    """Row of item q of the rows of the z absorbing bands (with the stencil radius next to them)."""
    nb0 = zc0 - fz
    return fz + q if q < nb0 else zc1 + (q - nb0)


@njit(inline="always", **_OPTS)
def _n_band_rows(fz, ze, zc0, zc1):
    """Number of items of :func:`_band_row`."""
    return (zc0 - fz) + (ze - zc1)


@njit(parallel=True, **_OPTS)
def _forward_aux_z(u, c1z, az, bz, psz, fz, ze, xs, xe, zc0, zc1):
    """Advance psi_z on the rows of the z absorbing bands (the update pass
    needs it at neighbouring rows; psi_x is advanced inside that pass)."""
    for q in prange(_n_band_rows(fz, ze, zc0, zc1)):
        i = _band_row(q, fz, zc0, zc1)
        if az[i] != 0:
            fp = flush_denormals()
            _psi_z(u, c1z, az, bz, psz, i, xs, xe)
            restore_fp(fp)


@njit(parallel=True, **_OPTS)
def forward_step(u, um, out, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                 fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs):
    """One step: u^{n+1} into ``out`` from ``u`` (u^n) and ``um`` (u^{n-1});
    ``out`` is a third array (its old values are not read)."""
    if fs:
        mirror_surface(u, fz)
    _forward_aux_z(u, c1z, az, bz, psz, fz, ze, xs, xe, zc0, zc1)
    for q in prange(_n_work_items(fz, ze, zc0, zc1)):
        fp = flush_denormals()
        i, kind = _work_item(q, fz, zc0, zc1)
        for r in range(i, i + 1 + (kind == 1)):
            _psi_x(u, c1x, ax, bx, psx, r, xs, xc0)
            _psi_x(u, c1x, ax, bx, psx, r, xc1, xe)
        if kind == 0:
            _core_zeta_z(u, um, out, s, c2x, c2z, c1z, az, bz, psz, zez, i, xs, xe)
        elif kind == 1:
            _core2(u, um, out, s, c2x, c2z, i, xs, xe)
        else:
            _core(u, um, out, s, c2x, c2z, i, xs, xe)
        for r in range(i, i + 1 + (kind == 1)):
            _zeta_x_add(u, c2x, c1x, ax, bx, psx, zex, out, s, r, xs, xc0)
            _zeta_x_add(u, c2x, c1x, ax, bx, psx, zex, out, s, r, xc1, xe)
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def _zaux_bands(w, az, bz, zz, fz, ze, xs, xe, zc0, zc1):
    """Adjoint: Z_z on the rows of the z absorbing bands."""
    for q in prange(_n_band_rows(fz, ze, zc0, zc1)):
        i = _band_row(q, fz, zc0, zc1)
        if az[i] != 0:
            fp = flush_denormals()
            _zaux_z(w, az, bz, zz, i, xs, xe)
            restore_fp(fp)


@njit(parallel=True, **_OPTS)
def _paux_bands(w, c1z, az, bz, zz, pz, fz, ze, xs, xe, zc0, zc1):
    """Adjoint: P_z on the rows of the z absorbing bands (after Z_z: it
    reads Z_z at neighbouring rows, so this is a separate parallel region)."""
    for q in prange(_n_band_rows(fz, ze, zc0, zc1)):
        i = _band_row(q, fz, zc0, zc1)
        if az[i] != 0:
            fp = flush_denormals()
            _paux_z(w, c1z, az, bz, zz, pz, i, xs, xe)
            restore_fp(fp)


@njit(parallel=True, **_OPTS)
def adjoint_step(w, wp, t, u, g, image, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz,
                 fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs, up, out, rec, rebuild):
    """One transposed step: ``wp`` (W^{n+2}) is overwritten with W^n from ``w``
    (W^{n+1}). The step adds ``s Q`` to ``2 W^{n+1} - W^{n+2}``, where
    ``Q = A W^{n+1}`` is the transposed spatial operator (CPML terms included;
    the receiver term ``R^T r^n`` is injected by the caller), computed row by
    row into the scratch rows ``t`` (shape ``(2 * chunks, nx)``: the work items
    are split in ``t.shape[0] // 2`` contiguous chunks, one per thread, each
    with two rows of its own). With ``image``, ``g += u Q`` with ``u`` = u^n.

    That is the whole imaging condition: summing by parts in time,
    ``sum_n W^{n+1} (u^{n+1} - 2u^n + u^{n-1}) = sum_n u^n (W^n - 2W^{n+1} + W^{n+2})``,
    and the right-hand factor is ``s (Q^n + R^T r^n)`` by the adjoint recursion,
    so ``g = sum_n W^{n+1} (L u^n + S f^n) = sum_n u^n (Q^n + R^T r^n)``, exactly
    and without forming a second time difference.

    With ``rebuild``, the same pass also rebuilds u^{n-1} into ``out`` from
    ``u`` and ``up`` (u^{n+1}): the core by the forward core update read backwards (:func:`_core2`), the
    other cells from the boundary record ``rec`` (:func:`boundary_copy`); the
    source term is the caller's (:func:`inject_core`). Callers that do not
    rebuild pass any arrays of the right types."""
    if fs:
        mirror_surface(w, fz)
    _zaux_bands(w, az, bz, zz, fz, ze, xs, xe, zc0, zc1)
    _paux_bands(w, c1z, az, bz, zz, pz, fz, ze, xs, xe, zc0, zc1)
    nq = _n_work_items(fz, ze, zc0, zc1)
    nc = min(t.shape[0] // 2, nq)   # t has two rows per thread (callers size it)
    for c in prange(nc):
        fp = flush_denormals()
        ti = 2 * c
        for q in range(c * nq // nc, (c + 1) * nq // nc):
            i, kind = _work_item(q, fz, zc0, zc1)
            if kind == 1:
                _wlap2(w, t, c2x, c2z, i, ti, xs, xe)
            else:
                _wlap(w, t, c2x, c2z, i, ti, xs, xe)
                if kind == 0:
                    _q_z(t, c2z, c1z, zz, pz, i, ti, xs, xe)
            for r in range(i, i + 1 + (kind == 1)):
                tr = ti + r - i
                _zaux_x(w, ax, bx, zx, r, xs, xc0)
                _zaux_x(w, ax, bx, zx, r, xc1, xe)
                _paux_x(w, c1x, ax, bx, zx, px, r, xs, xc0)
                _paux_x(w, c1x, ax, bx, zx, px, r, xc1, xe)
                _q_x(t, c2x, c1x, zx, px, r, tr, xs, xc0)
                _q_x(t, c2x, c1x, zx, px, r, tr, xc1, xe)
                _w_update(w, wp, s, t, r, tr, xs, xe)
                if image:
                    _image_row(u, t, g, r, tr, xs, xe)
            if rebuild:
                if kind == 1:
                    _core2(u, up, out, s, c2x, c2z, i, xc0, xc1)
                elif kind == 2:
                    _core(u, up, out, s, c2x, c2z, i, xc0, xc1)
                for r in range(i, i + 1 + (kind == 1)):
                    _boundary_row_copy(out, rec, r, fz, ze, xs, xe, zc0, zc1, xc0, xc1, False)
        restore_fp(fp)


@njit(parallel=True, **_OPTS)
def d2_squared(up, u, um, h, fz, ze, xs, xe):
    """``h += (up - 2u + um)^2`` over the computed region (the illumination)."""
    for i in prange(fz, ze):
        fp = flush_denormals()
        _d2_squared(up, u, um, h, i, xs, xe)
        restore_fp(fp)


@njit(**_OPTS)
def inject(a, s, idx, wts, amp):
    """``a.flat[idx] += s.flat[idx] * wts * amp[p]`` for each point p (amp: (n_points,)).

    Sources (``s`` = dt^2 vp^2) and the source term of the imaging condition
    (``a, s = g, W``) alike."""
    af = a.ravel()
    sf = s.ravel()
    for p in range(idx.shape[0]):
        for k in range(idx.shape[1]):
            q = idx[p, k]
            af[q] += sf[q] * wts[p, k] * amp[p]


@njit(**_OPTS)
def inject_core(a, s, idx, wts, amp, zc0, zc1, xc0, xc1):
    """:func:`inject` of one source with amplitude ``amp`` into the cells of the
    core ``[zc0, zc1) x [xc0, xc1)`` only (the rest comes from a boundary record)."""
    nx = a.shape[1]
    af = a.ravel()
    sf = s.ravel()
    for k in range(idx.shape[1]):
        q = idx[0, k]
        i, j = q // nx, q % nx
        if zc0 <= i < zc1 and xc0 <= j < xc1:
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


# ---------------------------------------------------------------- layout (plain Python)
#: Width multiple (cells) of the x absorbing strips: one AVX-512 float32 vector.
STRIP_ALIGN = 16
HALO = R


def regions(layout) -> np.ndarray:
    """Region bounds ``(fz, ze, xs, xe, zc0, zc1, xc0, xc1)`` of a padded 2-D
    layout: the computed rows and columns, and the interior core further than
    the stencil radius from the absorbing layer (int64 array)."""
    NZ, NX = layout.shape
    fz = HALO + (1 if layout.free_surface else 0)
    ze, xs, xe = NZ - HALO, HALO, NX - HALO
    reach = HALO  # stencil radius: the core starts this far from the layer
    zc0 = HALO + layout.top + reach if layout.top else fz
    zc1 = ze - layout.pml - reach if layout.pml else ze
    # x strips widened to whole 16-float vectors (the CPML terms are exactly 0
    # beyond the layer): a scalar loop tail would cost more than the extra lanes
    strip = -(-(layout.pml + reach) // STRIP_ALIGN) * STRIP_ALIGN
    xc0 = xs + strip if layout.pml else xs
    xc1 = xe - strip if layout.pml else xe
    if zc1 <= zc0:  # short grid: every row is a band row
        zc0 = zc1 = fz
    if xc1 <= xc0:  # narrow grid: one strip spans every column
        xc0 = xc1 = xs
    return np.array((fz, ze, xs, xe, zc0, zc1, xc0, xc1), dtype=np.int64)


def core_points(bounds) -> int:
    """Cells of the interior core."""
    fz, ze, xs, xe, zc0, zc1, xc0, xc1 = (int(x) for x in bounds)
    return (zc1 - zc0) * (xc1 - xc0)


def strips(layout) -> tuple[np.ndarray, np.ndarray]:
    """Padded columns of the x absorbing strips and rows of the z strips: the
    CPML state a snapshot keeps (:func:`execute`)."""
    NZ, NX = layout.shape
    xcols = np.r_[HALO:HALO + layout.pml, NX - HALO - layout.pml:NX - HALO].astype(np.int64)
    zrows = np.r_[HALO:HALO + layout.top, NZ - HALO - layout.pml:NZ - HALO].astype(np.int64)
    return xcols, zrows


def snapshot_cells(layout) -> int:
    """Cells of one snapshot at most: two time levels and the CPML strips
    (consecutive snapshots share a time level, :func:`execute`)."""
    NZ, NX = layout.shape
    xcols, zrows = strips(layout)
    return 2 * NZ * NX + 2 * NZ * len(xcols) + 2 * NX * len(zrows)


def pack(s, coefs, cpml, bounds, free_surface: bool) -> tuple:
    """The operator tuple the loops take: ``s`` = dt^2 vp^2 (padded), per axis
    (z, x) the stencil coefficients ``(c2, c1)`` (5-tuples scaled by the
    spacing) and the CPML ``(a, b)``, the region bounds and the free-surface flag."""
    (c2z, c1z), (c2x, c1x) = coefs
    (az, bz), (ax, bx) = cpml
    return (s, c2x, c2z, c1x, c1z, ax, bx, az, bz, bounds, bool(free_surface))


def fields(layout, dtype, n: int) -> tuple:
    """``n`` zero fields of the padded shape."""
    return tuple(np.zeros(layout.shape, dtype=dtype) for _ in range(n))


def cpml_fields(layout, dtype) -> tuple:
    """Forward CPML memory ``(psi_x, psi_z, zeta_x, zeta_z)``, zero."""
    return fields(layout, dtype, 4)


def adjoint_fields(layout, dtype, threads: int) -> tuple:
    """Adjoint CPML memory ``(Z_x, Z_z, P_x, P_z)`` and the scratch rows of
    :func:`adjoint_step` (two padded rows per thread), zero."""
    return fields(layout, dtype, 4) + (np.zeros((2 * threads, layout.shape[1]), dtype=dtype),)


def snapshot_store(layout, dtype, n_snap: int) -> tuple:
    """Checkpoint storage for :func:`execute` with ``n_snap`` snapshots:
    ``(levels, refs, slot_levels, slot_step, xaux, zaux, xcols, zrows)``."""
    NZ, NX = layout.shape
    xcols, zrows = strips(layout)
    levels = np.zeros((2 * n_snap + 3, NZ, NX), dtype=dtype)
    return (levels, np.zeros(levels.shape[0], dtype=np.int64), np.full((n_snap, 2), -1, dtype=np.int64),
            np.zeros(n_snap, dtype=np.int64), np.empty((n_snap, 2, NZ, len(xcols)), dtype=dtype),
            np.empty((n_snap, 2, len(zrows), NX), dtype=dtype), xcols, zrows)


# ---------------------------------------------------------------- time loops
# Kept in this module so that numba's on-disk cache, invalidated per source
# file, never pairs a cached loop with a stale kernel. Arguments are packed:
# ``op`` (:func:`pack`), ``aux`` (:func:`cpml_fields`), ``src``/``rec`` =
# (flat indices, weights) of one shot's points, ``adj_aux`` (:func:`adjoint_fields`).

_LOOP_OPTS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit(**_LOOP_OPTS)
def _step(n, u, um, out, aux, op, src, wav, rec, syn, record, amp, h, illum):
    """Forward step n: records u^n into ``syn[n]`` if ``record``, then u^{n+1}
    into ``out``; with ``illum``, ``h += (s L u^n)^2`` (before the source)."""
    s, c2x, c2z, c1x, c1z, ax, bx, az, bz, b, fs = op
    psx, psz, zex, zez = aux
    if record:
        gather(u, rec[0], rec[1], syn[n])
    forward_step(u, um, out, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], fs)
    if illum:
        d2_squared(out, u, um, h, b[0], b[1], b[2], b[3])
    amp[0] = wav[n]
    inject(out, s, src[0], src[1], amp)


@njit(**_LOOP_OPTS)
def advance(k, n0, u, um, spare, aux, op, src, wav, rec, syn, record):
    """k forward steps from state n0 (``u`` = u^n0, ``um`` = u^{n0-1}), rotating
    three buffers; records u^n (n = n0..n0+k-1) into ``syn[n]`` (time-major,
    ``(nt, n_rec)``) if ``record``. Returns the new ``(u, um, spare)``."""
    fp = flush_denormals()
    amp = np.empty(1, dtype=u.dtype)
    for n in range(n0, n0 + k):
        _step(n, u, um, spare, aux, op, src, wav, rec, syn, record, amp, u, False)
        u, um, spare = spare, u, um
    restore_fp(fp)
    return u, um, spare


@njit(**_LOOP_OPTS)
def _adjoint_step(w, wp, t, u, g, image, op, adj_aux, up, out, rec, rebuild):
    """:func:`adjoint_step` with packed arguments."""
    s, c2x, c2z, c1x, c1z, ax, bx, az, bz, b, fs = op
    zx, zz, px, pz = adj_aux
    adjoint_step(w, wp, t, u, g, image, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz,
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], fs, up, out, rec, rebuild)


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
        _adjoint_step(w, wp, t, w, w, False, op, adj_aux, w, w, t[0], False)
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
def _aux_strips(slot, psx, psz, zex, zez, xaux, zaux, xcols, zrows, to_slot):
    """Copy the CPML fields of the absorbing strips into (``to_slot``) or out of
    a slot, row by row (a column at a time would touch a cache line per value)."""
    for i in prange(psx.shape[0]):
        for q in range(xcols.shape[0]):
            c = xcols[q]
            if to_slot:
                xaux[slot, 0, i, q] = psx[i, c]
                xaux[slot, 1, i, q] = zex[i, c]
            else:
                psx[i, c] = xaux[slot, 0, i, q]
                zex[i, c] = xaux[slot, 1, i, q]
    for q in prange(zrows.shape[0]):
        r = zrows[q]
        if to_slot:
            zaux[slot, 0, q, :] = psz[r, :]
            zaux[slot, 1, q, :] = zez[r, :]
        else:
            psz[r, :] = zaux[slot, 0, q, :]
            zez[r, :] = zaux[slot, 1, q, :]


@njit(**_LOOP_OPTS)
def execute(actions, cur, cu, cm, store, aux, op, src, wav, rec, syn, record,
            w, wp, t, adj_aux, g, h, illum, adj):
    """Run checkpoint-schedule actions (codes: 0 advance, 1 save, 2 restore, 3 reverse).

    ``store`` = :func:`snapshot_store`: the wavefield lives in ``levels``
    ``(L, NZ, NX)``, one time level per buffer: the current state is
    ``(levels[cu], levels[cm])`` = (u^n, u^{n-1}) and snapshot ``k`` is the
    pair of buffers ``slot_levels[k]`` (-1: empty), with ``refs`` counting the
    snapshots that hold each buffer. A step writes into a free buffer, so
    saving and restoring copy no wavefield (only the CPML strips, and a
    restore only when an advance follows it), and consecutive snapshots share
    their common time level. ``L >= 2 * snapshots + 3`` keeps a free buffer
    for every step. ``syn`` as in :func:`advance`; ``illum``: advance steps
    add to the illumination ``h`` (:func:`_step`); ``adj`` the adjoint source
    ``(nt, n_rec)``. Reversing step n needs only u^n (:func:`adjoint_step`).
    Returns (cur, cu, cm, w, wp)."""
    levels, refs, slot_levels, slot_step, xaux, zaux, xcols, zrows = store
    psx, psz, zex, zez = aux
    s = op[0]
    fp = flush_denormals()
    amp = np.empty(1, dtype=levels.dtype)
    pending = -1  # slot whose CPML strips a restore has not copied yet
    for a in range(actions.shape[0]):
        code, arg = actions[a, 0], actions[a, 1]
        if code <= 1 and pending >= 0:
            _aux_strips(pending, psx, psz, zex, zez, xaux, zaux, xcols, zrows, False)
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
            _aux_strips(arg, psx, psz, zex, zez, xaux, zaux, xcols, zrows, True)
            slot_step[arg] = cur
        elif code == 2:
            cu, cm = slot_levels[arg, 0], slot_levels[arg, 1]
            pending = arg  # copied before the next advance or save: a reverse needs no CPML state
            cur = slot_step[arg]
        else:
            n = arg  # W^n into wp from W^{n+1} = w, imaged against u^n
            u = levels[cu]
            _adjoint_step(w, wp, t, u, g, True, op, adj_aux, u, u, t[0], False)
            inject(wp, s, rec[0], rec[1], adj[n])
            inject(g, u, rec[0], rec[1], adj[n])
            w, wp = wp, w
    restore_fp(fp)
    return cur, cu, cm, w, wp


# ---------------------------------------------------------------- boundary saving

@njit(**_LOOP_OPTS)
def sweep_saving(nt, u, um, spare, aux, op, src, wav, rec, syn, store, h, illum):
    """Forward sweep u^0 -> u^{nt-1} as :func:`advance` (recording every
    sample but the last), saving the boundary of u^k into ``store[k]`` for
    k = 1..len(store)-1 (``store[0]`` is u^0's, zero). Returns (u^{nt-1}, u^{nt-2}, spare)."""
    b = op[9]
    fp = flush_denormals()
    amp = np.empty(1, dtype=u.dtype)
    for n in range(nt - 1):
        _step(n, u, um, spare, aux, op, src, wav, rec, syn, True, amp, h, illum)
        if n + 1 < store.shape[0]:
            boundary_copy(spare, store[n + 1], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], True)
        u, um, spare = spare, u, um
    restore_fp(fp)
    return u, um, spare


@njit(**_LOOP_OPTS)
def reverse_saved(nt, u_next, u, spare, store, op, src, wav, rec, w, wp, t, adj_aux, g, adj):
    """Reverse sweep with the forward field rebuilt from ``store`` (see
    :func:`sweep_saving`): for n = nt-2..0, W^n from W^{n+1} imaged against
    u^n (as the reverse action of :func:`execute`), then u^{n-1} from u^n
    and u^{n+1}. ``u_next``, ``u`` = u^{nt-1}, u^{nt-2}; ``spare`` a third
    level. Returns the final adjoint field buffer."""
    s, b, fs = op[0], op[9], op[10]
    fp = flush_denormals()
    for n in range(nt - 2, -1, -1):
        rebuild = n >= 1
        if rebuild and fs:
            mirror_surface(u, b[0])
        _adjoint_step(w, wp, t, u, g, True, op, adj_aux, u_next, spare, store[max(n - 1, 0)], rebuild)
        inject(wp, s, rec[0], rec[1], adj[n])
        inject(g, u, rec[0], rec[1], adj[n])
        w, wp = wp, w
        if rebuild:
            inject_core(spare, s, src[0], src[1], wav[n], b[4], b[5], b[6], b[7])
            u_next, u, spare = u, spare, u_next
    restore_fp(fp)
    return w
