"""Gradient preconditioning: illumination (pseudo-Hessian diagonal) with a
water level, Gaussian smoothing tied to the band's wavelength, and a tapered
mask over the water layer and around sources and receivers.

The preconditioner is the symmetric positive semi-definite operator

    P(x) = M * sqrt(W) * G( sqrt(W) * M * x )

with M the mask, W = 1 / (illum + water_level * max(illum)) (normalised to a
maximum of 1) and G a Gaussian filter. Being symmetric, it serves both as the
preconditioned gradient ``P(g)`` for steepest descent / NLCG and as the initial
inverse Hessian of L-BFGS. It is stored as a Dataset (:meth:`to_dataset`) so
the direction stage rebuilds exactly the same operator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from ..config import defaults
from ..survey.models import WATER_VELOCITY, spacing_of, water_rows


def smoothing_length(vp: xr.DataArray, fmax: float, wavelengths: float) -> float:
    """Smoothing standard deviation in metres: ``wavelengths`` x (median vp / fmax)."""
    return float(wavelengths) * float(np.median(vp.values)) / float(fmax)


def _taper(dist: np.ndarray, radius: float, taper: float) -> np.ndarray:
    """0 inside ``radius``, cosine rise to 1 over ``taper`` metres."""
    if taper <= 0:
        return (dist > radius).astype(np.float64)
    t = np.clip((dist - radius) / taper, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def build_mask(vp: xr.DataArray, sources=None, receivers=None, mask_water: bool = True,
               water_velocity: float = WATER_VELOCITY, radius: float = 60.0,
               taper: float = 60.0) -> np.ndarray:
    """A weight in [0, 1] on the model grid (``vp.shape``: (nz, nx) or (nz, ny,
    nx)): 0 in the water layer and near sources/receivers (positions in m)."""
    nd = vp.ndim
    z = vp.z.values.reshape((-1,) + (1,) * (nd - 1))
    m = np.ones(vp.shape, np.float64)
    if mask_water:
        nw = water_rows(vp, water_velocity)
        if nw:
            zw = float(vp.z.values[nw - 1])  # last water row
            m *= _taper(np.broadcast_to(z - zw, vp.shape), 0.0, taper)
    pts = []
    if sources is not None:
        pts.append(np.asarray(sources, np.float64).reshape(-1, nd))
    if receivers is not None:
        pts.append(np.asarray(receivers, np.float64).reshape(-1, nd))
    if pts and radius + taper > 0:
        p = np.unique(np.round(np.concatenate(pts), 6), axis=0)
        # the devices sit on a few depths: distance per unique depth is cheap
        dmin = np.full(vp.shape, np.inf)
        for zz in np.unique(p[:, 0]):
            near = _horizontal_distance(vp, p[p[:, 0] == zz, 1:])
            d = np.sqrt((z - zz) ** 2 + near[None] ** 2)
            dmin = np.minimum(dmin, d)
        m *= _taper(dmin, radius, taper)
    return m


def _horizontal_distance(vp: xr.DataArray, pts: np.ndarray) -> np.ndarray:
    """Distance (m) from every horizontal grid point of ``vp`` (x, or (y, x))
    to the nearest of the horizontal positions ``pts`` ``(k, ndim - 1)``."""
    if vp.ndim == 2:
        xs = np.sort(pts[:, 0])
        return np.min(np.abs(vp.x.values[:, None] - xs[None, :]), axis=1)
    from scipy.spatial import cKDTree

    yy, xx = np.meshgrid(vp.y.values, vp.x.values, indexing="ij")
    dist, _ = cKDTree(pts).query(np.stack([yy.ravel(), xx.ravel()], axis=1))
    return dist.reshape(yy.shape)


@dataclass
class Preconditioner:
    """P(x) = M sqrt(W) G(sqrt(W) M x); see the module docstring."""

    mask: np.ndarray
    sqrt_weight: np.ndarray | None = None
    sigma: tuple[float, ...] = (0.0, 0.0)  # in cells, per axis (z, x) or (z, y, x)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, np.float64) * self.mask
        if self.sqrt_weight is not None:
            y = y * self.sqrt_weight
        if any(s > 0 for s in self.sigma):
            y = gaussian_filter(y, sigma=self.sigma, mode="reflect", truncate=3.0)
        if self.sqrt_weight is not None:
            y = y * self.sqrt_weight
        return y * self.mask

    def to_dataset(self, like: xr.DataArray) -> xr.Dataset:
        sw = self.sqrt_weight if self.sqrt_weight is not None else np.ones(like.shape)
        ds = xr.Dataset({"mask": (like.dims, self.mask), "sqrt_weight": (like.dims, sw)}, coords=like.coords)
        ds.attrs.update(sigma_cells=[float(s) for s in self.sigma], has_weight=self.sqrt_weight is not None)
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "Preconditioner":
        sw = ds["sqrt_weight"].values.astype(np.float64) if ds.attrs.get("has_weight", True) else None
        return cls(mask=ds["mask"].values.astype(np.float64), sqrt_weight=sw,
                   sigma=tuple(float(s) for s in ds.attrs["sigma_cells"]))


def illumination_weight(illum: np.ndarray, water_level: float) -> np.ndarray:
    """W = 1 / (illum + eps), eps = water_level * max(illum), normalised to max 1."""
    illum = np.abs(np.asarray(illum, np.float64))
    eps = water_level * float(illum.max()) if illum.max() > 0 else 1.0
    w = 1.0 / (illum + max(eps, np.finfo(float).tiny))
    return w / w.max()


def build(vp: xr.DataArray, illum=None, sources=None, receivers=None, fmax: float | None = None,
          cfg: dict | None = None) -> Preconditioner:
    """The preconditioner of one iteration from the precondition config block."""
    cfg = {**defaults("precondition"), **(cfg or {})}
    mask = build_mask(vp, sources, receivers, cfg["mask_water"], cfg["water_velocity"],
                      cfg["mask_radius"], cfg["mask_taper"])
    sw = None
    if cfg["illumination"] and illum is not None:
        sw = np.sqrt(illumination_weight(np.asarray(illum), cfg["water_level"]))
    sigma = (0.0,) * vp.ndim
    if cfg["smoothing"] > 0 and fmax:
        length = smoothing_length(vp, fmax, cfg["smoothing"])
        sigma = tuple(length / h for h in spacing_of(vp))
    return Preconditioner(mask=mask, sqrt_weight=sw, sigma=sigma)
