"""Artifact I/O: xarray objects on zarr, written atomically, with provenance.

- :func:`write` stores a DataArray/Dataset under ``path`` by writing to a
  temporary sibling and renaming it into place, so a killed job never leaves a
  store that looks complete (a half-written zarr reads back as NaN silently).
- Every artifact carries attributes saying what produced it: ``stage``,
  ``run``, ``band``, ``iteration``, ``config_hash``, ``fwi_core_version``.
- Stores are written and read with ``consolidated=False`` (zarr 3) and the
  warnings about Snakemake's ``.snakemake_timestamp`` file are filtered.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def configure_warnings() -> None:
    """Silence the known-harmless zarr warnings (idempotent)."""
    warnings.filterwarnings("ignore", message=r".*\.snakemake_timestamp.*")
    warnings.filterwarnings("ignore", message=r".*[Cc]onsolidated metadata.*")


configure_warnings()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def provenance(stage: str, *, run: str | None = None, band: int | None = None,
               iteration: int | None = None, config_hash: str | None = None, **extra) -> dict:
    """Attributes describing what produced an artifact."""
    try:
        from importlib.metadata import version

        ver = version("fwi_core")
    except Exception:  # not installed (running from the source tree)
        ver = "source"
    attrs = {"stage": stage, "fwi_core_version": ver}
    for k, v in (("run", run), ("band", band), ("iteration", iteration), ("config_hash", config_hash)):
        if v is not None:
            attrs[k] = v
    attrs.update(extra)
    return _jsonable(attrs)


def _to_dataset(obj: xr.DataArray | xr.Dataset) -> xr.Dataset:
    if isinstance(obj, xr.Dataset):
        return obj
    name = obj.name or "data"
    return obj.to_dataset(name=name)


def write(obj: xr.DataArray | xr.Dataset, path: str | os.PathLike, attrs: dict | None = None) -> str:
    """Atomically write ``obj`` as a zarr store at ``path`` (replacing it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = _to_dataset(obj).copy()
    ds.attrs = _jsonable({**ds.attrs, **(attrs or {})})
    for v in ds.variables.values():
        v.attrs = _jsonable(dict(v.attrs))
        v.encoding = {}
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        ds.to_zarr(tmp, mode="w", consolidated=False, zarr_format=3)
        if path.exists():
            trash = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, trash)
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(path)


def open_dataset(path: str | os.PathLike, load: bool = True) -> xr.Dataset:
    """Open a zarr artifact (non-consolidated), loaded into memory by default."""
    if not Path(path).exists():
        raise FileNotFoundError(f"artifact not found: {path}")
    ds = xr.open_zarr(path, consolidated=False)
    return ds.load() if load else ds


def read(path: str | os.PathLike, name: str | None = None) -> xr.DataArray:
    """Read one variable (default: the only/first one) of an artifact as a DataArray."""
    ds = open_dataset(path)
    if name is None:
        name = list(ds.data_vars)[0]
    da = ds[name]
    da.attrs = {**ds.attrs, **da.attrs}
    return da


# ----------------------------------------------------------------------------- acquisition
def acquisition_to_dataset(acq) -> xr.Dataset:
    src = np.asarray(acq.sources, dtype=np.float64)
    rec = np.asarray(acq.receivers, dtype=np.float64)
    if rec.ndim == 2:
        rec = np.broadcast_to(rec, (src.shape[0],) + rec.shape).copy()
    return xr.Dataset(
        {"sources": (("shot", "coord"), src), "receivers": (("shot", "receiver", "coord"), rec)},
        coords={"shot": np.arange(src.shape[0]), "coord": ["z", "x"]},
    )


def acquisition_from_dataset(ds: xr.Dataset):
    import fwi_core as fwi

    return fwi.Acquisition(sources=ds["sources"].values, receivers=ds["receivers"].values)


# ----------------------------------------------------------------------------- observed data
def load_observed(path: str | os.PathLike, time: np.ndarray, n_shots: int | None = None,
                  variable: str | None = None) -> xr.DataArray:
    """Read observed data (dims shot, receiver, time) and resample it onto ``time`` (s).

    Data shorter than ``time`` are zero-padded; a differing sample interval is
    handled by linear interpolation (the simulation dt is normally finer).
    """
    ds = open_dataset(path)
    name = variable or ("data" if "data" in ds else list(ds.data_vars)[0])
    if name not in ds:
        raise ValueError(f"observed.variable: {name!r} not in {path}; allowed values: {', '.join(ds.data_vars)}")
    d = ds[name]
    if tuple(d.dims) != ("shot", "receiver", "time"):
        raise ValueError(f"observed.path: {path}:{name} has dims {d.dims}; expected ('shot', 'receiver', 'time')")
    if n_shots is not None and d.sizes["shot"] != n_shots:
        raise ValueError(f"observed.path: {d.sizes['shot']} shots in {path}, acquisition has {n_shots}")
    t_in = d["time"].values if "time" in d.coords else None
    vals = d.values
    if t_in is None or (len(t_in) == len(time) and np.allclose(t_in, time)):
        out = vals[..., : len(time)]
        if out.shape[-1] < len(time):
            out = np.concatenate([out, np.zeros(out.shape[:-1] + (len(time) - out.shape[-1],), out.dtype)], -1)
    else:
        flat = vals.reshape(-1, vals.shape[-1])
        out = np.stack([np.interp(time, t_in, tr, left=0.0, right=0.0) for tr in flat]).reshape(
            vals.shape[:-1] + (len(time),))
    res = xr.DataArray(out.astype(np.float32), dims=("shot", "receiver", "time"),
                       coords={"time": np.asarray(time)}, name="data")
    for c in ("src_z", "src_x", "rec_z", "rec_x"):
        if c in d.coords:
            res = res.assign_coords({c: d.coords[c]})
    return res


def dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), sort_keys=True)
