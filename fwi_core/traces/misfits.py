"""Data misfits and their adjoint sources.

Every misfit is a function ``f(syn, obs, dt) -> (J, adj)``:

- ``syn``, ``obs``: arrays of the same shape ``(..., nt)`` (time last), for
  example ``(n_receivers, nt)`` for one shot or ``(n_shots, n_receivers, nt)``.
- ``dt``: sample interval in seconds.
- ``J``: float, the misfit (L2: ``0.5 * sum((syn - obs)**2) * dt``).
- ``adj``: array like ``syn``, ``dJ/dsyn`` (the adjoint source, already
  including the ``dt`` quadrature weight), so that
  ``J(syn + h*ds) = J(syn) + h*sum(adj*ds) + O(h**2)``.

Misfits are looked up by name with :func:`get`; a callable with the same
signature is accepted anywhere a name is. Misfits with parameters take them as
keyword-only arguments after ``dt``; ``get(name, **params)`` binds them and
returns a function with the plain ``(syn, obs, dt)`` signature.

All misfits compute in float64 and return ``adj`` in the dtype of ``syn``.
Every ``adj`` is the exact gradient of the discrete ``J`` that is computed
(checked by finite differences in ``tests/test_misfits.py``); see
``docs/misfits.md`` for the formulas.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from .signal import _positive


def _expit(z: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-free (scipy.special is slow to import)."""
    return np.exp(-np.logaddexp(0.0, -z))


def _scipy_fft():
    """scipy.fft, imported on first use: it costs 0.2 s, paid by every job otherwise."""
    from scipy import fft
    return fft

MisfitFn = Callable[[np.ndarray, np.ndarray, float], tuple[float, np.ndarray]]

_REGISTRY: dict[str, MisfitFn] = {}


def register(name: str) -> Callable[[MisfitFn], MisfitFn]:
    """Decorator adding a misfit to the registry under ``name``."""

    def deco(fn: MisfitFn) -> MisfitFn:
        _REGISTRY[name] = fn
        return fn

    return deco


def names() -> list[str]:
    """Names of the registered misfits."""
    return sorted(_REGISTRY)


def get(misfit: str | MisfitFn, **params: Any) -> MisfitFn:
    """Return the misfit function for a name (or pass a callable through).

    ``params`` are the misfit's keyword parameters (e.g.
    ``get("huber", threshold=0.05)``); they are bound and checked at once on a
    tiny dummy input, so a bad value raises ``ValueError`` naming it here
    rather than in the middle of an inversion. Without ``params`` the misfit
    with its defaults is returned.
    """
    if callable(misfit):
        fn = misfit
    else:
        try:
            fn = _REGISTRY[misfit]
        except (KeyError, TypeError):
            raise ValueError(
                f"misfit: unknown misfit {misfit!r}; allowed values: {', '.join(names())}"
            ) from None
    if not params:
        return fn
    try:
        allowed = [p.name for p in inspect.signature(fn).parameters.values()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY]
    except (TypeError, ValueError):
        allowed = []
    for key in params:
        if key not in allowed:
            raise ValueError(f"{key}: not a parameter of misfit {misfit!r}; "
                             f"allowed: {', '.join(allowed) or 'none'}")
    bound = functools.update_wrapper(functools.partial(fn, **params), fn)
    bound(np.zeros((1, 8)), np.zeros((1, 8)), 1.0)  # validates the values
    return bound


def masked(misfit: str | MisfitFn, live: np.ndarray | None) -> MisfitFn:
    """The misfit of the live traces only.

    ``live``: booleans over the leading dims of the data (``(n_receivers,)``
    for one shot), False for a masked trace (a padded receiver slot, a dead
    trace). The returned function calls ``misfit`` on ``syn[live]``,
    ``obs[live]`` and returns its adjoint source scattered back with zeros
    elsewhere: a masked trace contributes exactly zero to ``J`` and to the
    gradient, whatever the misfit (also to misfits with a global scale such as
    ``max|obs|``, which is then taken over the live traces). ``live`` None or
    all True: ``misfit`` itself.
    """
    fn = get(misfit)
    if live is None:
        return fn
    keep = np.asarray(live, bool)
    if keep.all():
        return fn

    def f(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
        s, o = np.asarray(syn), np.asarray(obs)
        if s.shape[:keep.ndim] != keep.shape:
            raise ValueError(f"live: mask of shape {keep.shape} for data of shape {s.shape}")
        adj = np.zeros(s.shape, s.dtype if np.issubdtype(s.dtype, np.floating) else np.float64)
        if not keep.any():
            return 0.0, adj
        J, a = fn(s[keep], o[keep], dt)
        adj[keep] = a
        return float(J), adj

    return f


# --------------------------------------------------------------------- helpers
def _prepare(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, float, np.dtype]:
    """Validate and return float64 copies of (syn, obs), dt and the output dtype."""
    s_in = np.asarray(syn)
    o_in = np.asarray(obs)
    if s_in.ndim < 1 or s_in.shape[-1] < 1:
        raise ValueError(f"syn: needs a time axis (last axis), got shape {s_in.shape}")
    if o_in.shape != s_in.shape:
        raise ValueError(f"obs: shape {o_in.shape} differs from syn shape {s_in.shape}")
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt: must be a positive number, got {dt!r}") from None
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: must be a positive finite number, got {dt!r}")
    s = s_in.astype(np.float64)
    o = o_in.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError("syn: contains NaN or inf")
    if not np.all(np.isfinite(o)):
        raise ValueError("obs: contains NaN or inf")
    out = s_in.dtype if np.issubdtype(s_in.dtype, np.floating) else np.dtype(np.float64)
    return s, o, dt, out


def _obs_scale(o: np.ndarray) -> float:
    """Global max |obs|, the amplitude unit of the relative parameters (1.0 if obs == 0)."""
    m = float(np.max(np.abs(o))) if o.size else 0.0
    return m if m > 0 else 1.0


# --------------------------------------------------------------------- L2, L1, Huber
@register("l2")
def l2(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
    """Least-squares waveform misfit ``0.5 * sum((syn-obs)**2) * dt``;
    adjoint source ``(syn - obs) * dt``."""
    s, o, dt, out = _prepare(syn, obs, dt)
    r = np.subtract(s, o, out=s)          # in place: traces are the largest arrays here
    adj = np.multiply(r, dt, out=np.empty(r.shape, out), casting="same_kind")
    # np.sum, not a BLAS dot: a dot's summation order depends on its threads,
    # and the misfit must not change bitwise between runs
    return 0.5 * float(np.sum(np.square(r, out=r))) * dt, adj


@register("l1")
def l1(syn: np.ndarray, obs: np.ndarray, dt: float, *, eps: float = 1e-3,
       relative: bool = True) -> tuple[float, np.ndarray]:
    """Smoothed L1 misfit ``sum(sqrt(r**2 + e**2) - e) * dt``, ``r = syn - obs``.

    ``e = eps * max|obs|`` if ``relative`` (default, ``eps`` dimensionless,
    max over the whole array, 1 if obs is all zero) else ``e = eps`` in data
    units. ``J >= 0``, 0 iff syn == obs; behaves like ``sum|r| dt`` for
    ``|r| >> e``, robust to outliers. Adjoint ``r / sqrt(r**2 + e**2) * dt``.
    """
    s, o, dt, out = _prepare(syn, obs, dt)
    e = _positive("eps", eps) * (_obs_scale(o) if relative else 1.0)
    r = s - o
    q = np.sqrt(r * r + e * e)
    return float(np.sum(q - e)) * dt, (r / q * dt).astype(out, copy=False)


@register("huber")
def huber(syn: np.ndarray, obs: np.ndarray, dt: float, *, threshold: float = 0.1,
          relative: bool = True) -> tuple[float, np.ndarray]:
    """Huber misfit ``sum(rho(r)) * dt``, ``r = syn - obs``.

    ``rho(r) = 0.5 r**2`` for ``|r| <= d``, ``d (|r| - d/2)`` beyond (quadratic
    near zero, linear for outliers). ``d = threshold * max|obs|`` if
    ``relative`` (default; max over the whole array of observed data, not of the
    residual, so that ``d`` does not depend on ``syn`` and ``adj`` is the exact
    gradient) else ``d = threshold`` in data units. Adjoint
    ``clip(r, -d, d) * dt``.
    """
    s, o, dt, out = _prepare(syn, obs, dt)
    d = _positive("threshold", threshold) * (_obs_scale(o) if relative else 1.0)
    r = s - o
    a = np.abs(r)
    rho = np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d))
    return float(np.sum(rho)) * dt, (np.clip(r, -d, d) * dt).astype(out, copy=False)


# --------------------------------------------------------------------- Wasserstein
_W2_TRANSFORMS = ("softplus", "exp")


def _positive_transform(x: np.ndarray, transform: str, beta: float, scale: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Positive trace ``p(x)`` and ``dp/dx`` (see :func:`wasserstein`)."""
    z = beta * x / scale
    if transform == "softplus":
        return np.logaddexp(0.0, z), _expit(z) * (beta / scale)
    # exp, shifted per trace by its max to avoid overflow (cancels in the normalisation)
    p = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return p, p * (beta / scale)


def _rowsearch(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise ``searchsorted(A[i], v[i], side="right") - 1`` for rows of ``A``
    non-decreasing within [0, 1] (rows are offset into disjoint intervals)."""
    ntr, na = A.shape
    off = 2.0 * np.arange(ntr)[:, None]
    idx = np.searchsorted((A + off).ravel(), (v + off).ravel(), side="right") - 1
    return idx.reshape(v.shape) - (np.arange(ntr) * na)[:, None]


def _segments(C: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For CDF breakpoints ``C`` (rows, n+1 values from 0 to 1) and points ``y``
    (per row), the segment ``k`` (0..n-1) containing ``y``, its start ``C_k``
    and its length ``C_{k+1} - C_k``."""
    n = C.shape[1] - 1
    k = np.clip(_rowsearch(C, y), 0, n - 1)
    c0 = np.take_along_axis(C, k, axis=1)
    dc = np.maximum(np.take_along_axis(C, k + 1, axis=1) - c0, np.finfo(float).tiny)
    return k, c0, dc


@register("wasserstein")
def wasserstein(syn: np.ndarray, obs: np.ndarray, dt: float, *, transform: str = "softplus",
                beta: float = 20.0) -> tuple[float, np.ndarray]:
    """Quadratic Wasserstein (W2) optimal-transport misfit, trace by trace.

    Each trace (last axis) is made positive by ``p = P(x)`` and normalised to
    unit mass, ``pi_k = p_k / sum(p)``:

    - ``transform="softplus"`` (default): ``P(x) = log(1 + exp(beta x / a))``,
    - ``transform="exp"``: ``P(x) = exp(beta x / a)``,

    with ``a = max|obs|`` over the whole array (fixed by the data, so it adds no
    dependence on ``syn``; 1 if obs == 0) and ``beta > 0`` dimensionless
    (large: ``P`` close to ``a/beta * max(beta x/a, 0)``, the positive part;
    small: close to a linear shift ``x + const``).

    Discretisation: ``pi_k`` is spread uniformly over the cell
    ``[(k - 1/2) dt, (k + 1/2) dt]`` (piecewise-constant density), so the CDF
    ``F`` and the quantile function ``F^-1`` are piecewise linear (breakpoints
    ``F_k = sum_{i<k} pi_i`` -> cell edges). The misfit is the *exact*

        J = 0.5 * sum_traces int_0^1 (F^-1(y) - G^-1(y))**2 dy     [s**2]

    between these densities (G: obs), integrated exactly over the merged
    breakpoints of both quantile functions (Simpson's rule, exact for the
    quadratic integrand). It is continuously differentiable in ``syn`` and
    ``adj`` is its exact gradient (through the breakpoints ``F_k``, the
    normalisation and ``P``). J >= 0, J == 0 for syn == obs; dead traces are
    uniform distributions (finite, no NaN). W2 measures how far the energy
    has to move in time, so it grows steadily with a time shift where L2 has
    side minima (a wider basin of attraction against cycle skipping).
    """
    s, o, dt, out = _prepare(syn, obs, dt)
    if transform not in _W2_TRANSFORMS:
        raise ValueError(f"transform: must be one of {_W2_TRANSFORMS}, got {transform!r}")
    beta = _positive("beta", beta)
    shape = s.shape
    n = shape[-1]
    s2 = s.reshape(-1, n)
    o2 = o.reshape(-1, n)
    ntr = s2.shape[0]
    a = _obs_scale(o)
    p, dp = _positive_transform(s2, transform, beta, a)
    q, _ = _positive_transform(o2, transform, beta, a)
    P = p.sum(axis=1, keepdims=True)
    zero = np.zeros((ntr, 1))
    F = np.concatenate([zero, np.cumsum(p, axis=1) / P], axis=1)  # (ntr, n+1)
    G = np.concatenate([zero, np.cumsum(q, axis=1) / q.sum(axis=1, keepdims=True)], axis=1)
    F[:, -1] = 1.0
    G[:, -1] = 1.0
    u = np.sort(np.concatenate([F, G], axis=1), axis=1)  # merged breakpoints
    u0, u1 = u[:, :-1], u[:, 1:]
    du = u1 - u0
    mid = 0.5 * (u0 + u1)
    kx, fx0, dfx = _segments(F, mid)  # quantile segments containing each merged interval
    ky, gy0, dgy = _segments(G, mid)
    edge_x = (kx - 0.5) * dt
    edge_y = (ky - 0.5) * dt
    lam = [(y - fx0) / dfx for y in (u0, mid, u1)]  # position inside the F segment
    D = [edge_x + l * dt - (edge_y + (y - gy0) / dgy * dt) for l, y in zip(lam, (u0, mid, u1))]
    simpson = lambda f: du / 6.0 * (f[0] + 4.0 * f[1] + f[2])  # noqa: E731
    J = 0.5 * float(np.sum(simpson([d * d for d in D])))
    # dX/dF_k = -(dt/dF)(1 - lam) on segment k, -(dt/dF) lam on segment k-1
    w_left = -dt / dfx * simpson([d * (1.0 - l) for d, l in zip(D, lam)])  # -> F_k, k = kx
    w_right = -dt / dfx * simpson([d * l for d, l in zip(D, lam)])  # -> F_{k+1}
    rows = (np.arange(ntr) * (n + 1))[:, None]
    gF = np.bincount((kx + rows).ravel(), w_left.ravel(), minlength=ntr * (n + 1))
    gF += np.bincount((kx + 1 + rows).ravel(), w_right.ravel(), minlength=ntr * (n + 1))
    gF = gF.reshape(ntr, n + 1)
    gF[:, 0] = 0.0  # F_0 = 0 and F_n = 1 are fixed
    gF[:, -1] = 0.0
    # F_k = sum_{i<k} p_i / P: dJ/dp_i = (sum_{k>i} gF_k - sum_k gF_k F_k) / P
    tail = np.cumsum(gF[:, ::-1], axis=1)[:, ::-1][:, 1:]  # sum_{k>=i+1}
    g_p = (tail - np.sum(gF * F, axis=1, keepdims=True)) / P
    adj = (g_p * dp).reshape(shape)
    return J, adj.astype(out, copy=False)


# --------------------------------------------------------------------- traveltime
def _xcorr_setup(s2: np.ndarray, o2: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """rfft of zero-padded traces (length M >= 2n, Nyquist bin dropped) and M."""
    _fft = _scipy_fft()
    n = s2.shape[-1]
    M = _fft.next_fast_len(2 * n)
    S = _fft.rfft(s2, M, axis=-1)
    O = _fft.rfft(o2, M, axis=-1)
    if M % 2 == 0:
        S[..., -1] = 0.0
        O[..., -1] = 0.0
    return S, O, M


def _corr_derivs(X: np.ndarray, w: np.ndarray, tau: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray]:
    """``C'``, ``C''`` at lags ``tau`` (one per row) of the band-limited correlation
    ``C(tau) = (1/M) sum_f wt_f Re(X_f exp(i w_f tau))`` (rfft weights wt: 1 at DC, else 2)."""
    wt = np.full(w.size, 2.0)
    wt[0] = 1.0
    ph = X * np.exp(1j * w[None, :] * tau[:, None]) * wt
    c1 = np.sum(np.real(ph * (1j * w)), axis=-1) / M
    c2 = np.sum(np.real(ph) * (-(w * w)), axis=-1) / M
    return c1, c2


def _lag(S: np.ndarray, O: np.ndarray, M: int, n: int, dt: float,
         max_lag: float | None, newton: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lag ``dT`` (s) maximising ``C(tau) = sum_t syn(t) obs(t - tau)`` per row.

    Integer-lag argmax of the correlation (|lag| <= max_lag), parabolic
    sub-sample refinement, then Newton steps on ``C'(tau) = 0`` of the
    band-limited (Fourier-interpolated) correlation, kept within one sample of
    the integer peak. Returns ``dT`` (0 for dead rows), ``C''(dT)`` and the mask
    of rows where ``dT`` is a smooth function of ``syn``.
    """
    _fft = _scipy_fft()
    X = S * np.conj(O)
    c = _fft.irfft(X, M, axis=-1)  # c[j] = C(j dt), negative lags wrapped at the end
    lags = np.concatenate([np.arange(0, n), np.arange(-(n - 1), 0)])
    cc = np.concatenate([c[:, :n], c[:, M - (n - 1):]], axis=1) if n > 1 else c[:, :1]
    allowed = np.ones(lags.shape, bool)
    if max_lag is not None:
        allowed = np.abs(lags) * dt <= max_lag + 1e-12 * dt
    cm = np.where(allowed[None, :], cc, -np.inf)
    k = np.argmax(cm, axis=1)
    live = (np.abs(S).sum(axis=1) > 0) & (np.abs(O).sum(axis=1) > 0)
    rows = np.arange(cc.shape[0])
    L = lags[k]
    # parabolic refinement on the integer correlation
    def at(lag: np.ndarray) -> np.ndarray:
        return c[rows, np.mod(lag, M)]
    cm1, c0, cp1 = at(L - 1), at(L), at(L + 1)
    den = cm1 - 2 * c0 + cp1
    frac = np.divide(0.5 * (cm1 - cp1), den, out=np.zeros_like(den), where=den < 0)
    frac = np.clip(frac, -0.5, 0.5)
    tau = (L + frac) * dt
    w = 2 * np.pi * _fft.rfftfreq(M, dt)
    lo, hi = (L - 1) * dt, (L + 1) * dt
    c2 = np.full(tau.shape, -1.0)
    for _ in range(newton):
        c1, c2 = _corr_derivs(X, w, tau, M)
        step = np.divide(-c1, c2, out=np.zeros_like(c1), where=c2 < 0)
        tau = np.clip(tau + step, lo, hi)
    _, c2 = _corr_derivs(X, w, tau, M)
    tau = np.where(live, tau, 0.0)
    # smooth: dT is a differentiable function of syn here (a live, proper maximum
    # strictly inside the search bracket); elsewhere it is locally constant
    smooth = live & (c2 < 0) & (tau > lo) & (tau < hi)
    return tau, c2, smooth


def cross_correlation_shift(syn: np.ndarray, obs: np.ndarray, dt: float,
                            max_lag: float | None = None) -> np.ndarray:
    """Time shift (s) of ``syn`` relative to ``obs`` per trace, shape = leading dims.

    Positive when the synthetic arrives later: ``syn(t) = obs(t - T)`` gives
    ``T``. The maximum of the cross-correlation over lags ``|lag| <= max_lag``
    (s; None: any), refined below one sample (parabola, then Newton on the
    Fourier-interpolated correlation). Dead (all-zero) traces give 0.
    """
    s, o, dt, _ = _prepare(syn, obs, dt)
    if max_lag is not None:
        max_lag = _positive("max_lag", max_lag)
    n = s.shape[-1]
    S, O, M = _xcorr_setup(s.reshape(-1, n), o.reshape(-1, n))
    tau, _, _ = _lag(S, O, M, n, dt, max_lag)
    return tau.reshape(s.shape[:-1])


@register("traveltime")
def traveltime(syn: np.ndarray, obs: np.ndarray, dt: float, *, max_lag: float | None = None,
               adjoint: str = "implicit") -> tuple[float, np.ndarray]:
    """Cross-correlation traveltime misfit ``J = 0.5 * sum_traces dT**2`` [s**2].

    ``dT`` = :func:`cross_correlation_shift` (syn later than obs: dT > 0).

    Adjoint source, per trace (Luo & Schuster 1991): ``adj = dT * d(dT)/d syn``
    where ``dT`` is defined implicitly by ``C'(dT) = 0``,
    ``C(tau) = sum_t syn(t) obs_bl(t - tau)`` (``obs_bl``: band-limited
    interpolation of obs). The implicit-function theorem gives

    - ``adjoint="implicit"`` (default): ``d(dT)/d syn_t = -q'_t / C''(dT)``
      with ``q'_t = d/dtau obs_bl(t - tau)`` at ``tau = dT``: the exact gradient
      of the computed ``dT`` while the correlation peak stays the same one
      (the lag *search* -- which peak -- is a discrete choice and is not
      differentiated);
    - ``adjoint="luo-schuster"``: the classic form
      ``d(dT)/d syn_t = -dsyn/dt(t) / sum_k (dsyn/dt(k))**2`` using the time
      derivative of the synthetic (spectral), i.e. the implicit form with
      ``obs(t - dT)`` replaced by ``syn(t)``; equal to it when syn is a shifted
      copy of obs, approximate otherwise.

    The finite-difference test checks the ``implicit`` adjoint to 1e-6 on
    noisy shifted traces whose correlation peak is well separated (stable
    lag), and that ``luo-schuster`` equals it for pure shifts. Dead traces
    contribute 0 and a zero adjoint.
    """
    _fft = _scipy_fft()
    if adjoint not in ("implicit", "luo-schuster"):
        raise ValueError(f"adjoint: must be 'implicit' or 'luo-schuster', got {adjoint!r}")
    s, o, dt, out = _prepare(syn, obs, dt)
    if max_lag is not None:
        max_lag = _positive("max_lag", max_lag)
    shape = s.shape
    n = shape[-1]
    S, O, M = _xcorr_setup(s.reshape(-1, n), o.reshape(-1, n))
    tau, c2, ok = _lag(S, O, M, n, dt, max_lag)
    w = 2 * np.pi * _fft.rfftfreq(M, dt)
    if adjoint == "implicit":
        # q'(t) = d/dtau obs_bl(t - tau) = irfft(O * (-i w) * exp(-i w tau))
        qd = _fft.irfft(O * (-1j * w) * np.exp(-1j * w[None, :] * tau[:, None]), M, axis=-1)[:, :n]
        ddT = np.divide(-qd, c2[:, None], out=np.zeros_like(qd), where=ok[:, None])
    else:
        sd = _fft.irfft(S * (1j * w), M, axis=-1)[:, :n]
        e = np.sum(sd * sd, axis=1, keepdims=True)
        ddT = np.divide(-sd, e, out=np.zeros_like(sd), where=ok[:, None] & (e > 0))
    J = 0.5 * float(np.sum(tau * tau))
    adj = (tau[:, None] * ddT).reshape(shape)
    return J, adj.astype(out, copy=False)


# --------------------------------------------------------------------- envelope
def _hilbert(x: np.ndarray) -> np.ndarray:
    """Discrete Hilbert transform along the last axis, zero-padded to
    ``next_fast_len(2 nt)`` and cropped; a real skew-symmetric operator
    (``H.T == -H``)."""
    from scipy.signal import hilbert
    n = x.shape[-1]
    M = _scipy_fft().next_fast_len(2 * n)
    return np.imag(hilbert(x, N=M, axis=-1))[..., :n]


@register("envelope")
def envelope(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
    """Envelope misfit ``J = 0.5 * sum((E(syn) - E(obs))**2) * dt``.

    ``E(x) = sqrt(x**2 + H(x)**2)``, ``H`` the Hilbert transform (see
    :func:`_hilbert`; skew-symmetric). With ``r = E(syn) - E(obs)`` the adjoint
    source is ``(r * syn / E - H(r * H(syn) / E)) * dt`` (using ``H.T = -H``);
    where ``E(syn) == 0`` the (sub)gradient 0 is taken, so dead traces give no
    NaN. Insensitive to the phase, sensitive to where the energy is.
    """
    s, o, dt, out = _prepare(syn, obs, dt)
    hs = _hilbert(s)
    ho = _hilbert(o)
    es = np.sqrt(s * s + hs * hs)
    eo = np.sqrt(o * o + ho * ho)
    r = es - eo
    a = np.divide(r, es, out=np.zeros_like(r), where=es > 0)
    adj = (a * s - _hilbert(a * hs)) * dt
    return 0.5 * float(np.sum(r * r)) * dt, adj.astype(out, copy=False)


# --------------------------------------------------------------------- NCC
@register("ncc")
def ncc(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
    """Normalised zero-lag cross-correlation misfit, amplitude-insensitive.

    ``J = sum_traces (1 - c)``, ``c = <s, o> / (|s| |o|)`` the cosine of the
    angle between the synthetic and observed trace (``dt`` cancels). ``J`` is
    in ``[0, 2 n_traces]``, 0 when every synthetic trace is a positive multiple
    of the observed one. Adjoint ``-(o / (|s||o|) - c s / |s|**2)``.
    Traces with obs == 0 contribute 0; traces with syn == 0 (obs live)
    contribute 1 with a zero adjoint (c is undefined there).
    """
    s, o, dt, out = _prepare(syn, obs, dt)
    ns = np.sqrt(np.sum(s * s, axis=-1, keepdims=True))
    no = np.sqrt(np.sum(o * o, axis=-1, keepdims=True))
    live = (ns > 0) & (no > 0)
    den = ns * no
    c = np.divide(np.sum(s * o, axis=-1, keepdims=True), den, out=np.zeros_like(den), where=live)
    J = float(np.sum(np.where(no > 0, 1.0 - c, 0.0)))
    g = np.divide(o, den, out=np.zeros_like(s), where=live) \
        - c * np.divide(s, ns * ns, out=np.zeros_like(s), where=live)
    return J, (-g).astype(out, copy=False)
