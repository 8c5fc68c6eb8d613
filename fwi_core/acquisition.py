"""Acquisition geometry and the off-grid point operators.

Positions are ``[z, x]`` in metres. A point (source or receiver) is spread on
the grid with Kaiser-windowed sinc weights (Hicks 2002), radius ``RADIUS``
cells per axis, so off-grid points keep the accuracy of the stencil. With a
free surface the weights that fall above the surface are mirrored with a
negative sign (the surface row itself carries none), as the surface's
antisymmetric image requires. Receivers read ``sum(w * u)``; sources add
``w / (dz*dx) * f``, a discrete delta: the receiver operator is exactly the
transpose of the source operator up to the cell area.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .grid import HALO, Layout, check_model

#: Half-width (cells) of the windowed sinc, and its Kaiser shape for that radius.
RADIUS = 4
KAISER_BETA = 6.31


def _as_positions(a: np.ndarray, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != ndim or a.shape[-1] != 2:
        want = "(n, 2)" if ndim == 2 else "(n_shots, n_receivers, 2)"
        raise ValueError(f"{name}: expected positions of shape {want} as [z, x] in metres, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: positions contain NaN or inf")
    return a


@dataclass(frozen=True, eq=False)
class Acquisition:
    """Source and receiver positions ``[z, x]`` (m).

    ``sources``: ``(n_shots, 2)``; ``receivers``: ``(n_receivers, 2)`` shared
    by all shots or ``(n_shots, n_receivers, 2)``. Stored as float64 with
    receivers always ``(n_shots, n_receivers, 2)``.
    """

    sources: np.ndarray
    receivers: np.ndarray

    def __init__(self, sources: np.ndarray, receivers: np.ndarray) -> None:
        src = _as_positions(sources, "sources", 2)
        rec = np.asarray(receivers, dtype=np.float64)
        if rec.ndim == 2:
            rec = np.broadcast_to(_as_positions(rec, "receivers", 2), (src.shape[0], *rec.shape))
        rec = _as_positions(rec, "receivers", 3)
        if rec.shape[0] != src.shape[0]:
            raise ValueError(f"receivers: {rec.shape[0]} receiver sets for {src.shape[0]} sources")
        if src.shape[0] == 0 or rec.shape[1] == 0:
            raise ValueError("sources/receivers: need at least one source and one receiver")
        object.__setattr__(self, "sources", src)
        object.__setattr__(self, "receivers", np.ascontiguousarray(rec))

    @property
    def n_shots(self) -> int:
        return self.sources.shape[0]

    @property
    def n_receivers(self) -> int:
        return self.receivers.shape[1]

    def select(self, shots) -> "Acquisition":
        """The acquisition restricted to the given shot indices (int, slice or list)."""
        idx = np.arange(self.n_shots)[shots]
        idx = np.atleast_1d(idx)
        return Acquisition(self.sources[idx], self.receivers[idx])

    @classmethod
    def surface(cls, vp: xr.DataArray, n_shots: int, n_receivers: int,
                source_depth: float = 0.0, receiver_depth: float = 0.0,
                margin: float = 0.0) -> "Acquisition":
        """Evenly spread surface survey across the model width.

        Sources and receivers span ``[x0 + margin, x1 - margin]``, at depths
        ``source_depth``/``receiver_depth`` (m) below the model top.
        """
        check_model(vp)
        for name, n in (("n_shots", n_shots), ("n_receivers", n_receivers)):
            if int(n) != n or n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        x, z = vp["x"].values, vp["z"].values
        lo, hi = x[0] + margin, x[-1] - margin
        if hi < lo:
            raise ValueError(f"margin={margin} m leaves no room on a model {x[-1] - x[0]} m wide")
        xs = np.linspace(lo, hi, int(n_shots)) if n_shots > 1 else np.array([(lo + hi) / 2])
        xr_ = np.linspace(lo, hi, int(n_receivers)) if n_receivers > 1 else np.array([(lo + hi) / 2])
        src = np.stack([np.full_like(xs, z[0] + source_depth), xs], axis=1)
        rec = np.stack([np.full_like(xr_, z[0] + receiver_depth), xr_], axis=1)
        return cls(src, rec)

    def check_inside(self, vp: xr.DataArray) -> None:
        """Raise ``ValueError`` if any source or receiver lies outside the model."""
        z, x = vp["z"].values, vp["x"].values
        lo = np.array([z[0], x[0]])
        hi = np.array([z[-1], x[-1]])
        tol = 1e-9 * max(abs(z[-1]), abs(x[-1]), 1.0)
        for name, pos in (("sources", self.sources), ("receivers", self.receivers.reshape(-1, 2))):
            bad = np.any((pos < lo - tol) | (pos > hi + tol), axis=-1)
            if bad.any():
                p = pos[np.argmax(bad)]
                raise ValueError(
                    f"{name}: {int(bad.sum())} position(s) outside the model "
                    f"(z in [{z[0]:g}, {z[-1]:g}] m, x in [{x[0]:g}, {x[-1]:g}] m), first at "
                    f"[z={p[0]:g}, x={p[1]:g}]")


def _axis_weights(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer node offsets and Kaiser-windowed sinc weights along one axis.

    ``pos`` ``(P,)`` in grid units; returns nodes ``floor(pos)-R+1 .. floor(pos)+R``
    and their weights, both ``(P, 2R)``. A point on a node gets the exact
    point operator (weight 1 there, 0 elsewhere).
    """
    base = np.floor(pos).astype(np.int64)
    nodes = base[:, None] + np.arange(1 - RADIUS, RADIUS + 1)
    x = pos[:, None] - nodes
    win = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (x / RADIUS) ** 2, 0.0, None))) / np.i0(KAISER_BETA)
    w = np.sinc(x) * win
    on_node = np.abs(pos - np.round(pos)) < 1e-9
    w[on_node] = nodes[on_node] == np.round(pos[on_node])[:, None]
    return nodes, w


def point_operators(positions: np.ndarray, vp: xr.DataArray, layout: Layout
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices into the padded array and weights for each point.

    ``positions``: ``(n_points, 2)`` [z, x] m. Returns ``idx`` (int64) and
    ``w`` (float64), both ``(n_points, K)``, where K (at most ``(2*RADIUS)**2``)
    is the largest number of cells any point touches: each cell appears once
    per point, and unused slots have weight 0 (and point at an always-zero
    halo cell). A point on a grid node touches one cell, on a grid line 2R.
    """
    z0, x0 = float(vp["z"].values[0]), float(vp["x"].values[0])
    dz = float(vp["z"].values[1] - z0)
    dx = float(vp["x"].values[1] - x0)
    NZ, NX = layout.shape
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    n = len(pos)
    zn, wz = _axis_weights((pos[:, 0] - z0) / dz)
    xn, wx = _axis_weights((pos[:, 1] - x0) / dx)
    zn = zn + layout.mz0
    xn = xn + layout.mx0
    if layout.free_surface:
        surf = layout.mz0
        above = zn < surf
        zn = np.where(above, 2 * surf - zn, zn)  # mirror image below the surface
        wz = np.where(above, -wz, wz)
        wz = np.where(zn == surf, 0.0, wz)      # the surface itself stays u = 0
    # points that would fall outside the computed region (thin PML) carry no weight
    wz = np.where((zn >= HALO) & (zn < NZ - HALO), wz, 0.0)
    wx = np.where((xn >= HALO) & (xn < NX - HALO), wx, 0.0)
    flat = (zn[:, :, None] * NX + xn[:, None, :]).reshape(n, -1)
    wflat = (wz[:, :, None] * wx[:, None, :]).reshape(n, -1)
    # one entry per (point, cell): merge the duplicates mirroring creates, drop zeros
    key = np.arange(n)[:, None] * (NZ * NX) + flat
    keep = wflat != 0.0
    uniq, inv = np.unique(key[keep], return_inverse=True)
    merged = np.bincount(inv, weights=wflat[keep], minlength=len(uniq))
    nz_ = merged != 0.0
    uniq, merged = uniq[nz_], merged[nz_]
    owner = uniq // (NZ * NX)
    counts = np.bincount(owner, minlength=n)
    slot = np.arange(len(uniq)) - np.repeat(np.cumsum(counts) - counts, counts)
    K = max(int(counts.max(initial=0)), 1)
    idx = np.zeros((n, K), dtype=np.int64)
    wts = np.zeros((n, K))
    idx[owner, slot] = uniq % (NZ * NX)
    wts[owner, slot] = merged
    return idx, wts
