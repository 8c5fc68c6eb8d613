"""Signal processing for FWI: zero-phase filtering, mutes, windows, trace
normalisation and offset continuation.

Conventions (see ``DESIGN.md``): SI units (seconds, metres, m/s, Hz); time is
the last axis of every data array, sample ``k`` is at time ``k * dt``; data of
one survey have shape ``(n_shots, n_receivers, nt)``, one shot
``(n_receivers, nt)``, a wavelet ``(nt,)`` or ``(n_shots, nt)``.

Every mute / window here is a *linear mask*: a weight array ``w`` in ``[0, 1]``
with the data multiplied by it. Each ``mute_*`` / ``time_window`` function has
a ``*_mask`` companion returning ``w`` itself, so that a misfit computed on
``w * syn`` has the adjoint source ``w * adj`` (the mask is its own transpose).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _sps():
    """scipy.signal, imported on first use (0.5 s that most jobs need not pay)."""
    from scipy import signal
    return signal

__all__ = [
    "butterworth",
    "butterworth_padding",
    "butterworth_precursor",
    "time_window_mask",
    "time_window",
    "mute_before_arrival_mask",
    "mute_before_arrival",
    "mute_after_mask",
    "mute_after",
    "offset_mask",
    "mute_offsets",
    "offset_schedule",
    "normalize_traces",
    "NORMALIZE_MODES",
    "resample",
    "ANTI_ALIAS_FRACTION",
]

NORMALIZE_MODES = ("none", "max", "l2")

#: relative amplitude down to which the filter's impulse response is allowed to
#: ring into the zero padding before it is cut (see :func:`butterworth_padding`)
_PAD_TOL = 1e-8


# ---------------------------------------------------------------- validation
def _positive(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0.0:
        raise ValueError(f"{name}: must be a positive finite number, got {value!r}")
    return v


def _nonnegative(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a non-negative number, got {value!r}") from None
    if not np.isfinite(v) or v < 0.0:
        raise ValueError(f"{name}: must be a non-negative finite number, got {value!r}")
    return v


def _nt(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def _float_array(name: str, x: np.ndarray) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim < 1 or a.shape[-1] < 1:
        raise ValueError(f"{name}: needs a time axis (last axis) of length >= 1, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name}: must be a real numeric array, got dtype {a.dtype}")
    return a


def _out_dtype(a: np.ndarray) -> np.dtype:
    return a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float64)


# ---------------------------------------------------------------- filtering
def _butter_sos(dt: float, fmin: float | None, fmax: float | None, order: int) -> np.ndarray | None:
    dt = _positive("dt", dt)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order: must be an integer >= 1, got {order!r}")
    nyq = 0.5 / dt
    if fmin is not None:
        fmin = _positive("fmin", fmin)
        if fmin >= nyq:
            raise ValueError(f"fmin: {fmin} Hz must be below the Nyquist frequency {nyq} Hz")
    if fmax is not None:
        fmax = _positive("fmax", fmax)
        if fmax >= nyq:
            raise ValueError(f"fmax: {fmax} Hz must be below the Nyquist frequency {nyq} Hz")
    if fmin is not None and fmax is not None and fmin >= fmax:
        raise ValueError(f"fmin: {fmin} Hz must be below fmax = {fmax} Hz")
    if fmin is None and fmax is None:
        return None
    if fmin is None:
        return _sps().butter(int(order), fmax, btype="lowpass", fs=1.0 / dt, output="sos")
    if fmax is None:
        return _sps().butter(int(order), fmin, btype="highpass", fs=1.0 / dt, output="sos")
    return _sps().butter(int(order), [fmin, fmax], btype="bandpass", fs=1.0 / dt, output="sos")


def butterworth_padding(dt: float, fmin: float | None = None, fmax: float | None = None,
                        order: int = 4) -> int:
    """Number of zero samples :func:`butterworth` pads on each end of the time axis.

    It is the number of samples after which the slowest-decaying pole of the
    digital filter (radius ``r < 1``) has decayed to ``1e-8``:
    ``ceil(log(1e-8) / log(r))``, so the forward-backward impulse response has
    died out inside the padding. It grows like ``order / (f_corner * dt)``
    (about 7 / (fmin dt) for an order-4 high-pass); 0 when no filter applies.
    """
    sos = _butter_sos(dt, fmin, fmax, order)
    if sos is None:
        return 0
    _, poles, _ = _sps().sos2zpk(sos)
    r = float(np.max(np.abs(poles)))
    return int(np.ceil(np.log(_PAD_TOL) / np.log(r))) + 1


def butterworth_precursor(dt: float, fmin: float | None = None, fmax: float | None = None,
                          order: int = 4, tol: float = 1e-4) -> float:
    """Length (s) of the acausal part of :func:`butterworth`'s impulse response.

    The zero-phase filter's impulse response ``h(t)`` is symmetric about 0; the
    result is the smallest ``T`` (a multiple of ``dt``) such that the samples
    at ``t < -T`` hold at most ``tol`` (a fraction) of its energy. A source
    wavelet must start at least ``T`` after ``t = 0`` for the filter to move
    no more than about ``tol`` of its energy before ``t = 0``, where it is cut
    (about ``1.42 / fmax`` for an order-4 low-pass at ``tol = 1e-4``; longer
    for band-passes with a low ``fmin``). 0 when no filter applies.
    """
    tol = _positive("tol", tol)
    npad = butterworth_padding(dt, fmin, fmax, order)
    if npad == 0:
        return 0.0
    x = np.zeros(2 * npad + 1)
    x[npad] = 1.0
    e = butterworth(x, dt, fmin, fmax, order) ** 2
    frac = np.cumsum(e) / np.sum(e)          # energy at samples <= k
    k = int(np.searchsorted(frac, tol, side="right"))  # first sample past the tol tail
    return max(0, npad - k) * float(dt)


def butterworth(x: np.ndarray, dt: float, fmin: float | None = None, fmax: float | None = None,
                order: int = 4, axis: int = -1) -> np.ndarray:
    """Zero-phase Butterworth filter (low-, high- or band-pass).

    Parameters
    ----------
    x : array, any shape, filtered along ``axis`` (time, sample interval ``dt``):
        observed data ``(n_shots, n_receivers, nt)`` or a source wavelet
        ``(nt,)`` / ``(n_shots, nt)`` -- use the *same* call on both so that
        data and wavelet see the identical filter.
    dt : sample interval, s.
    fmin, fmax : corner frequencies in Hz. ``fmin=None``: low-pass at ``fmax``;
        ``fmax=None``: high-pass at ``fmin``; both given: band-pass; both None:
        no filter (a copy of ``x`` is returned). Must satisfy
        ``0 < fmin < fmax < 0.5 / dt``.
    order : Butterworth order (>= 1) of the one-way filter; the forward-backward
        pass (``sosfiltfilt``) squares the amplitude response, so the effective
        amplitude response is ``|H|**2`` (-6 dB at the corners) and zero phase.
    axis : the time axis.

    Returns
    -------
    Array of the shape and (floating) dtype of ``x``; computed in float64.

    Padding
    -------
    The trace is padded with zeros on both ends by
    :func:`butterworth_padding` samples (enough for the impulse response to
    decay to 1e-8) and filtered with ``sosfiltfilt(..., padlen=0)``, then the
    padding is cut. Zero padding (rather than scipy's default odd extension of
    ``3 * (2 * n_sections + 1)`` samples) treats the record as zero outside
    ``[0, (nt-1) dt]``, which is what a seismic trace and a source wavelet are;
    it makes the filter a plain truncated convolution with a symmetric kernel,
    so any trace length works (short wavelets included), the operator is
    linear and self-adjoint (``<Fx, y> = <x, Fy>``), and filtering the wavelet
    is equivalent to filtering the data it generates (away from the record
    end). The kernel is non-causal: a filtered wavelet has a precursor before
    ``t = 0`` which is cut, so the equivalence needs the wavelet delayed by a
    few periods of ``fmin`` (about 1 s for an 8-20 Hz band keeps it to 1e-4).
    Exact alternative: filter the *synthetics* with this function instead of
    the wavelet and filter the adjoint source with it too (the operator is
    self-adjoint, so that is its exact transpose).
    """
    a = _float_array("x", x)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis: {axis} out of range for an array of {a.ndim} dimensions")
    sos = _butter_sos(dt, fmin, fmax, order)
    out_dtype = _out_dtype(a)
    if sos is None:
        return a.astype(out_dtype, copy=True)
    npad = butterworth_padding(dt, fmin, fmax, order)
    pad = [(0, 0)] * a.ndim
    pad[axis] = (npad, npad)
    xp = np.pad(a.astype(np.float64), pad)
    y = _sps().sosfiltfilt(sos, xp, axis=axis, padlen=0)
    sl = [slice(None)] * a.ndim
    sl[axis] = slice(npad, npad + a.shape[axis])
    return np.ascontiguousarray(y[tuple(sl)]).astype(out_dtype, copy=False)


# ---------------------------------------------------------------- resampling
#: :func:`resample`'s anti-alias low-pass corner, as a fraction of the output
#: Nyquist frequency, and its (one-way) Butterworth order.
ANTI_ALIAS_FRACTION = 0.8
ANTI_ALIAS_ORDER = 8


#: :func:`resample` interpolates on a grid this many times finer than the input
#: (band-limited: a Kaiser-windowed sinc FIR, :func:`_refine`) before its cubic spline.
RESAMPLE_REFINE = 4


def _refine(v: np.ndarray, factor: int) -> np.ndarray:
    """Band-limited interpolation of traces ``(n, n_in)`` onto a grid ``factor``
    times finer (``(n, (n_in - 1) * factor + 1)``): polyphase FIR of
    ``32 x factor + 1`` taps, Kaiser window (beta 10), pass band to 0.9 of the
    input Nyquist frequency, the trace extended linearly beyond its ends (so a
    record cut while the signal is non-zero does not ring)."""
    sps = _sps()
    h = sps.firwin(32 * factor + 1, 0.9 / factor, window=("kaiser", 10.0))
    out = sps.resample_poly(v, factor, 1, axis=-1, window=h, padtype="line")
    return out[..., :(v.shape[-1] - 1) * factor + 1]


def resample(x: np.ndarray, t_in: np.ndarray, t_out: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Band-limited resampling of traces (last axis) from the regular time
    axis ``t_in`` onto the regular axis ``t_out`` (both in s, increasing).

    1. Anti-alias: when the output is sampled more coarsely than the input
       (``dt_out > dt_in``), a zero-phase Butterworth low-pass
       (:func:`butterworth`, order :data:`ANTI_ALIAS_ORDER`, corner
       :data:`ANTI_ALIAS_FRACTION` x the output Nyquist frequency
       ``0.5 / dt_out``), so nothing above the new Nyquist frequency folds
       back into the band.
    2. Band-limited interpolation onto a grid :data:`RESAMPLE_REFINE` times
       finer than the input (:func:`_refine`: windowed-sinc FIR, pass band to
       0.9 of the input Nyquist frequency).
    3. A not-a-knot cubic spline from that fine grid onto ``t_out``.

    Measured (``tests/test_artifacts.py``): Rickers of 12 Hz sampled at 4,
    1.5 and 1 ms come out on a 2 ms axis within 1e-4 of their peak (a 25 Hz
    Ricker at 4 ms within 1e-5; linear interpolation of the
    12 Hz Ricker at 4 ms: 1.6e-2); a 400 Hz tone on
    0.5 ms data resampled to 2 ms is suppressed below 1e-3 instead of
    aliasing to 100 Hz. Output times up to half an input sample outside ``t_in`` take the
    end values.

    ``x``: ``(..., n_in)``; returns ``(..., len(t_out))`` in ``x``'s floating
    dtype, computed in float64, ``chunk`` traces at a time.
    """
    from scipy.interpolate import CubicSpline

    a = _float_array("x", x)
    t_in = np.asarray(t_in, np.float64)
    t_out = np.asarray(t_out, np.float64)
    if t_in.ndim != 1 or t_in.size != a.shape[-1] or t_in.size < 4:
        raise ValueError(f"t_in: expected {a.shape[-1]} (at least 4) increasing times, got shape {t_in.shape}")
    dt_in = (t_in[-1] - t_in[0]) / (t_in.size - 1)
    dt_out = (t_out[-1] - t_out[0]) / max(t_out.size - 1, 1)
    fine = t_in[0] + dt_in / RESAMPLE_REFINE * np.arange((t_in.size - 1) * RESAMPLE_REFINE + 1)
    flat = a.reshape(-1, a.shape[-1])
    out = np.empty((flat.shape[0], t_out.size), _out_dtype(a))
    where = np.clip(t_out, fine[0], fine[-1])
    for k in range(0, flat.shape[0], chunk):
        v = flat[k:k + chunk].astype(np.float64)
        if dt_out > dt_in * (1 + 1e-9):
            v = butterworth(v, dt_in, fmax=ANTI_ALIAS_FRACTION * 0.5 / dt_out, order=ANTI_ALIAS_ORDER)
        out[k:k + chunk] = CubicSpline(fine, _refine(v, RESAMPLE_REFINE), axis=1)(where)
    return out.reshape(a.shape[:-1] + (t_out.size,))


# ---------------------------------------------------------------- time masks
def _ramp(t: np.ndarray, edge: np.ndarray, taper: float, rising: bool) -> np.ndarray:
    """Cosine ramp weights: rising: 0 for t < edge, 0.5(1-cos(pi (t-edge)/taper))
    on [edge, edge+taper], 1 after; falling: mirror image ending at ``edge``
    (1 before edge-taper, 0 after edge)."""
    d = (t - edge) if rising else (edge - t)
    if taper > 0:
        u = np.clip(d / taper, 0.0, 1.0)
    else:
        u = (d >= 0).astype(np.float64)
    return 0.5 * (1.0 - np.cos(np.pi * u))


def _edge(name: str, value: float | np.ndarray | None) -> np.ndarray | None:
    if value is None:
        return None
    v = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return v


def time_window_mask(nt: int, dt: float, tmin: float | np.ndarray | None = None,
                     tmax: float | np.ndarray | None = None, taper: float = 0.0) -> np.ndarray:
    """Weights of a time window ``[tmin, tmax]`` with cosine tapers *inside* it.

    ``w(t) = 0`` for ``t < tmin``, rises as ``0.5 (1 - cos(pi (t - tmin)/taper))``
    on ``[tmin, tmin + taper]``, is 1 in between, falls symmetrically on
    ``[tmax - taper, tmax]``, 0 after ``tmax``. ``t = k * dt`` for ``k < nt``.
    ``tmin`` / ``tmax`` (s) are scalars or arrays (per trace) of a common
    broadcast shape ``S``; None means no edge. Returns float64 weights of shape
    ``S + (nt,)``. ``taper`` in seconds (0: a hard edge, sample at the edge kept).
    """
    nt = _nt("nt", nt)
    dt = _positive("dt", dt)
    taper = _nonnegative("taper", taper)
    lo, hi = _edge("tmin", tmin), _edge("tmax", tmax)
    shape = np.broadcast_shapes(*(e.shape for e in (lo, hi) if e is not None))
    t = np.arange(nt) * dt
    w = np.ones(shape + (nt,))
    if lo is not None:
        w = w * _ramp(t, lo[..., None], taper, rising=True)
    if hi is not None:
        w = w * _ramp(t, hi[..., None], taper, rising=False)
    return w


def _apply(name: str, data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    a = _float_array(name, data)
    try:
        out_shape = np.broadcast_shapes(a.shape, mask.shape)
    except ValueError:
        raise ValueError(f"{name}: shape {a.shape} does not broadcast with the mask shape "
                         f"{mask.shape} (check offsets/tmin/tmax shapes)") from None
    if out_shape != a.shape:
        raise ValueError(f"{name}: shape {a.shape} does not broadcast with the mask shape {mask.shape}")
    return (a * mask).astype(_out_dtype(a), copy=False)


def time_window(data: np.ndarray, dt: float, tmin: float | np.ndarray | None = None,
                tmax: float | np.ndarray | None = None, taper: float = 0.0) -> np.ndarray:
    """``data`` (..., nt) times :func:`time_window_mask`; same shape and dtype."""
    a = _float_array("data", data)
    return _apply("data", a, time_window_mask(a.shape[-1], dt, tmin, tmax, taper))


def mute_before_arrival_mask(nt: int, dt: float, offsets: np.ndarray, velocity: float,
                             t0: float = 0.0, taper: float = 0.0) -> np.ndarray:
    """Weights zeroing every sample before ``t_mute = t0 + |offset| / velocity``.

    ``offsets`` (m), any shape ``S`` (e.g. ``(n_receivers,)`` or
    ``(n_shots, n_receivers)``, broadcastable to the data's leading dims);
    ``velocity`` (m/s) > 0; ``t0`` (s, may be negative to keep some samples
    before the arrival); ``taper`` (s): cosine ramp from 0 at ``t_mute`` to 1 at
    ``t_mute + taper``. Returns float64 weights of shape ``S + (nt,)``.
    """
    velocity = _positive("velocity", velocity)
    off = _edge("offsets", offsets)
    if off is None:
        raise ValueError("offsets: required")
    t0 = float(_edge("t0", t0))
    return time_window_mask(nt, dt, tmin=t0 + np.abs(off) / velocity, taper=taper)


def mute_before_arrival(data: np.ndarray, dt: float, offsets: np.ndarray, velocity: float,
                        t0: float = 0.0, taper: float = 0.0) -> np.ndarray:
    """``data`` (..., nt) times :func:`mute_before_arrival_mask`; same shape and dtype."""
    a = _float_array("data", data)
    return _apply("data", a, mute_before_arrival_mask(a.shape[-1], dt, offsets, velocity, t0, taper))


def mute_after_mask(nt: int, dt: float, tmax: float | np.ndarray, taper: float = 0.0) -> np.ndarray:
    """Weights zeroing every sample after ``tmax`` (s, scalar or per trace),
    with a cosine ramp from 1 at ``tmax - taper`` to 0 at ``tmax``.
    Shape ``np.shape(tmax) + (nt,)``."""
    if tmax is None:
        raise ValueError("tmax: required")
    return time_window_mask(nt, dt, tmax=tmax, taper=taper)


def mute_after(data: np.ndarray, dt: float, tmax: float | np.ndarray, taper: float = 0.0) -> np.ndarray:
    """``data`` (..., nt) times :func:`mute_after_mask`; same shape and dtype."""
    a = _float_array("data", data)
    return _apply("data", a, mute_after_mask(a.shape[-1], dt, tmax, taper))


# ---------------------------------------------------------------- offsets
def offset_mask(offsets: np.ndarray, min_offset: float = 0.0,
                max_offset: float | None = None) -> np.ndarray:
    """Weights 1 where ``min_offset <= |offset| <= max_offset`` (m), else 0.

    Shape of ``offsets`` (one weight per trace, no time axis); multiply data by
    ``mask[..., None]`` (or use :func:`mute_offsets`). ``max_offset=None``: no
    upper limit.
    """
    off = _edge("offsets", offsets)
    if off is None:
        raise ValueError("offsets: required")
    lo = _nonnegative("min_offset", min_offset)
    hi = np.inf if max_offset is None else _nonnegative("max_offset", max_offset)
    if hi < lo:
        raise ValueError(f"max_offset: {max_offset} must be >= min_offset = {min_offset}")
    a = np.abs(off)
    return ((a >= lo) & (a <= hi)).astype(np.float64)


def mute_offsets(data: np.ndarray, offsets: np.ndarray, min_offset: float = 0.0,
                 max_offset: float | None = None) -> np.ndarray:
    """``data`` (..., nt) with traces outside the offset range zeroed
    (``data * offset_mask(...)[..., None]``); same shape and dtype."""
    a = _float_array("data", data)
    return _apply("data", a, offset_mask(offsets, min_offset, max_offset)[..., None])


def offset_schedule(offsets: np.ndarray, max_offsets: Sequence[float | None],
                    min_offset: float = 0.0) -> list[np.ndarray]:
    """Offset continuation: one :func:`offset_mask` per inversion stage.

    ``max_offsets``: the maximum offset (m) of each stage, e.g. from a config
    ``[1000, 2000, None]`` (None: all offsets); must be non-decreasing so that
    each stage keeps the traces of the previous one. Returns a list of weight
    arrays of the shape of ``offsets``.
    """
    if isinstance(max_offsets, (str, bytes)) or not hasattr(max_offsets, "__len__") or len(max_offsets) == 0:
        raise ValueError(f"max_offsets: must be a non-empty sequence, got {max_offsets!r}")
    vals = [np.inf if m is None else _nonnegative("max_offsets", m) for m in max_offsets]
    if any(b < a for a, b in zip(vals, vals[1:])):
        raise ValueError(f"max_offsets: must be non-decreasing, got {list(max_offsets)!r}")
    return [offset_mask(offsets, min_offset, None if np.isinf(m) else m) for m in vals]


# ---------------------------------------------------------------- normalisation
def normalize_traces(data: np.ndarray, mode: str = "none") -> np.ndarray:
    """Normalise every trace (last axis) of ``data`` (..., nt).

    ``mode``: ``"none"`` (copy), ``"max"`` (divide by the trace's max |value|),
    ``"l2"`` (divide by its Euclidean norm ``sqrt(sum x**2)``, no ``dt``).
    All-zero (dead) traces stay zero. Same shape and floating dtype.
    This is not linear; to compare traces irrespective of amplitude inside an
    inversion use the ``ncc`` misfit, whose adjoint accounts for it.
    """
    a = _float_array("data", data)
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode: must be one of {NORMALIZE_MODES}, got {mode!r}")
    x = a.astype(np.float64)
    if mode == "none":
        return x.astype(_out_dtype(a))
    if mode == "max":
        s = np.max(np.abs(x), axis=-1, keepdims=True)
    else:
        s = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    out = np.divide(x, s, out=np.zeros_like(x), where=s > 0)
    return out.astype(_out_dtype(a), copy=False)
