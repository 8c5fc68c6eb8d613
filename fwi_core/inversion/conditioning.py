"""Data conditioning inside the misfit: mutes, windows, offset selection and
trace normalisation, applied identically to synthetic and observed data.

A conditioned misfit is ``J(N(w * syn), N(w * obs))`` for one shot, with

- ``w``: the product of linear masks of :mod:`fwi_core.traces.signal` (time window,
  mute before the first arrival, mute after a time, offset range), weights in
  ``[0, 1]`` of shape ``(n_receivers, nt)``;
- ``N``: trace normalisation, ``none``, ``max`` (divide each trace by its max
  ``|value|``) or ``l2`` (by its Euclidean norm).

Its adjoint source is the exact chain rule, ``w * N'(w syn)^T adj``:
``N'^T a = (a - y <y, a>) / |x|`` for ``l2`` (``y = x / |x|``), and
``a / m - <a, x> / m^2 * sign(x_k) e_k`` for ``max`` (``m = |x_k|`` the
largest sample; the max is not differentiable where two samples tie, the
gradient taken there is that of the first). Dead traces stay zero with a zero
adjoint. ``tests/test_conditioning.py`` checks it by finite differences.

Because the masks and the normalisation are inside the misfit, observed and
synthetic data always see the same conditioning, and the gradient of the
conditioned misfit is exact. Per band, ``max_offset`` (offset continuation:
near offsets first) narrows the offset range.

Config (``inversion.conditioning``, all optional)::

    time_window: {tmin: s, tmax: s, taper: s}
    mute_before_arrival: {velocity: m/s, t0: s, taper: s}   # zero before t0 + |offset|/velocity
    mute_after: {tmax: s, taper: s}
    offsets: {min: m, max: m}
    normalize: none | max | l2

and ``bands[i].max_offset`` (m, or null).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..traces import misfits
from ..traces.signal import NORMALIZE_MODES, mute_after_mask, mute_before_arrival_mask, offset_mask, time_window_mask

__all__ = ["offsets", "band_spec", "weights", "conditioned", "shot_misfit", "is_identity"]


def offsets(acq) -> np.ndarray:
    """Horizontal source-receiver distance (m) of every trace, ``(n_shots, n_receivers)``
    (all coordinates but the first, depth)."""
    src = np.asarray(acq.sources, np.float64)
    rec = np.asarray(acq.receivers, np.float64)
    if rec.ndim == 2:
        rec = rec[None]
    return np.linalg.norm(rec[..., 1:] - src[:, None, 1:], axis=-1)


def band_spec(spec: dict | None, band: dict | None = None) -> dict:
    """The conditioning of one band: ``spec`` (the config's
    ``inversion.conditioning``) with the band's ``max_offset`` (m) narrowing
    ``offsets.max``."""
    out = dict(spec or {})
    m = (band or {}).get("max_offset")
    if m is not None:
        off = dict(out.get("offsets") or {})
        off["max"] = float(m) if off.get("max") is None else min(float(m), float(off["max"]))
        out["offsets"] = off
    return out


def is_identity(spec: dict | None) -> bool:
    """True when ``spec`` conditions nothing (no mask, no normalisation)."""
    s = spec or {}
    off = s.get("offsets") or {}
    return (not s.get("time_window") and not s.get("mute_before_arrival") and not s.get("mute_after")
            and off.get("min") in (None, 0, 0.0) and off.get("max") is None
            and s.get("normalize", "none") == "none")


def weights(spec: dict | None, offset: np.ndarray, nt: int, dt: float) -> np.ndarray:
    """Mask ``w`` (float64, ``offset.shape + (nt,)``) of a conditioning spec.

    ``offset``: trace offsets (m), e.g. ``(n_receivers,)`` for one shot
    (:func:`offsets`); ``nt`` samples of ``dt`` s. Product of the masks the
    spec names (all ones when it names none).
    """
    s = spec or {}
    off = np.asarray(offset, np.float64)
    w = np.ones(off.shape + (int(nt),))
    tw = s.get("time_window")
    if tw:
        w = w * time_window_mask(nt, dt, tw.get("tmin"), tw.get("tmax"), tw.get("taper", 0.0))
    mb = s.get("mute_before_arrival")
    if mb:
        w = w * mute_before_arrival_mask(nt, dt, off, mb["velocity"], mb.get("t0", 0.0), mb.get("taper", 0.0))
    ma = s.get("mute_after")
    if ma:
        w = w * mute_after_mask(nt, dt, ma["tmax"], ma.get("taper", 0.0))
    o = s.get("offsets") or {}
    if o.get("min") or o.get("max") is not None:
        w = w * offset_mask(off, o.get("min") or 0.0, o.get("max"))[..., None]
    return w


def _normalize(x: np.ndarray, mode: str) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``y = N(x)`` per trace (last axis) and the function ``a -> N'(x)^T a``."""
    if mode == "none":
        return x, lambda a: a
    if mode == "l2":
        s = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
        live = s > 0
        inv = np.divide(1.0, s, out=np.zeros_like(s), where=live)
        y = x * inv
        return y, lambda a: (a - y * np.sum(y * a, axis=-1, keepdims=True)) * inv
    if mode == "max":
        k = np.argmax(np.abs(x), axis=-1)[..., None]
        xk = np.take_along_axis(x, k, axis=-1)
        m = np.abs(xk)
        inv = np.divide(1.0, m, out=np.zeros_like(m), where=m > 0)
        y = x * inv

        def adjoint(a: np.ndarray) -> np.ndarray:
            g = a * inv
            corr = -np.sum(a * x, axis=-1, keepdims=True) * inv * inv * np.sign(xk)
            np.put_along_axis(g, k, np.take_along_axis(g, k, axis=-1) + corr, axis=-1)
            return g

        return y, adjoint
    raise ValueError(f"normalize: {mode!r} is not allowed; allowed values: {', '.join(NORMALIZE_MODES)}")


def conditioned(misfit, w: np.ndarray | None = None, normalize: str = "none") -> misfits.MisfitFn:
    """The misfit ``(syn, obs, dt) -> (J, adj)`` of ``N(w syn)`` against ``N(w obs)``.

    ``misfit``: a name or callable (:func:`fwi_core.misfits.get`); ``w``:
    weights broadcasting to the data (``(n_receivers, nt)`` for one shot) or
    None; ``normalize``: ``none``, ``max`` or ``l2``. ``adj`` is exact (see the
    module docstring), in the dtype of ``syn``.
    """
    fn = misfits.get(misfit)
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize: {normalize!r} is not allowed; allowed values: {', '.join(NORMALIZE_MODES)}")
    if w is None and normalize == "none":
        return fn
    w = None if w is None else np.asarray(w, np.float64)

    def f(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
        s = np.asarray(syn, np.float64)
        o = np.asarray(obs, np.float64)
        if w is not None:
            s, o = s * w, o * w
        ys, back = _normalize(s, normalize)
        yo, _ = _normalize(o, normalize)
        J, adj = fn(ys, yo, dt)
        g = back(np.asarray(adj, np.float64))
        if w is not None:
            g = g * w
        return float(J), g.astype(np.asarray(syn).dtype, copy=False)

    return f


def shot_misfit(misfit, spec: dict | None, offset: np.ndarray, nt: int, dt: float) -> Any:
    """The misfit of one shot under a band's conditioning (``misfit`` itself
    when ``spec`` conditions nothing). ``offset``: ``(n_receivers,)`` m."""
    if is_identity(spec):
        return misfit
    s = spec or {}
    w = weights(s, offset, nt, dt)
    return conditioned(misfit, None if np.all(w == 1.0) else w, s.get("normalize", "none"))
