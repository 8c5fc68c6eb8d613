"""Models on regular grids and the padded computational grid, in 2-D and 3-D.

A model is an ``xr.DataArray`` named ``vp`` with dims ``("z", "x")`` (2-D) or
``("z", "y", "x")`` (3-D) and coordinates in metres (z positive down, first).
The engine pads it with an absorbing layer of ``pml_width`` cells on every
side (none on top with a free surface, where model row 0 is the surface
z = z0) plus a halo of ``HALO`` zero cells that lets the stencils run without
bounds checks. Everything here works on any number of axes; only the kernels
(:mod:`fwi_core.engine.backends`) are written per dimension.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..axes import DIMS, dims_of  # noqa: F401  (re-exported: the engine's names for them)

HALO = 4  # stencil radius of the highest supported order (8)


def as_model(values: np.ndarray, spacing: float | tuple[float, ...],
             origin: tuple[float, ...] | None = None, name: str = "vp") -> xr.DataArray:
    """Wrap a ``(nz, nx)`` or ``(nz, ny, nx)`` array (m/s) as a model DataArray.

    ``spacing`` is one number (m) for every axis or one per axis, in the
    order of the dims; ``origin`` (m) likewise (default 0).
    """
    values = np.asarray(values)
    if values.ndim not in DIMS:
        raise ValueError(f"values: expected a 2-D (nz, nx) or 3-D (nz, ny, nx) array, got shape {values.shape}")
    dims = DIMS[values.ndim]
    steps = (spacing,) * values.ndim if np.isscalar(spacing) else tuple(spacing)
    if len(steps) != values.ndim:
        raise ValueError(f"spacing: expected {values.ndim} values {dims}, got {spacing!r}")
    for h in steps:
        if not np.isfinite(h) or h <= 0:
            raise ValueError(f"spacing must be positive, got {spacing!r}")
    origin = (0.0,) * values.ndim if origin is None else tuple(origin)
    if len(origin) != values.ndim:
        raise ValueError(f"origin: expected {values.ndim} values {dims}, got {origin!r}")
    coords = {d: o + h * np.arange(n) for d, o, h, n in zip(dims, origin, steps, values.shape)}
    return xr.DataArray(values, dims=dims, coords=coords, name=name, attrs={"units": "m/s"})


def spacing_of(coord: np.ndarray, name: str) -> float:
    """Grid step of a regular coordinate (m), with a clear error otherwise."""
    c = np.asarray(coord, dtype=np.float64)
    if c.size < 2:
        raise ValueError(f"vp: coordinate {name!r} needs at least 2 points")
    d = np.diff(c)
    if not np.all(d > 0) or np.ptp(d) > 1e-6 * abs(d[0]):
        raise ValueError(f"vp: coordinate {name!r} must be regular and increasing")
    return float(d[0])


def check_model(vp: xr.DataArray) -> tuple[np.ndarray, tuple[float, ...]]:
    """Validate a model; return ``(values float64, spacing per axis (m))``."""
    if not isinstance(vp, xr.DataArray):
        raise ValueError("vp must be an xarray.DataArray with dims ('z', 'x') or ('z', 'y', 'x'); "
                         "wrap a numpy array with fwi_core.as_model(values, spacing)")
    if vp.dims not in DIMS.values():
        raise ValueError(f"vp must have dims {DIMS[2]} or {DIMS[3]}, got {vp.dims}")
    spacing = tuple(spacing_of(vp[d].values, d) for d in vp.dims)
    v = np.asarray(vp.values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"vp contains {np.count_nonzero(~np.isfinite(v))} NaN or inf values")
    if np.any(v <= 0):
        raise ValueError(f"vp must be positive everywhere; minimum is {v.min()} m/s")
    return v, spacing


@dataclass(frozen=True)
class Layout:
    """Index bookkeeping of the padded grid (all indices into the padded array).

    ``model_shape``: the model's ``(nz, nx)`` or ``(nz, ny, nx)``. The padded
    array has shape :attr:`shape`; the model occupies ``[o_k, o_k + n_k)``
    along axis k (``o`` = :attr:`origin`). Indices in ``[HALO, N_k - HALO)``
    are computed; the halo stays zero (or holds the free-surface mirror image).
    """

    model_shape: tuple[int, ...]
    pml: int
    free_surface: bool

    @property
    def ndim(self) -> int:
        return len(self.model_shape)

    @property
    def top(self) -> int:
        """Absorbing cells above the model (0 with a free surface)."""
        return 0 if self.free_surface else self.pml

    @property
    def lead(self) -> tuple[int, ...]:
        """Absorbing cells before the model along each axis."""
        return (self.top,) + (self.pml,) * (self.ndim - 1)

    @property
    def origin(self) -> tuple[int, ...]:
        """Padded index of the model's first cell along each axis."""
        return tuple(HALO + a for a in self.lead)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(n + a + self.pml + 2 * HALO for n, a in zip(self.model_shape, self.lead))

    @property
    def n_points(self) -> int:
        """Grid points updated per step (model plus absorbing layer, no halo)."""
        return int(np.prod([n - 2 * HALO for n in self.shape]))

    def _model_slices(self) -> tuple[slice, ...]:
        return tuple(slice(o, o + n) for o, n in zip(self.origin, self.model_shape))

    def pad(self, v: np.ndarray) -> np.ndarray:
        """Extend a model-shaped array into the absorbing layer and halo by edge values."""
        return np.pad(v, [(o, N - o - n) for o, N, n in zip(self.origin, self.shape, self.model_shape)],
                      mode="edge")

    def pad_adjoint(self, g: np.ndarray) -> np.ndarray:
        """Transpose of :meth:`pad`: fold the padded cells back onto the model edges."""
        out = np.asarray(g, dtype=np.float64)
        for axis, (o, n) in enumerate(zip(self.origin, self.model_shape)):
            lo = np.take(out, range(o), axis=axis).sum(axis=axis)
            hi = np.take(out, range(o + n, out.shape[axis]), axis=axis).sum(axis=axis)
            out = np.take(out, range(o, o + n), axis=axis)   # a copy
            first = [slice(None)] * out.ndim
            first[axis] = 0
            out[tuple(first)] += lo
            first[axis] = -1
            out[tuple(first)] += hi
        return out

    def crop(self, a: np.ndarray) -> np.ndarray:
        """The model part of a padded array."""
        return a[self._model_slices()]
