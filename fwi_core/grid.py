"""Models on regular grids and the padded computational grid.

A model is an ``xr.DataArray`` named ``vp`` with dims ``("z", "x")`` and
coordinates in metres (z positive down). The engine pads it with an absorbing
layer of ``pml_width`` cells on every side (none on top with a free surface,
where model row 0 is the surface z = z0) plus a halo of ``HALO`` zero cells
that lets the stencils run without bounds checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

HALO = 4  # stencil radius of the highest supported order (8)


def as_model(values: np.ndarray, spacing: float | tuple[float, float],
             origin: tuple[float, float] = (0.0, 0.0), name: str = "vp") -> xr.DataArray:
    """Wrap a ``(nz, nx)`` array (m/s) as a model DataArray.

    ``spacing`` is ``(dz, dx)`` in metres or one number for both; ``origin``
    is ``(z0, x0)`` in metres.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values: expected a 2-D (nz, nx) array, got shape {values.shape}")
    dz, dx = (spacing, spacing) if np.isscalar(spacing) else spacing
    for nm, h in (("spacing", dz), ("spacing", dx)):
        if not np.isfinite(h) or h <= 0:
            raise ValueError(f"{nm} must be positive, got {spacing!r}")
    z = origin[0] + dz * np.arange(values.shape[0])
    x = origin[1] + dx * np.arange(values.shape[1])
    return xr.DataArray(values, dims=("z", "x"), coords={"z": z, "x": x}, name=name,
                        attrs={"units": "m/s"})


def spacing_of(coord: np.ndarray, name: str) -> float:
    """Grid step of a regular coordinate (m), with a clear error otherwise."""
    c = np.asarray(coord, dtype=np.float64)
    if c.size < 2:
        raise ValueError(f"vp: coordinate {name!r} needs at least 2 points")
    d = np.diff(c)
    if not np.all(d > 0) or np.ptp(d) > 1e-6 * abs(d[0]):
        raise ValueError(f"vp: coordinate {name!r} must be regular and increasing")
    return float(d[0])


def check_model(vp: xr.DataArray) -> tuple[np.ndarray, float, float]:
    """Validate a model; return ``(values (nz, nx) float64, dz, dx)``."""
    if not isinstance(vp, xr.DataArray):
        raise ValueError("vp must be an xarray.DataArray with dims ('z', 'x'); "
                         "wrap a numpy array with fwi_core.as_model(values, spacing)")
    if vp.dims != ("z", "x"):
        raise ValueError(f"vp must have dims ('z', 'x'), got {vp.dims}")
    dz = spacing_of(vp["z"].values, "z")
    dx = spacing_of(vp["x"].values, "x")
    v = np.asarray(vp.values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"vp contains {np.count_nonzero(~np.isfinite(v))} NaN or inf values")
    if np.any(v <= 0):
        raise ValueError(f"vp must be positive everywhere; minimum is {v.min()} m/s")
    return v, dz, dx


@dataclass(frozen=True)
class Layout:
    """Index bookkeeping of the padded grid (all indices into the padded array).

    The padded array has shape ``(NZ, NX)``; the model occupies rows
    ``[mz0, mz0 + nz)`` and columns ``[mx0, mx0 + nx)``. Rows/columns in
    ``[HALO, NZ - HALO)`` / ``[HALO, NX - HALO)`` are computed; the halo stays
    zero (or holds the free-surface mirror image).
    """

    nz: int
    nx: int
    pml: int
    free_surface: bool

    @property
    def top(self) -> int:
        """Absorbing cells above the model (0 with a free surface)."""
        return 0 if self.free_surface else self.pml

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nz + self.top + self.pml + 2 * HALO, self.nx + 2 * self.pml + 2 * HALO)

    @property
    def mz0(self) -> int:
        return HALO + self.top

    @property
    def mx0(self) -> int:
        return HALO + self.pml

    @property
    def n_points(self) -> int:
        """Grid points updated per step (model plus absorbing layer, no halo)."""
        nzp, nxp = self.shape
        return (nzp - 2 * HALO) * (nxp - 2 * HALO)

    def pad(self, v: np.ndarray) -> np.ndarray:
        """Extend a ``(nz, nx)`` model into the absorbing layer and halo by edge values."""
        h = HALO
        return np.pad(v, ((self.mz0, self.shape[0] - self.mz0 - self.nz),
                          (self.mx0, self.shape[1] - self.mx0 - self.nx)), mode="edge")

    def pad_adjoint(self, g: np.ndarray) -> np.ndarray:
        """Transpose of :meth:`pad`: fold the padded cells back onto the model edges."""
        z0, x0 = self.mz0, self.mx0
        z1, x1 = z0 + self.nz, x0 + self.nx
        g = np.asarray(g, dtype=np.float64)
        gz = g[z0:z1].copy()
        gz[0] += g[:z0].sum(axis=0)
        gz[-1] += g[z1:].sum(axis=0)
        out = gz[:, x0:x1].copy()
        out[:, 0] += gz[:, :x0].sum(axis=1)
        out[:, -1] += gz[:, x1:].sum(axis=1)
        return out

    def crop(self, a: np.ndarray) -> np.ndarray:
        """The model part of a padded array."""
        return a[self.mz0:self.mz0 + self.nz, self.mx0:self.mx0 + self.nx]
