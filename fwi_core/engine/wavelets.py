"""Source wavelets and their spectral summary (frequencies in Hz, times in s)."""
from __future__ import annotations

import numpy as np


def ricker(freq: float, dt: float, nt: int, peak_time: float | None = None,
           dtype: type = np.float32) -> np.ndarray:
    """Ricker wavelet of peak frequency ``freq`` (Hz), sampled at ``k*dt``.

    Returns an array of shape ``(nt,)``. The peak is at ``peak_time``
    (default ``1.5 / freq`` s) so the wavelet starts from (almost) zero.
    """
    for name, val in (("freq", freq), ("dt", dt)):
        if not np.isfinite(val) or val <= 0:
            raise ValueError(f"{name} must be a positive number, got {val!r}")
    if int(nt) != nt or nt < 1:
        raise ValueError(f"nt must be a positive integer, got {nt!r}")
    t0 = 1.5 / freq if peak_time is None else float(peak_time)
    t = np.arange(int(nt)) * dt - t0
    a = (np.pi * freq * t) ** 2
    return ((1.0 - 2.0 * a) * np.exp(-a)).astype(dtype)


def amplitude_spectrum(w: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and amplitude spectrum of a wavelet (or the max over wavelets)."""
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    n = int(2 ** np.ceil(np.log2(max(w.shape[-1], 2) * 4)))
    spec = np.abs(np.fft.rfft(w, n=n, axis=-1)).max(axis=0)
    return np.fft.rfftfreq(n, dt), spec


def dominant_frequency(w: np.ndarray, dt: float) -> float:
    """Frequency (Hz) of the spectral peak of the wavelet(s)."""
    f, spec = amplitude_spectrum(w, dt)
    return float(f[int(np.argmax(spec))])


def max_frequency(w: np.ndarray, dt: float, level: float = 0.05) -> float:
    """Useful maximum frequency (Hz): the highest frequency whose amplitude is
    at least ``level`` times the spectral peak (for a Ricker of peak frequency
    f0 this is about 2.4 f0 at the default level)."""
    f, spec = amplitude_spectrum(w, dt)
    if spec.max() == 0:
        return 0.0
    above = np.nonzero(spec >= level * spec.max())[0]
    return float(f[above[-1]])


def as_wavelets(w: np.ndarray, n_shots: int, nt: int, dtype: type) -> np.ndarray:
    """Check a wavelet argument and return it as a C-contiguous ``(n_shots, nt)`` array."""
    w = np.asarray(w)
    if w.ndim == 1:
        if w.shape[0] != nt:
            raise ValueError(f"w: wavelet has {w.shape[0]} samples but nt={nt}")
        w = np.broadcast_to(w, (n_shots, nt))
    elif w.ndim == 2:
        if w.shape != (n_shots, nt):
            raise ValueError(f"w: wavelet array has shape {w.shape}, expected (nt,)=({nt},) or "
                             f"(n_shots, nt)=({n_shots}, {nt})")
    else:
        raise ValueError(f"w: wavelet must have shape (nt,) or (n_shots, nt), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w: wavelet contains NaN or inf")
    return np.ascontiguousarray(w, dtype=dtype)
