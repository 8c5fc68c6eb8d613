"""Checks of a run's numerics before it starts: CFL stability and dispersion."""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .grid import check_model
from ..stencils import MIN_POINTS_PER_WAVELENGTH, max_stable_dt  # noqa: F401  (public here too)


class DispersionWarning(UserWarning):
    """The grid samples the shortest wavelength too coarsely for the stencil."""


def stable_dt(vp: xr.DataArray, space_order: int = 8, safety: float = 0.9) -> float:
    """A stable time step (s) for ``vp``: ``safety`` times the CFL limit."""
    if not 0 < safety <= 1:
        raise ValueError(f"safety must be in (0, 1], got {safety!r}")
    v, spacing = check_model(vp)
    return safety * max_stable_dt(float(v.max()), spacing, space_order)


def check_cfl(dt: float, vmax: float, spacing: tuple[float, ...], space_order: int) -> None:
    """Raise ``ValueError`` naming ``dt`` if the run would be unstable
    (``spacing``: grid steps in m, one per axis)."""
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    limit = max_stable_dt(vmax, spacing, space_order)
    if dt > limit:
        steps = " ".join(f"{h:g} m" for h in spacing)
        raise ValueError(
            f"dt={dt:.6g} s is unstable (CFL) for vmax={vmax:.6g} m/s, spacing "
            f"{steps} and space_order={space_order}: dt must be <= "
            f"{limit:.6g} s (fwi_core.stable_dt gives a safe value)")


def points_per_wavelength(vmin: float, fmax: float, spacing: tuple[float, ...]) -> float:
    """Grid points per shortest wavelength ``vmin / fmax / max(spacing)``."""
    return float(vmin / fmax / max(spacing)) if fmax > 0 else np.inf


def check_dispersion(vmin: float, fmax: float, spacing: tuple[float, ...], space_order: int) -> float:
    """Warn (:class:`DispersionWarning`) when the grid under-samples the wavelet.

    Returns the points per wavelength."""
    ppw = points_per_wavelength(vmin, fmax, spacing)
    need = MIN_POINTS_PER_WAVELENGTH[space_order]
    if ppw < need:
        warnings.warn(
            f"{ppw:.2f} points per wavelength at the wavelet's maximum useful frequency "
            f"{fmax:.3g} Hz and vmin={vmin:.6g} m/s; space_order={space_order} needs about "
            f"{need:g} to keep numerical dispersion invisible (refine the grid, raise "
            f"space_order or low-pass the wavelet)", DispersionWarning, stacklevel=3)
    return ppw
