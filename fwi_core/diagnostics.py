"""Cycle-skipping diagnostics.

FWI with a waveform misfit converges to the right model only if predicted and
observed arrivals are less than half a period apart at the highest frequency
of the band (otherwise the misfit prefers aligning the wrong cycle). These
functions measure the cross-correlation time shift of every trace and report
the fraction of traces beyond half a period of ``fmax``.

Data: arrays ``(..., nt)`` (time last), e.g. ``(n_shots, n_receivers, nt)``;
xarray DataArrays with time last are accepted. Times in seconds, frequencies
in Hz, offsets in metres.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .misfits import cross_correlation_shift

__all__ = ["time_shifts", "live_traces", "cycle_skip_risk", "plot_cycle_skip",
           "warn_if_cycle_skipping"]

_log = logging.getLogger(__name__)


def time_shifts(syn: np.ndarray, obs: np.ndarray, dt: float,
                max_lag: float | None = None) -> np.ndarray:
    """Cross-correlation time shift (s) of each synthetic trace relative to the
    observed one; shape = the leading dims of ``syn`` (e.g. ``(n_shots,
    n_receivers)``). Positive: the synthetic arrives later. Sub-sample
    (see :func:`fwi_core.misfits.cross_correlation_shift`); lags limited to
    ``|lag| <= max_lag`` (s) if given; dead traces give 0."""
    return cross_correlation_shift(np.asarray(syn), np.asarray(obs), dt, max_lag=max_lag)


def live_traces(syn: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Boolean mask (leading dims) of traces where neither syn nor obs is all zero."""
    s, o = np.asarray(syn), np.asarray(obs)
    if s.shape != o.shape:
        raise ValueError(f"obs: shape {o.shape} differs from syn shape {s.shape}")
    return np.any(s != 0, axis=-1) & np.any(o != 0, axis=-1)


def cycle_skip_risk(syn: np.ndarray, obs: np.ndarray, dt: float, fmax: float,
                    max_lag: float | None = None) -> dict[str, Any]:
    """Cycle-skipping risk of a data set at the band's highest frequency ``fmax`` (Hz).

    Returns a dict with
    ``shifts`` (s, leading dims, :func:`time_shifts`), ``half_period``
    (``0.5 / fmax``, s), ``live`` (mask of non-dead traces), ``n_live``,
    ``n_skipped`` (live traces with ``|shift| > half_period``), ``fraction``
    (``n_skipped / n_live``; 0.0 if no live trace) and ``fmax``.
    """
    try:
        fmax = float(fmax)
    except (TypeError, ValueError):
        raise ValueError(f"fmax: must be a positive number, got {fmax!r}") from None
    if not np.isfinite(fmax) or fmax <= 0:
        raise ValueError(f"fmax: must be a positive finite frequency in Hz, got {fmax!r}")
    shifts = time_shifts(syn, obs, dt, max_lag=max_lag)
    live = live_traces(syn, obs)
    half = 0.5 / fmax
    n_live = int(live.sum())
    n_skip = int(np.sum(live & (np.abs(shifts) > half)))
    return {
        "shifts": shifts,
        "half_period": half,
        "fmax": fmax,
        "live": live,
        "n_live": n_live,
        "n_skipped": n_skip,
        "fraction": n_skip / n_live if n_live else 0.0,
    }


def plot_cycle_skip(risk: dict[str, Any], offsets: np.ndarray | None = None,
                    path: str | Path | None = None, bins: int = 41) -> Figure:
    """Figure of a :func:`cycle_skip_risk` result (Agg canvas, no pyplot state).

    Left: histogram of the live traces' shifts (ms) with the ``+-half_period``
    lines. Right (if ``offsets``, m, shape of ``risk["shifts"]`` or
    broadcastable to it): shift vs offset, traces beyond half a period in red.
    Saved to ``path`` if given. Returns the figure.
    """
    for key in ("shifts", "half_period", "live", "fraction"):
        if key not in risk:
            raise ValueError(f"risk: missing key {key!r} (pass the dict of cycle_skip_risk)")
    shifts = np.asarray(risk["shifts"], dtype=float)
    live = np.asarray(risk["live"], dtype=bool)
    half = float(risk["half_period"])
    ncols = 1 if offsets is None else 2
    fig = Figure(figsize=(5 * ncols, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, ncols, 1)
    ax.hist(shifts[live] * 1e3, bins=bins, color="0.5")
    for x in (-half, half):
        ax.axvline(x * 1e3, color="r", ls="--")
    ax.set_xlabel("time shift syn - obs (ms)")
    ax.set_ylabel("traces")
    ax.set_title(f"{100 * risk['fraction']:.1f}% of traces beyond T/2 = {half * 1e3:.1f} ms")
    if offsets is not None:
        try:
            off = np.broadcast_to(np.asarray(offsets, dtype=float), shifts.shape)
        except ValueError:
            raise ValueError(f"offsets: shape {np.shape(offsets)} does not match the shifts "
                             f"shape {shifts.shape}") from None
        bad = live & (np.abs(shifts) > half)
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.scatter(off[live & ~bad], shifts[live & ~bad] * 1e3, s=6, c="k")
        ax2.scatter(off[bad], shifts[bad] * 1e3, s=6, c="r")
        for y in (-half, half):
            ax2.axhline(y * 1e3, color="r", ls="--")
        ax2.set_xlabel("offset (m)")
        ax2.set_ylabel("time shift (ms)")
    if path is not None:
        fig.savefig(path)
    return fig


def warn_if_cycle_skipping(risk: dict[str, Any], threshold: float = 0.2,
                           logger: logging.Logger | None = None) -> bool:
    """Log a warning (to ``logger``, default this module's) when more than
    ``threshold`` (a fraction in [0, 1]) of the live traces are beyond half a
    period. Returns True if it warned."""
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold: must be a number in [0, 1], got {threshold!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold: must be in [0, 1], got {threshold!r}")
    if "fraction" not in risk or "half_period" not in risk:
        raise ValueError("risk: pass the dict returned by cycle_skip_risk")
    if risk["fraction"] <= threshold:
        return False
    (logger or _log).warning(
        "cycle skipping likely: %.1f%% of %d live traces are shifted by more than half a "
        "period (%.1f ms at fmax = %.3g Hz); lower the band's fmax, or use a traveltime or "
        "wasserstein misfit, or a better starting model",
        100 * risk["fraction"], risk.get("n_live", -1), 1e3 * risk["half_period"],
        risk.get("fmax", 0.5 / risk["half_period"]))
    return True
