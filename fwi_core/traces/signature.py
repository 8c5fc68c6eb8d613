"""Source-signature estimation: the least-squares wavelet of observed data
given synthetic data of a reference wavelet (Pratt 1999, "Seismic waveform
inversion in the frequency domain, part 1", eq. 17, with a water level).

With synthetics ``S = G R`` of a reference wavelet ``R`` (``G`` the Green's
functions of the current model) and observed data ``D``, the source
``W = R C`` with the correction filter

    C(f) = sum_traces conj(S) D / (sum_traces |S|^2 + eps)

minimises ``sum_traces |D - C S|^2`` at every frequency (``eps`` = 0); the
water level ``eps = water_level * max_f sum_traces |S|^2`` keeps the
frequencies where the synthetics hold no energy from blowing up (there
``C -> 0``). If ``D = G W_true`` exactly, ``W = W_true`` wherever ``S`` has
energy. Sums run over all shots and receivers (one shared signature) or per
shot. Arrays: time last, sample ``k`` at ``k * dt``.
"""
from __future__ import annotations

import numpy as np


def _fft():
    from scipy import fft
    return fft


def source_signature(syn: np.ndarray, obs: np.ndarray, reference: np.ndarray, water_level: float = 1e-4,
                     per_shot: bool = False, live: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The least-squares source signature of ``obs`` (module docstring).

    ``syn``, ``obs``: ``(n_shots, n_receivers, nt)``, ``syn`` modelled with
    ``reference`` (``(nt,)``, or ``(n_shots, nt)`` one per shot);
    ``water_level`` > 0, a fraction of the largest synthetic power;
    ``per_shot``: one signature per shot (``(n_shots, nt)``) instead of one
    shared by all (``(nt,)``); ``live``: ``(n_shots, n_receivers)``
    booleans, the traces to use (masked ones are left out).

    Returns the signature (samples ``0..nt-1``; anything the correction
    moves before ``t = 0`` is cut) and ``{"residual_reference",
    "residual_estimate"}``: ``|D - S| / |D|`` and ``|D - C S| / |D|`` over
    the live traces, the data residual of the reference and of the estimate.
    """
    s = np.asarray(syn, np.float64)
    o = np.asarray(obs, np.float64)
    if s.shape != o.shape or s.ndim != 3:
        raise ValueError(f"syn, obs: expected two arrays (n_shots, n_receivers, nt) of one shape, got {s.shape} "
                         f"and {o.shape}")
    if not water_level > 0:
        raise ValueError(f"water_level: must be a positive fraction, got {water_level!r}")
    n_shots, _, nt = s.shape
    ref = np.asarray(reference, np.float64)
    if ref.shape not in ((nt,), (n_shots, nt)):
        raise ValueError(f"reference: expected ({nt},) or ({n_shots}, {nt}), got {ref.shape}")
    if live is not None:
        m = np.asarray(live, bool)[..., None]
        s, o = s * m, o * m
    fft = _fft()
    n = fft.next_fast_len(2 * nt)
    S = fft.rfft(s, n, axis=-1)
    D = fft.rfft(o, n, axis=-1)
    R = fft.rfft(ref, n, axis=-1)
    keep = (1,) if per_shot else (0, 1)
    num = np.sum(np.conj(S) * D, axis=keep)
    den = np.sum(np.abs(S) ** 2, axis=keep)
    eps = water_level * np.max(den, axis=-1, keepdims=True)
    C = num / (den + np.where(eps > 0, eps, 1.0))
    w = fft.irfft(R * C, n, axis=-1)[..., :nt]   # broadcasts: shared or per-shot C, R
    Cs = C if not per_shot else C[:, None, :]
    fit = fft.irfft(S * Cs, n, axis=-1)[..., :nt]
    norm = float(np.linalg.norm(o)) or 1.0
    return w, {"residual_reference": float(np.linalg.norm(o - s)) / norm,
               "residual_estimate": float(np.linalg.norm(o - fit)) / norm}
