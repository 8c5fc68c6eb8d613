"""Figures of an inversion: models, gradient, shot data/residuals, convergence,
comparison across runs. Every function writes a PNG and returns its path."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from ..artifacts import replacing  # noqa: E402



def _save(fig, path: str, title: str = "") -> None:
    """Title (if any), tight layout, write the PNG, free the figure."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with replacing(path) as tmp:  # all or nothing: a killed job leaves no half-written PNG
        fig.savefig(tmp, dpi=110)
    plt.close(fig)

def _extent(da: xr.DataArray):
    z, x = da.z.values / 1000.0, da.x.values / 1000.0
    return [x[0], x[-1], z[-1], z[0]]


def plot_models(models: dict[str, xr.DataArray], path: str, vmin=None, vmax=None, title: str = "") -> str:
    """Velocity models stacked vertically, shared colour scale."""
    names = list(models)
    vals = [models[n].values for n in names]
    vmin = float(min(v.min() for v in vals)) if vmin is None else vmin
    vmax = float(max(v.max() for v in vals)) if vmax is None else vmax
    da0 = models[names[0]]
    aspect = da0.sizes["z"] / da0.sizes["x"]
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 0.6 + len(names) * (9 * aspect + 0.6)), squeeze=False)
    for ax, n in zip(axes[:, 0], names):
        im = ax.imshow(models[n].values, extent=_extent(models[n]), cmap="jet", vmin=vmin, vmax=vmax,
                       aspect="auto")
        ax.set_title(n, fontsize=10)
        ax.set_ylabel("z [km]")
        fig.colorbar(im, ax=ax, label="vp [m/s]", pad=0.01)
    axes[-1, 0].set_xlabel("x [km]")
    _save(fig, path, title)
    return path


def plot_gradient(grad: xr.Dataset, path: str, title: str = "") -> str:
    """Raw gradient, preconditioned gradient and the mask."""
    panels = [("gradient (dJ/dvp)", grad["gradient"]), ("preconditioned", grad["pgradient"]),
              ("mask", grad["mask"])]
    da0 = grad["gradient"]
    aspect = da0.sizes["z"] / da0.sizes["x"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 0.6 + 3 * (9 * aspect + 0.6)))
    for ax, (n, da) in zip(axes, panels):
        v = da.values
        if n == "mask":
            im = ax.imshow(v, extent=_extent(da), cmap="gray", vmin=0, vmax=1, aspect="auto")
        else:
            c = float(np.percentile(np.abs(v), 99.5)) or 1.0
            im = ax.imshow(v, extent=_extent(da), cmap="seismic", vmin=-c, vmax=c, aspect="auto")
        ax.set_title(n, fontsize=10)
        ax.set_ylabel("z [km]")
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1].set_xlabel("x [km]")
    _save(fig, path, title)
    return path


def plot_shot(obs: np.ndarray, syn: np.ndarray, time: np.ndarray, path: str, title: str = "",
              syn0: np.ndarray | None = None) -> str:
    """Observed, predicted and residual gathers of one shot (receiver x time)."""
    panels = [("observed", obs), ("predicted (final)", syn), ("residual (final)", syn - obs)]
    if syn0 is not None:
        panels.append(("residual (initial)", syn0 - obs))
    c = float(np.percentile(np.abs(obs), 99)) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 4.5), sharey=True)
    for ax, (n, v) in zip(axes, panels):
        ax.imshow(v.T, aspect="auto", cmap="gray", vmin=-c, vmax=c,
                  extent=[0, v.shape[0] - 1, time[-1], time[0]])
        ax.set_title(n, fontsize=10)
        ax.set_xlabel("receiver")
    axes[0].set_ylabel("time [s]")
    _save(fig, path, title)
    return path


def plot_misfit(history: Sequence[dict], path: str, title: str = "") -> str:
    """Misfit per iteration (normalised by each band's first misfit) and model error."""
    has_err = any(h.get("model_error") is not None for h in history)
    fig, axes = plt.subplots(1, 2 if has_err else 1, figsize=(11 if has_err else 6, 4), squeeze=False)
    ax = axes[0, 0]
    k = 0
    bands = sorted({h["band"] for h in history})
    for b in bands:
        hb = [h for h in history if h["band"] == b]
        j0 = hb[0]["J0"] or 1.0
        xs = np.arange(k, k + len(hb) + 1)
        ys = [hb[0]["J0"] / j0] + [h["J"] / j0 for h in hb]
        ax.plot(xs, ys, "o-", label=f"band {b} (fmax {hb[0].get('fmax', '?')} Hz)")
        for x, h in zip(xs[1:], hb):
            if h["status"] == "failed":
                ax.plot(x, h["J"] / j0, "rx", ms=10)
        k += len(hb)
    ax.set_xlabel("iteration (cumulative)")
    ax.set_ylabel("misfit / first misfit of band")
    ax.set_title("data misfit")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if has_err:
        ax = axes[0, 1]
        e = [history[0].get("model_error0")] + [h.get("model_error") for h in history]
        ax.plot(np.arange(len(e)), e, "s-", color="k")
        ax.set_xlabel("iteration (cumulative)")
        ax.set_ylabel("||vp - vp_true|| / ||vp_true||")
        ax.set_title("model error")
        ax.grid(alpha=0.3)
    _save(fig, path, title)
    return path


def plot_comparison(rows: Sequence[dict], path: str) -> str:
    """Bar charts across runs: final model error, misfit reduction, compute time."""
    names = [r["run"] for r in rows]
    keys = [("model_error_final", "final model error"), ("misfit_reduction", "misfit reduction (last band)"),
            ("compute_s", "compute time [s]")]
    keys = [(k, t) for k, t in keys if any(r.get(k) is not None for r in rows)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.5), squeeze=False)
    for ax, (k, t) in zip(axes[0], keys):
        ax.bar(names, [r.get(k) or 0.0 for r in rows], color="tab:blue")
        ax.set_title(t, fontsize=10)
        ax.tick_params(axis="x", rotation=30)
    _save(fig, path)
    return path
