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

from ..artifacts import replacing
from ..traces.misfits import cross_correlation_shift
from ..traces.signal import _positive


def _figure(figsize: tuple[float, float]) -> "Figure":
    """An Agg figure (no pyplot state); matplotlib is imported here, on first
    use, so the gradient jobs that only compute risks do not pay for it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig

__all__ = ["time_shifts", "live_traces", "cycle_skip_risk", "plot_cycle_skip",
           "warn_if_cycle_skipping", "risk_to_dataset", "risk_from_dataset", "merge_risks",
           "plot_cycle_skip_bands", "plot_cycle_skip_history"]

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
    fmax = _positive("fmax", fmax)
    return _summary(time_shifts(syn, obs, dt, max_lag=max_lag), live_traces(syn, obs), 0.5 / fmax, fmax)


def _summary(shifts: np.ndarray, live: np.ndarray, half: float, fmax: float) -> dict[str, Any]:
    """The risk dict of :func:`cycle_skip_risk` from shifts (s) and the live-trace mask."""
    shifts = np.asarray(shifts, np.float64)
    live = np.asarray(live, bool)
    n_live = int(live.sum())
    n_skip = int(np.sum(live & (np.abs(shifts) > half)))
    return {"shifts": shifts, "half_period": float(half), "fmax": float(fmax), "live": live,
            "n_live": n_live, "n_skipped": n_skip, "fraction": n_skip / n_live if n_live else 0.0}


def _check_risk(risk: dict[str, Any]) -> None:
    for key in ("shifts", "half_period", "live", "fraction"):
        if key not in risk:
            raise ValueError(f"risk: missing key {key!r} (pass the dict of cycle_skip_risk)")


def _draw_cycle_skip(axes: list, risk: dict[str, Any], offsets: np.ndarray | None,
                     bins: int, title: str = "") -> None:
    """Histogram (and shift vs offset) of one risk dict on the given axes."""
    _check_risk(risk)
    shifts = np.asarray(risk["shifts"], dtype=float)
    live = np.asarray(risk["live"], dtype=bool)
    half = float(risk["half_period"])
    ax = axes[0]
    ax.hist(shifts[live] * 1e3, bins=bins, color="0.5")
    for x in (-half, half):
        ax.axvline(x * 1e3, color="r", ls="--")
    ax.set_xlabel("time shift syn - obs (ms)")
    ax.set_ylabel("traces")
    ax.set_title(f"{title}{100 * risk['fraction']:.1f}% of traces beyond T/2 = {half * 1e3:.1f} ms")
    if offsets is not None:
        try:
            off = np.broadcast_to(np.asarray(offsets, dtype=float), shifts.shape)
        except ValueError:
            raise ValueError(f"offsets: shape {np.shape(offsets)} does not match the shifts "
                             f"shape {shifts.shape}") from None
        bad = live & (np.abs(shifts) > half)
        ax2 = axes[1]
        ax2.scatter(off[live & ~bad], shifts[live & ~bad] * 1e3, s=6, c="k")
        ax2.scatter(off[bad], shifts[bad] * 1e3, s=6, c="r")
        for y in (-half, half):
            ax2.axhline(y * 1e3, color="r", ls="--")
        ax2.set_xlabel("offset (m)")
        ax2.set_ylabel("time shift (ms)")


def plot_cycle_skip(risk: dict[str, Any], offsets: np.ndarray | None = None,
                    path: str | Path | None = None, bins: int = 41) -> Figure:
    """Figure of a :func:`cycle_skip_risk` result (Agg canvas, no pyplot state).

    Left: histogram of the live traces' shifts (ms) with the ``+-half_period``
    lines. Right (if ``offsets``, m, shape of ``risk["shifts"]`` or
    broadcastable to it): shift vs offset, traces beyond half a period in red.
    Saved to ``path`` if given. Returns the figure.
    """
    return plot_cycle_skip_bands([risk], offsets, path, bins)


def plot_cycle_skip_bands(risks: list[dict[str, Any]], offsets: np.ndarray | None = None,
                          path: str | Path | None = None, bins: int = 41,
                          labels: list[str] | None = None) -> Figure:
    """One row of :func:`plot_cycle_skip` panels per risk dict (e.g. the first
    iteration of every band), titled by ``labels``. Saved to ``path`` if given."""
    if not risks:
        raise ValueError("risks: need at least one cycle_skip_risk dict")
    ncols = 1 if offsets is None else 2
    fig = _figure((5 * ncols, 4 * len(risks)))
    for i, risk in enumerate(risks):
        axes = [fig.add_subplot(len(risks), ncols, ncols * i + k + 1) for k in range(ncols)]
        _draw_cycle_skip(axes, risk, offsets, bins, f"{labels[i]}: " if labels else "")
    if path is not None:
        with replacing(path) as tmp:
            fig.savefig(tmp)
    return fig


def plot_cycle_skip_history(rows: list[dict[str, Any]], path: str | Path | None = None,
                            threshold: float | None = None) -> Figure:
    """Line plot of the fraction of traces beyond half a period against the
    iteration, one line per band. ``rows``: dicts with ``band``,
    ``iteration``, ``fraction`` (and ``fmax``, Hz, for the legend);
    ``threshold`` (fraction) drawn as a dashed line."""
    fig = _figure((6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for b in sorted({r["band"] for r in rows}):
        rb = sorted((r for r in rows if r["band"] == b), key=lambda r: r["iteration"])
        ax.plot([r["iteration"] for r in rb], [100 * r["fraction"] for r in rb], "o-",
                label=f"band {b}" + (f" (fmax {rb[0]['fmax']:g} Hz)" if rb[0].get("fmax") else ""))
    if threshold is not None:
        ax.axhline(100 * threshold, color="r", ls="--", label="warning threshold")
    ax.set_xlabel("iteration in band")
    ax.set_ylabel("traces beyond T/2 (%)")
    ax.set_title("cycle-skipping risk")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        with replacing(path) as tmp:
            fig.savefig(tmp)
    return fig


def risk_to_dataset(risk: dict[str, Any], shots: np.ndarray) -> "xr.Dataset":
    """A risk of data ``(n_shots, n_receivers, nt)`` as an artifact: variables
    ``shift`` (s) and ``live`` (shot, receiver), attrs ``half_period``,
    ``fmax``, ``n_live``, ``n_skipped``, ``cycle_skip_fraction``."""
    import xarray as xr

    return xr.Dataset(
        {"shift": (("shot", "receiver"), np.asarray(risk["shifts"], np.float64)),
         "live": (("shot", "receiver"), np.asarray(risk["live"], bool))},
        coords={"shot": np.asarray(shots)},
        attrs={"half_period": float(risk["half_period"]), "fmax": float(risk["fmax"]),
               "n_live": int(risk["n_live"]), "n_skipped": int(risk["n_skipped"]),
               "cycle_skip_fraction": float(risk["fraction"])})


def risk_from_dataset(ds) -> dict[str, Any]:
    """The :func:`cycle_skip_risk` dict of an artifact written with :func:`risk_to_dataset`."""
    return _summary(ds["shift"].values, ds["live"].values, float(ds.attrs["half_period"]), float(ds.attrs["fmax"]))


def merge_risks(risks: list[dict[str, Any]]) -> dict[str, Any]:
    """One risk dict from those of several shot groups of the same band
    (shifts and live masks concatenated along the first axis, in order)."""
    if not risks:
        raise ValueError("risks: need at least one cycle_skip_risk dict")
    return _summary(np.concatenate([r["shifts"] for r in risks]), np.concatenate([r["live"] for r in risks]),
                    risks[0]["half_period"], risks[0]["fmax"])


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
