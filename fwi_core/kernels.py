"""Numba kernels of the 2-D acoustic time step and its exact transpose.

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
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_OPTS = dict(cache=True, fastmath=True, error_model="numpy", boundscheck=False)


@njit(inline="always", **_OPTS)
def _dxx(a, i, j, c):
    return (c[0] * a[i, j] + c[1] * (a[i, j + 1] + a[i, j - 1]) + c[2] * (a[i, j + 2] + a[i, j - 2])
            + c[3] * (a[i, j + 3] + a[i, j - 3]) + c[4] * (a[i, j + 4] + a[i, j - 4]))


@njit(inline="always", **_OPTS)
def _dzz(a, i, j, c):
    return (c[0] * a[i, j] + c[1] * (a[i + 1, j] + a[i - 1, j]) + c[2] * (a[i + 2, j] + a[i - 2, j])
            + c[3] * (a[i + 3, j] + a[i - 3, j]) + c[4] * (a[i + 4, j] + a[i - 4, j]))


@njit(inline="always", **_OPTS)
def _dx(a, i, j, c):
    return (c[1] * (a[i, j + 1] - a[i, j - 1]) + c[2] * (a[i, j + 2] - a[i, j - 2])
            + c[3] * (a[i, j + 3] - a[i, j - 3]) + c[4] * (a[i, j + 4] - a[i, j - 4]))


@njit(inline="always", **_OPTS)
def _dz(a, i, j, c):
    return (c[1] * (a[i + 1, j] - a[i - 1, j]) + c[2] * (a[i + 2, j] - a[i - 2, j])
            + c[3] * (a[i + 3, j] - a[i - 3, j]) + c[4] * (a[i + 4, j] - a[i - 4, j]))


@njit(**_OPTS)
def mirror_surface(a, fz):
    """Odd image about the free-surface row ``fz - 1`` into the halo above it."""
    for k in range(1, fz):
        if fz - 1 - k < 0:
            break
        for j in range(a.shape[1]):
            a[fz - 1 - k, j] = -a[fz - 1 + k, j]


@njit(inline="always", **_OPTS)
def _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1):
    """Column ranges of the absorbing frame on row i: [xs, a) and [b, xe)."""
    if i >= zc0 and i < zc1:
        return xc0, xc1
    return xe, xe


@njit(inline="always", **_OPTS)
def _psi_update(u, c1x, c1z, ax, bx, az, bz, psx, psz, i, j):
    psx[i, j] = bx[j] * psx[i, j] + ax[j] * _dx(u, i, j, c1x)
    psz[i, j] = bz[i] * psz[i, j] + az[i] * _dz(u, i, j, c1z)


@njit(inline="always", **_OPTS)
def _z_update(w, ax, bx, az, bz, zx, zz, i, j):
    zx[i, j] = bx[j] * zx[i, j] + ax[j] * w[i, j]
    zz[i, j] = bz[i] * zz[i, j] + az[i] * w[i, j]


@njit(inline="always", **_OPTS)
def _p_update(w, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz, i, j):
    px[i, j] = bx[j] * px[i, j] - ax[j] * (_dx(w, i, j, c1x) + _dx(zx, i, j, c1x))
    pz[i, j] = bz[i] * pz[i, j] - az[i] * (_dz(w, i, j, c1z) + _dz(zz, i, j, c1z))


@njit(parallel=True, **_OPTS)
def forward_step(u, um, out, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                 fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs):
    """One step: write u^{n+1} into ``out`` (may be ``um``, u^{n-1}) from ``u`` (u^n)."""
    if fs:
        mirror_surface(u, fz)
    # pass 1: psi on the frame (zero where a == 0)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _psi_update(u, c1x, c1z, ax, bx, az, bz, psx, psz, i, j)
        for j in range(b_start, xe):
            _psi_update(u, c1x, c1z, ax, bx, az, bz, psx, psz, i, j)
    # pass 2: update (full operator on the frame, plain Laplacian in the core)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _frame_update(u, um, out, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez, i, j)
        for j in range(a_end, b_start):
            out[i, j] = 2.0 * u[i, j] - um[i, j] + s[i, j] * (_dxx(u, i, j, c2x) + _dzz(u, i, j, c2z))
        for j in range(b_start, xe):
            _frame_update(u, um, out, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez, i, j)


@njit(inline="always", **_OPTS)
def _frame_update(u, um, out, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez, i, j):
    dxx = _dxx(u, i, j, c2x)
    dzz = _dzz(u, i, j, c2z)
    dpx = _dx(psx, i, j, c1x)
    dpz = _dz(psz, i, j, c1z)
    zx = bx[j] * zex[i, j] + ax[j] * (dxx + dpx)
    zz = bz[i] * zez[i, j] + az[i] * (dzz + dpz)
    zex[i, j] = zx
    zez[i, j] = zz
    out[i, j] = 2.0 * u[i, j] - um[i, j] + s[i, j] * (dxx + dzz + dpx + dpz + zx + zz)


@njit(parallel=True, **_OPTS)
def adjoint_step(w, wp, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz,
                 fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs):
    """One transposed step: overwrite ``wp`` (W^{n+2}) with W^n from ``w`` (W^{n+1})."""
    if fs:
        mirror_surface(w, fz)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _z_update(w, ax, bx, az, bz, zx, zz, i, j)
        for j in range(b_start, xe):
            _z_update(w, ax, bx, az, bz, zx, zz, i, j)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _p_update(w, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz, i, j)
        for j in range(b_start, xe):
            _p_update(w, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz, i, j)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _frame_adjoint(w, wp, s, c2x, c2z, c1x, c1z, zx, zz, px, pz, i, j)
        for j in range(a_end, b_start):
            wp[i, j] = 2.0 * w[i, j] - wp[i, j] + s[i, j] * (_dxx(w, i, j, c2x) + _dzz(w, i, j, c2z))
        for j in range(b_start, xe):
            _frame_adjoint(w, wp, s, c2x, c2z, c1x, c1z, zx, zz, px, pz, i, j)


@njit(inline="always", **_OPTS)
def _frame_adjoint(w, wp, s, c2x, c2z, c1x, c1z, zx, zz, px, pz, i, j):
    lap = (_dxx(w, i, j, c2x) + _dxx(zx, i, j, c2x) + _dzz(w, i, j, c2z) + _dzz(zz, i, j, c2z)
           - _dx(px, i, j, c1x) - _dz(pz, i, j, c1z))
    wp[i, j] = 2.0 * w[i, j] - wp[i, j] + s[i, j] * lap


@njit(**_OPTS)
def inject(a, s, idx, wts, amp):
    """``a.flat[idx] += s * wts * amp[p]`` for each point p (amp: (n_points,))."""
    af = a.ravel()
    sf = s.ravel()
    for p in range(idx.shape[0]):
        for k in range(idx.shape[1]):
            q = idx[p, k]
            af[q] += sf[q] * wts[p, k] * amp[p]


@njit(**_OPTS)
def gather(a, idx, wts, out):
    """``out[p] = sum_k wts[p,k] * a.flat[idx[p,k]]``."""
    af = a.ravel()
    for p in range(idx.shape[0]):
        acc = 0.0
        for k in range(idx.shape[1]):
            acc += wts[p, k] * af[idx[p, k]]
        out[p] = acc


@njit(parallel=True, **_OPTS)
def reverse_step(u, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                 w, wp, zx, zz, px, pz, g, h, illum,
                 fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs):
    """Fused reverse of step n: the forward operator at u^n gives
    ``lap = (u^{n+1} - 2u^n + u^{n-1}) / s`` (without the source term),
    imaged as ``g += W^{n+1} * lap`` (``h += lap^2`` if ``illum``), while the
    transposed step overwrites ``wp`` (W^{n+2}) with W^n from ``w``.

    Consumes the forward state: ``psx, psz, zex, zez`` advance to step n.
    """
    if fs:
        mirror_surface(u, fz)
        mirror_surface(w, fz)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _psi_update(u, c1x, c1z, ax, bx, az, bz, psx, psz, i, j)
            _z_update(w, ax, bx, az, bz, zx, zz, i, j)
        for j in range(b_start, xe):
            _psi_update(u, c1x, c1z, ax, bx, az, bz, psx, psz, i, j)
            _z_update(w, ax, bx, az, bz, zx, zz, i, j)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _p_update(w, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz, i, j)
        for j in range(b_start, xe):
            _p_update(w, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz, i, j)
    for i in prange(fz, ze):
        a_end, b_start = _frame_cols(i, zc0, zc1, xs, xe, xc0, xc1)
        for j in range(xs, a_end):
            _frame_reverse(u, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                           w, wp, zx, zz, px, pz, g, h, illum, i, j)
        for j in range(a_end, b_start):
            lap = _dxx(u, i, j, c2x) + _dzz(u, i, j, c2z)
            wv = w[i, j]
            g[i, j] += wv * lap
            if illum:
                h[i, j] += lap * lap
            wp[i, j] = 2.0 * wv - wp[i, j] + s[i, j] * (_dxx(w, i, j, c2x) + _dzz(w, i, j, c2z))
        for j in range(b_start, xe):
            _frame_reverse(u, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                           w, wp, zx, zz, px, pz, g, h, illum, i, j)


@njit(inline="always", **_OPTS)
def _frame_reverse(u, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                   w, wp, zx, zz, px, pz, g, h, illum, i, j):
    dxx = _dxx(u, i, j, c2x)
    dzz = _dzz(u, i, j, c2z)
    dpx = _dx(psx, i, j, c1x)
    dpz = _dz(psz, i, j, c1z)
    zxv = bx[j] * zex[i, j] + ax[j] * (dxx + dpx)
    zzv = bz[i] * zez[i, j] + az[i] * (dzz + dpz)
    zex[i, j] = zxv
    zez[i, j] = zzv
    lap = dxx + dzz + dpx + dpz + zxv + zzv
    g[i, j] += w[i, j] * lap
    if illum:
        h[i, j] += lap * lap
    _frame_adjoint(w, wp, s, c2x, c2z, c1x, c1z, zx, zz, px, pz, i, j)


@njit(**_OPTS)
def image_source(g, w, idx, wts, amp):
    """Source term of the imaging condition: ``g.flat[idx] += w.flat[idx] * wts * amp[p]``."""
    gf = g.ravel()
    wf = w.ravel()
    for p in range(idx.shape[0]):
        for k in range(idx.shape[1]):
            q = idx[p, k]
            gf[q] += wf[q] * wts[p, k] * amp[p]


# ---------------------------------------------------------------- time loops
# Kept in this module so that numba's on-disk cache, invalidated per source
# file, never pairs a cached loop with a stale kernel.

_LOOP_OPTS = dict(cache=True, error_model="numpy", boundscheck=False)

@njit(**_LOOP_OPTS)
def advance(k, n0, u, um, psx, psz, zex, zez, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, b, fs,
             src_idx, src_w, wav, rec_idx, rec_w, syn, record):
    """k forward steps from state n0; records u^n (n = n0..n0+k-1) if ``record``.
    Returns the (u, um) pair of the new state."""
    fz, ze, xs, xe, zc0, zc1, xc0, xc1 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
    buf = np.empty(rec_idx.shape[0], dtype=u.dtype)
    amp = np.empty(1, dtype=u.dtype)
    for n in range(n0, n0 + k):
        if record:
            gather(u, rec_idx, rec_w, buf)
            syn[:, n] = buf
        forward_step(u, um, um, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                       fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs)
        amp[0] = wav[n]
        inject(um, s, src_idx, src_w, amp)
        u, um = um, u
    return u, um


@njit(**_LOOP_OPTS)
def _save(slot, u, um, psx, psz, zex, zez, us, ums, xaux, zaux, xcols, zrows):
    us[slot] = u
    ums[slot] = um
    for q in range(xcols.shape[0]):
        c = xcols[q]
        xaux[slot, 0, :, q] = psx[:, c]
        xaux[slot, 1, :, q] = zex[:, c]
    for q in range(zrows.shape[0]):
        r = zrows[q]
        zaux[slot, 0, q, :] = psz[r, :]
        zaux[slot, 1, q, :] = zez[r, :]


@njit(**_LOOP_OPTS)
def _restore(slot, u, um, psx, psz, zex, zez, us, ums, xaux, zaux, xcols, zrows):
    u[:] = us[slot]
    um[:] = ums[slot]
    for q in range(xcols.shape[0]):
        c = xcols[q]
        psx[:, c] = xaux[slot, 0, :, q]
        zex[:, c] = xaux[slot, 1, :, q]
    for q in range(zrows.shape[0]):
        r = zrows[q]
        psz[r, :] = zaux[slot, 0, q, :]
        zez[r, :] = zaux[slot, 1, q, :]


@njit(**_LOOP_OPTS)
def execute(actions, cur, u, um, psx, psz, zex, zez, us, ums, xaux, zaux, xcols, zrows, slot_step,
             s, c2x, c2z, c1x, c1z, ax, bx, az, bz, b, fs,
             src_idx, src_w, wav, rec_idx, rec_w, syn, record,
             w, wp, zx, zz, px, pz, g, h, illum, adj):
    """Run checkpoint-schedule actions (codes: 0 advance, 1 save, 2 restore, 3 reverse).
    Returns (cur, u, um, w, wp)."""
    fz, ze, xs, xe, zc0, zc1, xc0, xc1 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
    amp = np.empty(1, dtype=u.dtype)
    for a in range(actions.shape[0]):
        code, arg = actions[a, 0], actions[a, 1]
        if code == 0:
            u, um = advance(arg, cur, u, um, psx, psz, zex, zez, s, c2x, c2z, c1x, c1z,
                             ax, bx, az, bz, b, fs, src_idx, src_w, wav, rec_idx, rec_w, syn, record)
            cur += arg
        elif code == 1:
            _save(arg, u, um, psx, psz, zex, zez, us, ums, xaux, zaux, xcols, zrows)
            slot_step[arg] = cur
        elif code == 2:
            _restore(arg, u, um, psx, psz, zex, zez, us, ums, xaux, zaux, xcols, zrows)
            cur = slot_step[arg]
        else:
            n = arg  # image step n with W^{n+1} = w, then W^n into wp
            reverse_step(u, s, c2x, c2z, c1x, c1z, ax, bx, az, bz, psx, psz, zex, zez,
                           w, wp, zx, zz, px, pz, g, h, illum, fz, ze, xs, xe, zc0, zc1, xc0, xc1, fs)
            amp[0] = wav[n]
            image_source(g, w, src_idx, src_w, amp)
            inject(wp, s, rec_idx, rec_w, adj[:, n])
            w, wp = wp, w
    return cur, u, um, w, wp
