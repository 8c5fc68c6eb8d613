"""Per-band simulation grids: each frequency band runs on the coarsest grid
and the longest time step its frequencies allow.

A band low-passed at ``fmax`` needs far fewer grid points than the final
band: the grid spacing scales with the shortest wavelength ``vmin / f``, and
the CFL time step with the spacing, so halving the frequency cuts the work of
a 2-D run about eightfold. :func:`choose` picks, for one band, the spacing at
which the engine's own dispersion rule (``MIN_POINTS_PER_WAVELENGTH`` of the
order, at the band wavelet's useful maximum frequency and the run's lowest
allowed velocity) just holds, and the largest whole multiple of the data's
``dt`` that is CFL-stable there.

The band's objective is defined on the model grid through a fixed linear
restriction ``R`` (:func:`coarsen`: full weighting, a hat of half-width one
coarse cell, separable): ``J_band(vp) = J_coarse(R vp)``. Its exact gradient
is ``R^T g_coarse`` (:func:`refine_gradient`), so line searches, Taylor tests
and optimisers see one consistent objective on the model grid. The time axis
is decimated after the band filter, which is the anti-alias filter
(:func:`decimate`). docs/band_grids.md gives the measured error and
speed-up on Marmousi2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..engine.grid import check_model, spacing_of
from ..stencils import MIN_POINTS_PER_WAVELENGTH, max_stable_dt
from ..engine.wavelets import max_frequency

#: Decimated traces keep at least this many samples per period of the band
#: wavelet's useful maximum frequency (Nyquist at 1.5 x that frequency).
MIN_SAMPLES_PER_PERIOD = 3.0
#: A coarse axis keeps at least this many points.
MIN_POINTS = 8


@dataclass(frozen=True)
class BandGrid:
    """Grid of one band: ``shape`` and ``spacing`` (m) per model axis, over
    the same extent as the model grid, and ``time_factor``: the band's dt is
    that many data samples."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    time_factor: int

    def to_attrs(self) -> dict:
        return {"band_grid_shape": list(self.shape), "band_grid_spacing": list(self.spacing),
                "band_grid_time_factor": int(self.time_factor)}

    @classmethod
    def from_attrs(cls, attrs: dict) -> "BandGrid | None":
        if "band_grid_shape" not in attrs:
            return None
        return cls(tuple(int(n) for n in attrs["band_grid_shape"]),
                   tuple(float(h) for h in attrs["band_grid_spacing"]),
                   int(attrs["band_grid_time_factor"]))


def _axis(n: int, h: float, h_target: float) -> tuple[int, float]:
    """Points and spacing of a coarse axis over the extent ``(n - 1) h``."""
    if h_target <= h or n <= MIN_POINTS:
        return n, h
    nc = max(int(np.ceil((n - 1) * h / h_target)) + 1, MIN_POINTS)
    if nc >= n:
        return n, h
    return nc, (n - 1) * h / (nc - 1)


def choose(vp: xr.DataArray, wavelet: np.ndarray, dt: float, vmin: float, vmax: float,
           space_order: int = 8, cfl_safety: float = 0.8) -> BandGrid:
    """The band grid for a band-filtered ``wavelet`` (samples at ``dt`` s).

    ``vmin``/``vmax`` (m/s): the lowest and highest velocity the inversion may
    reach (its bounds); ``cfl_safety`` as for the model grid's dt. The result
    is never finer than ``vp``'s grid nor shorter than ``dt``; a band that
    needs the full grid gets ``shape`` of ``vp`` and ``time_factor`` 1.
    """
    _, spacing = check_model(vp)
    if not (np.isfinite(vmin) and np.isfinite(vmax) and 0 < vmin <= vmax):
        raise ValueError(f"vmin, vmax: need 0 < vmin <= vmax, got {vmin!r}, {vmax!r}")
    w = np.asarray(wavelet, dtype=np.float64)
    f_use = max_frequency(w if w.ndim == 1 else w[0], dt)
    if not f_use > 0:
        raise ValueError("wavelet: no energy (all zero); cannot choose a band grid")
    h_target = vmin / (MIN_POINTS_PER_WAVELENGTH[space_order] * f_use)
    shape, steps = zip(*(_axis(n, h, h_target) for n, h in zip(vp.shape, spacing)))
    dt_stable = cfl_safety * max_stable_dt(vmax, steps, space_order)
    k_cfl = int(np.floor(dt_stable / dt * (1 + 1e-9)))
    k_nyq = int(np.floor(1.0 / (MIN_SAMPLES_PER_PERIOD * f_use * dt)))
    return BandGrid(tuple(shape), tuple(steps), max(1, min(k_cfl, k_nyq)))


def _restriction(n: int, h: float, nc: int, hc: float) -> np.ndarray:
    """``(nc, n)`` full-weighting matrix: row i is a hat of half-width ``hc``
    about coarse node i, over the fine nodes, normalised to sum 1 (identity
    when the grids coincide)."""
    xf = np.arange(n) * h
    xc = np.arange(nc) * hc
    w = np.clip(1.0 - np.abs(xc[:, None] - xf[None, :]) / hc, 0.0, None)
    return w / w.sum(axis=1, keepdims=True)


def _operators(vp: xr.DataArray, grid: BandGrid) -> list[np.ndarray]:
    """Restrictions along each axis (any field on ``vp``'s grid, not only velocities)."""
    return [_restriction(n, spacing_of(vp[d].values, d), nc, hc)
            for d, n, nc, hc in zip(vp.dims, vp.shape, grid.shape, grid.spacing)]


def _along_axes(mats: list[np.ndarray], a: np.ndarray) -> np.ndarray:
    """``a`` with ``mats[k]`` applied along axis k: ``m0 @ a @ m1.T`` in 2-D."""
    out = (mats[0] @ a.reshape(a.shape[0], -1)).reshape(mats[0].shape[0], *a.shape[1:])
    for k in range(1, a.ndim - 1):
        out = np.moveaxis(np.tensordot(mats[k], out, axes=(1, k)), 0, k)
    return out @ mats[-1].T


def coarsen(vp: xr.DataArray, grid: BandGrid) -> xr.DataArray:
    """``R vp``: the model on the band grid (same origin and extent), dtype kept."""
    vc = _along_axes(_operators(vp, grid), np.asarray(vp.values, np.float64))
    coords = {d: float(vp[d][0]) + h * np.arange(n) for d, n, h in zip(vp.dims, grid.shape, grid.spacing)}
    return xr.DataArray(vc.astype(vp.dtype), dims=vp.dims, name=vp.name, coords=coords,
                        attrs=dict(vp.attrs))


def refine_gradient(g: np.ndarray, vp: xr.DataArray, grid: BandGrid) -> np.ndarray:
    """``R^T g``: a gradient on the band grid (shape ``grid.shape``) as the
    gradient with respect to the model ``vp`` (float64, shape of ``vp``)."""
    g = np.asarray(g, np.float64)
    if g.shape != tuple(grid.shape):
        raise ValueError(f"g: shape {g.shape}, expected the band grid's {grid.shape}")
    return _along_axes([r.T for r in _operators(vp, grid)], g)


def decimate(a: xr.DataArray, factor: int) -> xr.DataArray:
    """Every ``factor``-th sample along ``time`` (band-filtered data only:
    the band filter is the anti-alias filter). Keeps attrs, updates ``dt``."""
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"factor: must be a positive integer, got {factor!r}")
    out = a.isel(time=slice(None, None, int(factor)))
    if "dt" in a.attrs:
        out.attrs = {**a.attrs, "dt": float(a.attrs["dt"]) * int(factor)}
    return out
