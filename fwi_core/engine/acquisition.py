"""Acquisition geometry and the off-grid point operators.

Positions are ``[z, x]`` (2-D) or ``[z, y, x]`` (3-D) in metres, in the order
of the model's dims. A point (source or receiver) is spread on the grid with
Kaiser-windowed sinc weights (Hicks 2002), radius ``RADIUS`` cells per axis,
so off-grid points keep the accuracy of the stencil. With a
free surface the weights that fall above the surface are mirrored with a
negative sign (the surface row itself carries none), as the surface's
antisymmetric image requires. Receivers read ``sum(w * u)``; sources add
``w / (cell volume) * f``, a discrete delta: the receiver operator is exactly
the transpose of the source operator up to the cell volume (area in 2-D).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import xarray as xr

from ..geometry import snap, surface_positions
from .grid import DIMS, HALO, Layout, check_model

#: Half-width (cells) of the windowed sinc, and its Kaiser shape for that radius.
RADIUS = 4
KAISER_BETA = 6.31


def _as_positions(a: np.ndarray, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != ndim or a.shape[-1] not in DIMS:
        want = "(n, d)" if ndim == 2 else "(n_shots, n_receivers, d)"
        raise ValueError(f"{name}: expected positions of shape {want} with d = 2 [z, x] or 3 [z, y, x] "
                         f"in metres, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: positions contain NaN or inf")
    return a


@dataclass(frozen=True, eq=False)
class Acquisition:
    """Source and receiver positions ``[z, x]`` or ``[z, y, x]`` (m).

    ``sources``: ``(n_shots, d)``; ``receivers``: ``(n_receivers, d)`` shared
    by all shots or ``(n_shots, n_receivers, d)``, with ``d`` = 2 or 3 the
    model's dimension. Stored as float64 with receivers always
    ``(n_shots, n_receivers, d)``.

    ``mask``: ``(n_shots, n_receivers)`` booleans, True where a shot has that
    receiver (default: all True). Shots with receiver sets of different sizes
    (a streamer moving with the boat, a rolling land spread; :meth:`per_shot`)
    are padded to the largest count; a padded slot repeats one of the shot's
    own receivers and is masked. A masked receiver records nothing (its
    interpolation weights are zero, so the forward trace is exactly zero and
    the adjoint injects nothing from it) and its trace is left out of every
    misfit (:func:`fwi_core.traces.misfits.masked`).
    """

    sources: np.ndarray
    receivers: np.ndarray
    mask: np.ndarray

    def __init__(self, sources: np.ndarray, receivers: np.ndarray, mask: np.ndarray | None = None) -> None:
        src = _as_positions(sources, "sources", 2)
        rec = np.asarray(receivers, dtype=np.float64)
        if rec.ndim == 2:
            rec = np.broadcast_to(_as_positions(rec, "receivers", 2), (src.shape[0], *rec.shape))
        rec = _as_positions(rec, "receivers", 3)
        if rec.shape[-1] != src.shape[-1]:
            raise ValueError(f"receivers: {rec.shape[-1]} coordinates per position, sources have {src.shape[-1]}")
        if rec.shape[0] != src.shape[0]:
            raise ValueError(f"receivers: {rec.shape[0]} receiver sets for {src.shape[0]} sources")
        if src.shape[0] == 0 or rec.shape[1] == 0:
            raise ValueError("sources/receivers: need at least one source and one receiver")
        if mask is None:
            m = np.ones(rec.shape[:2], bool)
        else:
            m = np.asarray(mask)
            if m.shape != rec.shape[:2] or m.dtype.kind not in "bui":
                raise ValueError(f"mask: expected booleans of shape (n_shots, n_receivers) = {rec.shape[:2]}, "
                                 f"got {m.dtype} {m.shape}")
            m = m.astype(bool)
            empty = np.flatnonzero(~m.any(axis=1))
            if empty.size:
                raise ValueError(f"mask: shot {int(empty[0])} has no live receiver"
                                 + (f" ({empty.size} shots in all)" if empty.size > 1 else ""))
        m.setflags(write=False)
        object.__setattr__(self, "sources", src)
        object.__setattr__(self, "receivers", np.ascontiguousarray(rec))
        object.__setattr__(self, "mask", m)

    @classmethod
    def per_shot(cls, sources: np.ndarray, receivers: Sequence[np.ndarray]) -> "Acquisition":
        """Shots with receiver sets of their own sizes: ``receivers[s]`` is
        ``(n_s, d)`` (m). Padded to the largest ``n_s`` by repeating the shot's
        last receiver, with those slots masked (see the class docstring)."""
        src = _as_positions(sources, "sources", 2)
        if len(receivers) != src.shape[0]:
            raise ValueError(f"receivers: {len(receivers)} receiver sets for {src.shape[0]} sources")
        sets = [_as_positions(r, f"receivers[{s}]", 2) for s, r in enumerate(receivers)]
        for s, r in enumerate(sets):
            if r.shape[0] == 0:
                raise ValueError(f"receivers[{s}]: shot {s} has no receiver")
        n = max(r.shape[0] for r in sets)
        rec = np.stack([np.concatenate([r, np.repeat(r[-1:], n - r.shape[0], axis=0)]) for r in sets])
        mask = np.arange(n)[None, :] < np.array([r.shape[0] for r in sets])[:, None]
        return cls(src, rec, mask)

    @classmethod
    def from_segy(cls, gathers, vp: xr.DataArray | None = None) -> "Acquisition":
        """The geometry of SEG-Y shot gathers
        (:func:`fwi_core.traces.segy.read_geometry`: positions from the trace
        headers, shots with their own receiver counts padded and masked).
        With the model ``vp``, positions outside it by no more than the
        headers' precision (their coordinate and elevation scalars,
        ``gathers.table.resolution`` m) are put on its edge
        (:func:`fwi_core.geometry.snap`); anything farther stays and is
        refused by :meth:`check_inside`."""
        src, rec = gathers.sources, gathers.receivers
        if vp is not None:
            lo = [float(vp[d].values[0]) for d in vp.dims]
            hi = [float(vp[d].values[-1]) for d in vp.dims]
            tol = float(gathers.table.resolution)
            src, rec = snap(src, lo, hi, tol), snap(rec, lo, hi, tol)
        return cls(src, rec, gathers.mask)

    @property
    def n_shots(self) -> int:
        return self.sources.shape[0]

    @property
    def ndim(self) -> int:
        """Coordinates per position: 2 ([z, x]) or 3 ([z, y, x])."""
        return self.sources.shape[1]

    @property
    def n_receivers(self) -> int:
        """Receiver slots per shot (the largest receiver count of any shot)."""
        return self.receivers.shape[1]

    @property
    def masked(self) -> bool:
        """True when some receiver slot is masked (padding or dead traces)."""
        return not bool(self.mask.all())

    def select(self, shots) -> "Acquisition":
        """The acquisition restricted to the given shot indices (int, slice or list)."""
        idx = np.arange(self.n_shots)[shots]
        idx = np.atleast_1d(idx)
        return Acquisition(self.sources[idx], self.receivers[idx], self.mask[idx])

    def restrict(self, live: np.ndarray | None) -> "Acquisition":
        """The same geometry with only the traces ``live`` (``(n_shots,
        n_receivers)`` booleans, e.g. observed data's ``trace_mask``) kept
        live: the mask becomes ``mask & live``. None: ``self``."""
        if live is None:
            return self
        live = np.asarray(live, bool)
        if live.shape != self.mask.shape:
            raise ValueError(f"live: shape {live.shape}, expected (n_shots, n_receivers) = {self.mask.shape}")
        return self if live.all() else Acquisition(self.sources, self.receivers, self.mask & live)

    @classmethod
    def surface(cls, vp: xr.DataArray, n_shots: int | tuple[int, int], n_receivers: int | tuple[int, int],
                source_depth: float = 0.0, receiver_depth: float = 0.0,
                margin: float = 0.0, source_margin: float | None = None,
                receiver_margin: float | None = None) -> "Acquisition":
        """Evenly spread surface survey.

        A count spreads the devices along x over ``[x0 + margin, x1 - margin]``
        (in 3-D on the line through the middle of the y axis); in 3-D a pair
        ``(ny, nx)`` spreads an areal grid over the (y, x) plane within the same
        margin, ordered y-major (device ``iy * nx + ix``). Depths
        ``source_depth``/``receiver_depth`` (m) are below the model top;
        ``source_margin``/``receiver_margin`` (m) replace ``margin`` for the
        sources or the receivers alone.
        """
        check_model(vp)
        axes = {d: (float(vp[d].values[0]), float(vp[d].values[-1])) for d in vp.dims}
        return cls(surface_positions(axes, n_shots, source_depth, margin if source_margin is None else source_margin,
                                     "n_shots"),
                   surface_positions(axes, n_receivers, receiver_depth,
                                     margin if receiver_margin is None else receiver_margin, "n_receivers"))

    def check_inside(self, vp: xr.DataArray) -> None:
        """Raise ``ValueError`` if the positions do not match the model's
        dimension or any source or receiver lies outside the model."""
        if self.ndim != vp.ndim:
            raise ValueError(f"acq: positions have {self.ndim} coordinates, the model has "
                             f"{vp.ndim} dims {vp.dims}")
        axes = [vp[d].values for d in vp.dims]
        lo = np.array([a[0] for a in axes])
        hi = np.array([a[-1] for a in axes])
        tol = 1e-9 * max(float(np.abs(hi).max()), 1.0)
        for name, pos in (("sources", self.sources), ("receivers", self.receivers.reshape(-1, self.ndim))):
            bad = np.any((pos < lo - tol) | (pos > hi + tol), axis=-1)
            if bad.any():
                p = pos[np.argmax(bad)]
                extent = ", ".join(f"{d} in [{a:g}, {b:g}] m" for d, a, b in zip(vp.dims, lo, hi))
                at = ", ".join(f"{d}={c:g}" for d, c in zip(vp.dims, p))
                raise ValueError(
                    f"{name}: {int(bad.sum())} position(s) outside the model "
                    f"({extent}), first at [{at}]")


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

    ``positions``: ``(n_points, d)`` in the order of ``vp.dims``, m. Returns
    ``idx`` (int64) and ``w`` (float64), both ``(n_points, K)``, where K (at
    most ``(2*RADIUS)**d``) is the largest number of cells any point touches:
    each cell appears once per point, and unused slots have weight 0 (and
    point at an always-zero halo cell). A point on a grid node touches one
    cell, on a grid line 2R.
    """
    d = vp.ndim
    shape = layout.shape
    size = int(np.prod(shape))
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, d)
    n = len(pos)
    nodes, weights = [], []
    for k, dim in enumerate(vp.dims):
        c = vp[dim].values
        nk, wk = _axis_weights((pos[:, k] - float(c[0])) / float(c[1] - c[0]))
        nk = nk + layout.origin[k]
        if k == 0 and layout.free_surface:
            surf = layout.origin[0]
            above = nk < surf
            nk = np.where(above, 2 * surf - nk, nk)  # mirror image below the surface
            wk = np.where(above, -wk, wk)
            wk = np.where(nk == surf, 0.0, wk)      # the surface itself stays u = 0
        # points that would fall outside the computed region (thin PML) carry no weight
        wk = np.where((nk >= HALO) & (nk < shape[k] - HALO), wk, 0.0)
        nodes.append(nk)
        weights.append(wk)
    flat, wflat = nodes[0], weights[0]
    for k in range(1, d):  # outer products, last axis fastest (C order)
        flat = (flat[:, :, None] * shape[k] + nodes[k][:, None, :]).reshape(n, -1)
        wflat = (wflat[:, :, None] * weights[k][:, None, :]).reshape(n, -1)
    # one entry per (point, cell): merge the duplicates mirroring creates, drop zeros
    key = np.arange(n)[:, None] * size + flat
    keep = wflat != 0.0
    uniq, inv = np.unique(key[keep], return_inverse=True)
    merged = np.bincount(inv, weights=wflat[keep], minlength=len(uniq))
    nz_ = merged != 0.0
    uniq, merged = uniq[nz_], merged[nz_]
    owner = uniq // size
    counts = np.bincount(owner, minlength=n)
    slot = np.arange(len(uniq)) - np.repeat(np.cumsum(counts) - counts, counts)
    K = max(int(counts.max(initial=0)), 1)
    idx = np.zeros((n, K), dtype=np.int64)
    wts = np.zeros((n, K))
    idx[owner, slot] = uniq % size
    wts[owner, slot] = merged
    return idx, wts
