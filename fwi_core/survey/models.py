"""Velocity models: a synthetic geology generator, loaders for .npy / .zarr
models, and smooth initial-model builders.

Every function returns an ``xr.DataArray`` named ``vp`` with dims ``("z", "x")``
(2-D) or ``("z", "y", "x")`` (3-D) and coordinates in metres (z positive
down), float32 unless asked otherwise.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from ..artifacts import open_dataset
from ..config import MIN_MODEL_CELLS, ConfigError, grid_errors, resolve_path, value_errors, value_stats
from ..axes import DIMS, per_axis
from ..engine.grid import as_model

WATER_VELOCITY = 1500.0


def _spacing(spacing, ndim: int = 2) -> tuple[float, ...]:
    return per_axis(spacing, ndim)


def spacing_of(vp: xr.DataArray) -> tuple[float, ...]:
    """Grid spacing (m) along each dim of a model, in the order of its dims."""
    return tuple(float(vp[d][1] - vp[d][0]) for d in vp.dims)


def _depth(shape, dz: float) -> np.ndarray:
    """Depth (m) of every cell, broadcast over the other axes."""
    return dz * np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1)) + np.zeros(shape)


# ----------------------------------------------------------------------------- generators
def constant(shape, spacing, velocity: float = 2000.0) -> xr.DataArray:
    return as_model(np.full(shape, velocity, np.float32), spacing).assign_attrs(generator="constant")


def layered(shape, spacing, water_depth: float = 100.0, seed: int = 0,
            v_top: float = 1800.0, v_bottom: float = 4000.0, n_layers: int = 6) -> xr.DataArray:
    """Flat layers under a water layer, velocity increasing with depth."""
    rng = np.random.default_rng(seed)
    dz = _spacing(spacing, len(shape))[0]
    z = _depth(shape, dz)
    depth = dz * (shape[0] - 1)
    tops = np.sort(rng.uniform(water_depth, depth, n_layers - 1))
    vels = np.sort(rng.uniform(v_top, v_bottom, n_layers))
    vp = np.full(shape, vels[0], np.float32)
    for t, v in zip(tops, vels[1:]):
        vp[z >= t] = v
    vp[z < water_depth] = WATER_VELOCITY
    return as_model(vp, spacing).assign_attrs(generator="layered", seed=seed)


def geology(shape, spacing, water_depth: float | None = None, seed: int = 0,
            v_top: float = 1700.0, v_bottom: float = 3800.0) -> xr.DataArray:
    """A small synthetic geology that looks like a real section.

    Water layer, then gently folded sedimentary layers with velocity increasing
    with depth and random contrasts, cut by a dipping normal fault that offsets
    them; a high-velocity (salt/carbonate-like) body and a low-velocity (gas)
    lens sitting under an anticline crest. Deterministic for a given ``seed``.
    A 3-D ``shape`` ``(nz, ny, nx)`` gives the 3-D analogue (:func:`geology3d`).
    """
    if len(shape) == 3:
        return geology3d(shape, spacing, water_depth, seed, v_top, v_bottom)
    rng = np.random.default_rng(seed)
    nz, nx = map(int, shape)
    dz, dx = _spacing(spacing)
    depth, width = dz * (nz - 1), dx * (nx - 1)
    if water_depth is None:
        water_depth = max(2 * dz, round(0.08 * depth / dz) * dz)
    z = dz * np.arange(nz)[:, None] + np.zeros((1, nx))
    x = dx * np.arange(nx)[None, :] + np.zeros((nz, 1))

    # folding: a broad anticline plus a gentle regional dip
    crest = width * rng.uniform(0.3, 0.45)
    fold = -0.12 * depth * np.exp(-(((x - crest) / (0.25 * width)) ** 2)) + 0.05 * depth * (x / width)
    # normal fault dipping ~60 deg, hanging wall (right of the plane) dropped by `throw`
    x_fault_top = width * rng.uniform(0.6, 0.7)
    dip = np.deg2rad(rng.uniform(55, 65))
    fault_x = x_fault_top + (z - water_depth) / np.tan(dip)
    hanging = x > fault_x
    throw = 0.08 * depth
    zeff = z - fold + np.where(hanging, -throw, 0.0)  # depth in the unfolded, unfaulted frame

    n_layers = 9
    sed_top = water_depth
    tops = np.linspace(sed_top, depth * 1.15, n_layers + 1)[:-1]
    tops[1:] += rng.uniform(-0.25, 0.25, n_layers - 1) * (tops[1] - tops[0])
    trend = np.linspace(v_top, v_bottom, n_layers)
    vels = trend + rng.uniform(-0.06, 0.06, n_layers) * trend
    vp = np.full((nz, nx), vels[0], np.float64)
    for t, v in zip(tops[1:], vels[1:]):
        vp[zeff >= t] = v
    # a gentle compaction gradient inside layers
    vp += 0.15 * (zeff - sed_top).clip(0, None)

    # high-velocity body: an asymmetric dome (salt-like) at mid depth, left part
    bx, bz = width * rng.uniform(0.2, 0.28), depth * 0.7
    rx, rz = 0.08 * width, 0.16 * depth
    r = ((x - bx) / rx) ** 2 + ((z - bz) / rz) ** 2 + 0.35 * ((x - bx) / rx) * ((z - bz) / rz)
    vp[r <= 1.0] = 4300.0
    # low-velocity gas lens: lenticular, under the anticline crest
    lx, lz = crest, water_depth + 0.33 * (depth - water_depth) + fold.min() * 0.5
    lrx, lrz = 0.12 * width, 0.05 * depth
    lens = ((x - lx) / lrx) ** 2 + ((z - lz) / lrz) ** 2 <= 1.0
    vp[lens & (z > water_depth + dz)] *= 0.8

    vp[z < water_depth] = WATER_VELOCITY
    return as_model(vp.astype(np.float32), spacing).assign_attrs(
        generator="geology", seed=seed, water_depth=float(water_depth))


def geology3d(shape, spacing, water_depth: float | None = None, seed: int = 0,
              v_top: float = 1700.0, v_bottom: float = 3800.0) -> xr.DataArray:
    """A small 3-D geology, ``(nz, ny, nx)``: water, then sedimentary layers
    (velocity increasing with depth, random contrasts) folded into a dome and
    dipping gently along x, cut by a normal fault that strikes obliquely to y
    and dips about 60 degrees; a salt dome (a fast stem widening into a cap)
    pushing up through them, and a slow sinuous sand channel meandering along
    y at a third of the sediment depth. Deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = map(int, shape)
    dz, dy, dx = _spacing(spacing, 3)
    depth, length, width = dz * (nz - 1), dy * (ny - 1), dx * (nx - 1)
    if water_depth is None:
        water_depth = max(2 * dz, round(0.08 * depth / dz) * dz)
    z = dz * np.arange(nz)[:, None, None]
    y = dy * np.arange(ny)[None, :, None]
    x = dx * np.arange(nx)[None, None, :]

    # a dome (anticline closing in y) and a regional dip along x
    cx, cy = width * rng.uniform(0.35, 0.5), length * rng.uniform(0.4, 0.6)
    fold = (-0.12 * depth * np.exp(-((x - cx) / (0.3 * width)) ** 2 - ((y - cy) / (0.4 * max(length, dy))) ** 2)
            + 0.05 * depth * x / width)
    # normal fault: strikes at a small angle to y, dips ~60 degrees, hanging wall (+x side) dropped
    strike = np.deg2rad(rng.uniform(-15, 15))
    x_top = width * rng.uniform(0.65, 0.75) + np.tan(strike) * (y - length / 2)
    dip = np.deg2rad(rng.uniform(55, 65))
    hanging = x > x_top + (z - water_depth) / np.tan(dip)
    zeff = z - fold + np.where(hanging, -0.08 * depth, 0.0)   # depth in the unfolded, unfaulted frame

    n_layers = 9
    tops = np.linspace(water_depth, depth * 1.15, n_layers + 1)[:-1]
    tops[1:] += rng.uniform(-0.25, 0.25, n_layers - 1) * (tops[1] - tops[0])
    trend = np.linspace(v_top, v_bottom, n_layers)
    vels = trend + rng.uniform(-0.06, 0.06, n_layers) * trend
    vp = np.full((nz, ny, nx), vels[0], np.float64)
    for t, v in zip(tops[1:], vels[1:]):
        vp[zeff >= t] = v
    vp += 0.15 * (zeff - water_depth).clip(0, None)

    # salt dome: a stem from the bottom widening into a cap at about half depth
    bx, by = width * rng.uniform(0.2, 0.3), length * rng.uniform(0.4, 0.6)
    top = depth * 0.45
    h = np.clip((z - top) / (depth - top), 0.0, 1.0)                 # 0 at the top of the cap, 1 at the bottom
    radius = np.where(z >= top, (0.08 + 0.07 * np.exp(-((h - 0.08) / 0.08) ** 2)) * width, 0.0)
    r = np.sqrt((x - bx) ** 2 + (y - by) ** 2)
    vp[(r <= radius) & (z >= top)] = 4300.0
    # a sinuous sand channel (slow) meandering along y
    zc = water_depth + 0.33 * (depth - water_depth)
    xc = width * rng.uniform(0.45, 0.55) + 0.12 * width * np.sin(2 * np.pi * y / max(length, dy) * rng.uniform(1.0, 1.5))
    channel = (np.abs(x - xc) <= 0.05 * width) & (np.abs(z - zc) <= max(1.5 * dz, 0.025 * depth))
    vp[channel] *= 0.85

    vp[np.broadcast_to(z < water_depth, vp.shape)] = WATER_VELOCITY
    # where the plots cut it: through the salt stem, at the channel's depth
    return as_model(vp.astype(np.float32), (dz, dy, dx)).assign_attrs(
        generator="geology", seed=seed, water_depth=float(water_depth), section_at=[float(zc), float(by), float(bx)])


GENERATORS = {"geology": geology, "layered": layered, "constant": constant}


def generate(name: str, shape, spacing, **kw) -> xr.DataArray:
    try:
        fn = GENERATORS[name]
    except KeyError:
        raise ValueError(f"generator: unknown generator {name!r}; allowed values: {', '.join(GENERATORS)}") from None
    return fn(tuple(shape), spacing, **kw)


# ----------------------------------------------------------------------------- loaders
def load(path: str | os.PathLike, spacing=None, variable: str | None = None) -> xr.DataArray:
    """Read a model from ``.npy`` (with ``spacing`` in metres) or from a zarr store."""
    path = str(path)
    if path.endswith(".npy"):
        if spacing is None:
            raise ValueError(f"spacing: required to read the .npy model {path}")
        arr = np.load(path)
        if arr.ndim not in DIMS:
            raise ValueError(f"file: {path} holds shape {arr.shape}; expected a 2-D (z, x) or 3-D (z, y, x) array")
        return as_model(arr.astype(np.float32), _spacing(spacing, arr.ndim)).assign_attrs(
            source=os.path.basename(path))
    if path.rstrip("/").endswith(".zarr"):

        ds = open_dataset(path)
        name = variable or ("vp" if "vp" in ds else list(ds.data_vars)[0])
        if name not in ds:
            raise ValueError(f"variable: {name!r} not in {path}; allowed values: {', '.join(ds.data_vars)}")
        da = ds[name].load()
        if tuple(da.dims) not in DIMS.values():
            raise ValueError(f"file: {path}:{name} has dims {da.dims}; expected {DIMS[2]} or {DIMS[3]}")
        return da.astype(np.float32).rename("vp")
    raise ValueError(f"file: {path!r} is not allowed; allowed: a .npy or .zarr path")


# ----------------------------------------------------------------------------- initial models
def water_rows(vp: xr.DataArray, water_velocity: float = WATER_VELOCITY, tol: float = 1.0) -> int:
    """Number of top rows that are water (velocity within ``tol`` of ``water_velocity``) everywhere."""
    is_water = np.all(np.abs(vp.values - water_velocity) <= tol, axis=tuple(range(1, vp.ndim)))
    n = 0
    while n < is_water.size and is_water[n]:
        n += 1
    return n


def smooth(vp: xr.DataArray, length: float, keep_water: bool = True,
           water_velocity: float = WATER_VELOCITY) -> xr.DataArray:
    """Gaussian smoothing with standard deviation ``length`` metres (slowness-averaged).

    With ``keep_water`` the water rows are kept and smoothing only acts below.
    """
    if length <= 0:
        return vp.copy()
    spacing = spacing_of(vp)
    nw = water_rows(vp, water_velocity) if keep_water else 0
    s = 1.0 / vp.values.astype(np.float64)
    below = s[nw:]
    # pad the top of the sediment by reflection so the water does not bleed in
    sm = gaussian_filter(below, sigma=tuple(length / h for h in spacing), mode="nearest")
    out = s.copy()
    out[nw:] = sm
    res = vp.copy(data=(1.0 / out).astype(vp.dtype))
    res.attrs = {**vp.attrs, "smoothed": float(length)}
    return res


def trend(like: xr.DataArray, v0: float, gradient: float, water_velocity: float = WATER_VELOCITY,
          water_depth: float | None = None, vmax: float | None = None) -> xr.DataArray:
    """A 1-D v(z) model on ``like``'s grid: water, then v0 + gradient * (z - water_depth)."""
    dz = spacing_of(like)[0]
    if water_depth is None:
        water_depth = water_rows(like, water_velocity) * dz
    z = like.z.values - float(like.z[0])
    v = np.where(z < water_depth, water_velocity, v0 + gradient * (z - water_depth))
    if vmax is not None:
        v = np.minimum(v, vmax)
    v = v.reshape((-1,) + (1,) * (like.ndim - 1))
    return like.copy(data=np.broadcast_to(v, like.shape).astype(like.dtype))


def from_source(spec: dict, base_dir=None, true_model: xr.DataArray | None = None) -> xr.DataArray:
    """Build a model from a config model source (see the config schema)."""

    if "generator" in spec:
        kw = {k: spec[k] for k in ("seed", "water_depth") if k in spec}
        if spec["generator"] == "constant":
            kw = {"velocity": spec.get("velocity", 2000.0)}
        shape = spec.get("shape") or (true_model.shape if true_model is not None else None)
        spacing = spec.get("spacing") or (spacing_of(true_model) if true_model is not None else None)
        vp = generate(spec["generator"], shape, spacing, **kw)
    elif "file" in spec:
        vp = load(resolve_path(spec["file"], base_dir), spec.get("spacing"), spec.get("variable"))
    elif "from_true" in spec:
        if true_model is None:
            raise ValueError("from_true: needs the true model")
        ft = spec["from_true"]
        vp = smooth(true_model, ft.get("smooth", 300.0), keep_water=ft.get("keep_water", True))
    elif "trend" in spec:
        if true_model is None:
            raise ValueError("trend: needs a grid (the true model)")
        vp = trend(true_model, **spec["trend"])
    else:
        raise ValueError(f"model source: give one of generator, file, from_true, trend (got {sorted(spec)})")
    if spec.get("smooth"):
        vp = smooth(vp, spec["smooth"])
    return vp


def grid_of(vp: xr.DataArray) -> dict:
    """``{shape, spacing, origin}`` of a model (cells, m, m)."""
    return {"shape": tuple(vp.shape), "spacing": spacing_of(vp), "origin": tuple(float(vp[d][0]) for d in vp.dims)}


def check_entry(vp: xr.DataArray, key: str, where: str, bounds=None, bounds_key: str | None = None,
                like: xr.DataArray | None = None, like_where: str | None = None) -> None:
    """The checks every model entering a run passes, whatever its source: 2-D or 3-D
    of at least :data:`fwi_core.config.MIN_MODEL_CELLS` cells a side, finite,
    positive, within the run's ``bounds`` (m/s) when given, and on the grid of
    ``like`` (the true model) when given. Raises ``ValueError`` naming the
    config ``key`` and ``where`` the model came from (file or source)."""

    if vp.dims not in DIMS.values() or min(vp.shape) < MIN_MODEL_CELLS:
        raise ConfigError([f"key '{key}': {where} has shape {tuple(vp.shape)}; expected a 2-D (z, x) model "
                           f"of at least {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS} cells or a 3-D (z, y, x) model "
                           f"of at least {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS}"])
    errs = value_errors(*value_stats(vp.values), key, where, bounds, bounds_key)
    if like is not None:
        errs += grid_errors(grid_of(vp), grid_of(like), key, where, like_where or "the true model")
    if errs:
        raise ConfigError(errs)


def source_description(spec: dict) -> str:
    """How a config model source names its model in messages."""
    if "file" in spec:
        return f"the model file {spec['file']}"
    if "generator" in spec:
        return f"the generated {spec['generator']} model"
    if "from_true" in spec:
        return "the smoothed true model"
    return "the v(z) trend model"


def relative_error(vp: xr.DataArray, vp_true: xr.DataArray) -> float:
    """||vp - vp_true||_2 / ||vp_true||_2."""
    a = vp.values.astype(np.float64)
    b = vp_true.values.astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def model_error_reduction(vp: xr.DataArray, vp0: xr.DataArray, vp_true: xr.DataArray) -> float:
    """1 - ||vp - true|| / ||vp0 - true||: 0 = no progress, 1 = exact."""
    return 1.0 - relative_error(vp, vp_true) / relative_error(vp0, vp_true)
