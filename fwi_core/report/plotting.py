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



def _save(fig, path: str, title: str = "", tight: bool = True) -> None:
    """Title (if any), tight layout, write the PNG, free the figure."""
    if title:
        fig.suptitle(title)
    if tight:
        fig.tight_layout()
    with replacing(path) as tmp:  # all or nothing: a killed job leaves no half-written PNG
        fig.savefig(tmp, dpi=110)
    plt.close(fig)

def _extent(da: xr.DataArray):
    """imshow extent (km) of a 2-D section: its last dim across, its first down."""
    v, h = (da[d].values / 1000.0 for d in da.dims)
    return [h[0], h[-1], v[-1], v[0]]


def slices(da: xr.DataArray, at: dict[str, float] | None = None) -> dict[str, xr.DataArray]:
    """Three orthogonal sections of a 3-D ``(z, y, x)`` field through one point:
    ``inline`` (z, x) at y, ``crossline`` (z, y) at x and ``depth slice``
    (y, x) at z. ``at`` gives the point in metres per dim (default: the
    middle of each axis); the nearest grid point is used and named in the keys."""
    at = at or {}
    idx = {d: (int(np.abs(da[d].values - at[d]).argmin()) if d in at else da.sizes[d] // 2) for d in da.dims}
    where = {d: float(da[d].values[i]) for d, i in idx.items()}
    return {f"inline y={where['y']:.0f} m": da.isel(y=idx["y"]),
            f"crossline x={where['x']:.0f} m": da.isel(x=idx["x"]),
            f"depth slice z={where['z']:.0f} m": da.isel(z=idx["z"])}


def _sections(da: xr.DataArray, at=None) -> dict[str, xr.DataArray]:
    """A 2-D field as it is, a 3-D one as its three orthogonal :func:`slices`."""
    return {"": da} if da.ndim == 2 else slices(da, at)


def _grid_figure(rows: int, da: xr.DataArray, at=None):
    """A figure of ``rows`` rows of the sections of ``da`` (one column in 2-D, three in 3-D)."""
    secs = list(_sections(da, at).values())
    span = [[float(s[d].values[-1] - s[d].values[0]) or 1.0 for d in s.dims] for s in secs]
    widths = [w for _, w in span]
    fig_w = 9.0 if len(secs) == 1 else 13.0
    # the first section's panel, as wide as its share of the figure, at true aspect (within limits)
    height = min(max(0.85 * fig_w * widths[0] / sum(widths) * span[0][0] / span[0][1], 1.4), 4.5)
    fig, axes = plt.subplots(rows, len(secs), figsize=(fig_w, 0.8 + rows * (height + 0.9)), squeeze=False,
                             gridspec_kw={"width_ratios": widths}, layout="constrained")
    return fig, axes


def _label(ax, da: xr.DataArray, name: str) -> None:
    ax.set_title(name, fontsize=10)
    ax.set_ylabel(f"{da.dims[0]} [km]")
    ax.set_xlabel(f"{da.dims[1]} [km]")


#: How each kind of panel is drawn: colour map, and whether its scale is symmetric about 0.
_STYLES = {"vp": ("viridis", False), "diff": ("RdBu_r", True), "gradient": ("RdBu_r", True), "mask": ("gray", False)}


def _draw_rows(rows: list[tuple[str, xr.DataArray, str, dict]], path: str, title: str, at=None,
               devices=None) -> str:
    """One row per ``(name, field, style, colorbar kw)``: the field (2-D) or its
    three sections (3-D), one colour bar per row; ``devices`` (sources,
    receivers; m) drawn on the vp panels (2-D) or their depth slices (3-D)."""
    fig, axes = _grid_figure(len(rows), rows[0][1], at)
    for row_axes, (name, da, style, cbar) in zip(axes, rows):
        cmap, symmetric = _STYLES[style]
        lim = cbar.pop("lim", None)
        if lim is None:
            c = float(np.percentile(np.abs(da.values), 99.5)) or 1.0
            lim = (-c, c) if symmetric else (float(da.min()), float(da.max()))
        for ax, (where, sec) in zip(row_axes, _sections(da, at).items()):
            im = ax.imshow(sec.values, extent=_extent(sec), cmap=cmap, vmin=lim[0], vmax=lim[1], aspect="auto")
            _label(ax, sec, f"{name}: {where}" if where else name)
            if devices is not None and style == "vp" and sec.dims[-1] == "x" and sec.dims[0] in ("z", "y"):
                _draw_devices(ax, sec.dims[0], *devices)
        fig.colorbar(im, ax=list(row_axes), pad=0.01, **cbar)
    _save(fig, path, title, tight=False)
    return path


def _draw_devices(ax, vertical: str, sources, receivers) -> None:
    """Receivers (small triangles) and sources (stars) at their (x, z) or (x, y), km."""
    k = 0 if vertical == "z" else 1
    src = np.asarray(sources, float).reshape(-1, np.shape(sources)[-1])
    rec = np.unique(np.asarray(receivers, float).reshape(-1, src.shape[-1]), axis=0)
    if k >= src.shape[-1] - 1 and vertical == "y":
        return
    ax.plot(rec[:, -1] / 1000, rec[:, k] / 1000, "v", ms=2.5, color="w", mec="k", mew=0.3, ls="none",
            label="receivers")
    ax.plot(src[:, -1] / 1000, src[:, k] / 1000, "*", ms=7, color="orange", mec="k", mew=0.4, ls="none",
            label="sources")


def plot_models(models: dict[str, xr.DataArray], path: str, vmin=None, vmax=None, title: str = "",
                at: dict[str, float] | None = None, devices: tuple | None = None) -> str:
    """Velocity models (m/s) stacked vertically on one colour scale, then the
    change the inversion made: ``final - true`` when both are given, else
    ``final - initial``. A 3-D model is drawn as three orthogonal sections
    through ``at`` (:func:`slices`) per row. ``devices``: (sources, receivers)
    positions (m), drawn projected onto the (z, x) and (y, x) sections."""
    names = list(models)
    vals = [models[n].values for n in names]
    vmin = float(min(v.min() for v in vals)) if vmin is None else vmin
    vmax = float(max(v.max() for v in vals)) if vmax is None else vmax
    rows = [(n, models[n], "vp", {"label": "vp [m/s]", "lim": (vmin, vmax)}) for n in names]
    ref = "true" if "true" in models else "initial" if "initial" in models else None
    if "final" in models and ref:
        rows.append((f"final - {ref}", models["final"] - models[ref], "diff", {"label": "vp difference [m/s]"}))
    return _draw_rows(rows, path, title, at, devices)


def plot_gradient(grad: xr.Dataset, path: str, title: str = "") -> str:
    """Raw gradient, preconditioned gradient and the mask (2-D, or three
    orthogonal sections per row in 3-D), each row on its own colour scale."""
    unit = "misfit per (m/s)"
    rows = [("gradient (dJ/dvp)", grad["gradient"], "gradient", {"label": f"dJ/dvp [{unit}]"}),
            ("preconditioned", grad["pgradient"], "gradient", {"label": f"P dJ/dvp [{unit}]"}),
            ("mask", grad["mask"], "mask", {"label": "mask weight [1]", "lim": (0.0, 1.0)})]
    return _draw_rows(rows, path, title)


def receiver_line(sources: np.ndarray, receivers: np.ndarray, shot: int,
                  live: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The receivers of ``shot`` on the line through its source, in order:
    all of them in 2-D; in 3-D those on the receiver row (same y) nearest the
    source, sorted by x. ``live`` (``(n_receivers,)`` booleans): only those
    (masked receiver slots and dead traces left out). Returns their indices
    and signed offsets along x (m)."""
    src, rec = np.asarray(sources)[shot], np.asarray(receivers)
    rec = rec[shot] if rec.ndim == 3 else rec
    idx = np.arange(rec.shape[0]) if live is None else np.flatnonzero(live)
    if rec.shape[-1] == 3:
        ys = np.unique(rec[idx, 1])
        y = ys[np.abs(ys - src[1]).argmin()]
        idx = idx[rec[:, 1] == y]
    idx = idx[np.argsort(rec[idx, -1], kind="stable")]
    return idx, rec[idx, -1] - src[-1]


def _wiggles(ax, v: np.ndarray, across: np.ndarray, time: np.ndarray, clip: float, n: int) -> None:
    """``n`` traces of ``v`` (receiver, time) drawn as wiggles over an image."""
    if n <= 0 or v.shape[0] < 2:
        return
    step = float(np.median(np.abs(np.diff(across)))) * max(1, v.shape[0] // n)
    for k in np.linspace(0, v.shape[0] - 1, min(n, v.shape[0])).astype(int):
        ax.plot(across[k] + 0.45 * step * np.clip(v[k] / clip, -1.0, 1.0), time, color="k", lw=0.5)


def plot_shot(rows: list[dict], path: str, title: str = "", wiggles: int = 6) -> str:
    """Shot gathers, one row per entry of ``rows``: ``{"label", "obs",
    "offsets" (m, one per receiver, the x axis), "time" (s), "syn": {name: gather}}``,
    gathers ``(receiver, time)``. Each row: observed, every predicted gather and
    the residual of the last one, on the row's colour scale (colour bar,
    data units), with ``wiggles`` traces drawn over the observed and the
    predicted panels."""
    ncol = max(2 + len(r["syn"]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.9 * ncol, 0.8 + 3.4 * len(rows)), squeeze=False,
                             layout="constrained")
    for row_axes, r in zip(axes, rows):
        obs, off, time = np.asarray(r["obs"]), np.asarray(r["offsets"], float) / 1000.0, np.asarray(r["time"])
        last = list(r["syn"])[-1]
        panels = [("observed", obs), *((f"predicted ({k})", v) for k, v in r["syn"].items()),
                  (f"residual ({last})", r["syn"][last] - obs)]
        c = float(np.percentile(np.abs(obs), 99)) or 1.0
        for ax, (name, v) in zip(row_axes, panels):
            v = np.asarray(v)
            im = ax.imshow(v.T, aspect="auto", cmap="gray", vmin=-c, vmax=c,
                           extent=[off[0], off[-1], time[-1], time[0]])
            if not name.startswith("residual"):
                _wiggles(ax, v, off, time, c, wiggles)
            ax.set_xlim(off[0], off[-1])
            ax.set_title(f"{r['label']}\n{name}" if ax is row_axes[0] else f"\n{name}", fontsize=9)
            ax.set_xlabel("offset [km]")
        for ax in row_axes[len(panels):]:
            ax.axis("off")
        row_axes[0].set_ylabel("time [s]")
        fig.colorbar(im, ax=list(row_axes[:len(panels)]), pad=0.01, label="amplitude [source units]")
    _save(fig, path, title, tight=False)
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
