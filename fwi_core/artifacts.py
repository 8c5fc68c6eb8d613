"""Artifact I/O: xarray objects on zarr, written atomically, with provenance.

- :func:`write` stores a DataArray/Dataset under ``path`` by writing to a
  temporary sibling and renaming it into place, so a killed job never leaves a
  store that looks complete (a half-written zarr reads back as NaN silently).
- Every artifact carries attributes saying what produced it: ``stage``,
  ``run``, ``band``, ``iteration``, ``config_hash``, ``fwi_core_version``.
- Stores are written and read with ``consolidated=False`` (zarr 3) and the
  warnings about Snakemake's ``.snakemake_timestamp`` file are filtered.
- Every store records a manifest (attr ``fwi_manifest``: shape, dtype and
  CRC32 of each numeric variable as written); :func:`open_dataset` checks it,
  so a missing, truncated or altered chunk raises
  :class:`DamagedArtifactError` naming the store, instead of reading as NaN.
- Temporary stores a killed job left (``.NAME.tmp-*``, ``.NAME.old-*``) are
  removed when NAME is written again, and by :func:`remove_stale`.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


MANIFEST_ATTR = "fwi_manifest"


class DamagedArtifactError(ValueError):
    """An artifact store is incomplete or differs from what was written."""


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


def _checksum(values: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(values).view(np.uint8).reshape(-1))


def manifest(ds: xr.Dataset) -> dict:
    """``{variable: {shape, dtype, crc32}}`` of the numeric variables (data and coordinates)."""
    out = {}
    for name, var in ds.variables.items():
        v = np.asarray(var.values)
        if v.dtype.kind in "biufc":
            out[str(name)] = {"shape": list(v.shape), "dtype": v.dtype.str, "crc32": _checksum(v)}
    return out


def _stale(path: Path) -> list[Path]:
    """Temporary siblings of ``path`` a killed write left behind."""
    return [p for pat in (f".{path.name}.tmp-*", f".{path.name}.old-*") for p in path.parent.glob(pat)]


def remove_stale(root: str | os.PathLike) -> list[str]:
    """Remove every temporary store (``.NAME.tmp-*``, ``.NAME.old-*``) under
    ``root`` that a killed job left behind; returns their paths. Only for a
    tree no job is writing to (the Snakefile calls it as a run starts)."""
    root = Path(root)
    if not root.is_dir():
        return []
    gone = []
    for pat in (".*.tmp-*", ".*.old-*"):
        for p in root.rglob(pat):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                gone.append(str(p))
    return gone


def write(obj: xr.DataArray | xr.Dataset, path: str | os.PathLike, attrs: dict | None = None) -> str:
    """Atomically write ``obj`` as a zarr store at ``path`` (replacing it),
    with its provenance ``attrs`` and a manifest that :func:`open_dataset` checks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in _stale(path):  # a killed earlier write of this artifact
        shutil.rmtree(p, ignore_errors=True)
    ds = _to_dataset(obj).copy()
    ds.attrs = _jsonable({**ds.attrs, **(attrs or {})})
    ds.attrs[MANIFEST_ATTR] = manifest(ds)
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


def verify(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Check a loaded store against the manifest it was written with; raise
    :class:`DamagedArtifactError` naming ``path`` and the variable."""
    for name, m in (ds.attrs.get(MANIFEST_ATTR) or {}).items():
        if name not in ds.variables:
            raise DamagedArtifactError(f"{path}: variable {name!r} is missing; delete the store and rerun "
                                       f"(snakemake rebuilds it)")
        v = np.asarray(ds.variables[name].values)
        if list(v.shape) != list(m["shape"]) or _checksum(v.astype(np.dtype(m["dtype"]), copy=False)) != m["crc32"]:
            raise DamagedArtifactError(
                f"{path}: variable {name!r} does not match what was written (a chunk missing or damaged); "
                f"delete the store and rerun (snakemake rebuilds it)")


def open_dataset(path: str | os.PathLike, load: bool = True) -> xr.Dataset:
    """Open a zarr artifact (non-consolidated), loaded into memory by default.

    A loaded store is checked against its manifest (:func:`verify`); a store
    that cannot be read or decoded (a truncated chunk, damaged metadata)
    raises :class:`DamagedArtifactError` naming it. ``load=False`` opens
    lazily and checks nothing. Stores without a manifest (older versions,
    a user's own data) are read unchecked.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"artifact not found: {path}")
    try:
        ds = xr.open_zarr(path, consolidated=False)
        if not load:
            return ds
        ds = ds.load()
    except Exception as err:
        raise DamagedArtifactError(f"{path}: cannot be read ({type(err).__name__}: {err}); delete the store "
                                   f"and rerun (snakemake rebuilds it)") from err
    verify(ds, path)
    return ds


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
    from .acquisition import Acquisition

    return Acquisition(sources=ds["sources"].values, receivers=ds["receivers"].values)


# ----------------------------------------------------------------------------- observed data
#: Observed data whose sample interval is more than this many modelling
#: time steps are refused: too coarse for the frequencies being modelled.
MAX_OBSERVED_DT_RATIO = 4.0


def load_observed(path: str | os.PathLike, time: np.ndarray, n_shots: int | None = None,
                  variable: str | None = None, n_receivers: int | None = None) -> xr.DataArray:
    """Read observed data (dims shot, receiver, time; ``time`` coordinate in
    seconds) and resample them onto the modelling ``time`` axis (s).

    Refused, with a ``ValueError`` naming the config key and the file: no
    ``time`` coordinate or an irregular one; a record that does not cover
    ``[time[0], time[-1]]`` (half a sample of tolerance at each end; nothing
    is zero-padded); a sample interval more than
    :data:`MAX_OBSERVED_DT_RATIO` modelling steps (with a hint when the axis
    looks like milliseconds); shot or receiver counts other than the
    acquisition's; NaN or inf; all traces zero or more than half of them
    dead. A few dead (all-zero) traces are kept, counted in the attr
    ``n_dead_traces``. Resampling is linear interpolation: the data are
    normally sampled as finely as the modelling step or more coarsely by a
    small factor, and each band's low-pass filter follows.
    """
    ds = open_dataset(path)
    where = f"observed.path: {path}"
    name = variable or ("data" if "data" in ds else list(ds.data_vars)[0])
    if name not in ds:
        raise ValueError(f"observed.variable: {name!r} not in {path}; allowed values: {', '.join(ds.data_vars)}")
    d = ds[name]
    if tuple(d.dims) != ("shot", "receiver", "time"):
        raise ValueError(f"{where}:{name} has dims {d.dims}; expected ('shot', 'receiver', 'time')")
    for what, n, key in (("shots", n_shots, "shot"), ("receivers", n_receivers, "receiver")):
        if n is not None and d.sizes[key] != n:
            raise ValueError(f"{where}: {d.sizes[key]} {what} in the data, the acquisition has {n} "
                             f"(key 'acquisition')")
    if "time" not in d.coords:
        raise ValueError(f"{where}:{name} has no 'time' coordinate (seconds); the data cannot be placed in time")
    t_in = np.asarray(d["time"].values, np.float64)
    step = np.diff(t_in)
    if t_in.size < 2 or not np.all(np.isfinite(t_in)) or not np.all(step > 0) or np.ptp(step) > 1e-3 * step[0]:
        raise ValueError(f"{where}: the 'time' coordinate must be finite, increasing and regular")
    dt_in, dt = float(step[0]), float(time[1] - time[0])
    t0, t1 = float(time[0]), float(time[-1])
    hint = (" (is the time axis in milliseconds? it must be in seconds)"
            if t_in[-1] - t_in[0] > 100 * (t1 - t0) else "")
    if t_in[0] > t0 + 0.5 * dt or t_in[-1] < t1 - 0.5 * dt:
        raise ValueError(f"{where}: the data span {t_in[0]:g}-{t_in[-1]:g} s, the modelling window "
                         f"{t0:g}-{t1:g} s (simulation.t_max){hint}; give data covering the window or "
                         f"shorten simulation.t_max (nothing is zero-padded)")
    if dt_in > MAX_OBSERVED_DT_RATIO * dt:
        raise ValueError(f"{where}: sample interval {dt_in:g} s against the modelling dt {dt:g} s{hint}: "
                         f"more than {MAX_OBSERVED_DT_RATIO:g} steps, too coarse for the modelled frequencies")
    vals = np.asarray(d.values)
    n_bad = int(np.count_nonzero(~np.isfinite(vals)))
    if n_bad:
        raise ValueError(f"{where}: {n_bad} NaN or inf sample(s)")
    dead = ~np.any(vals != 0, axis=-1)
    n_dead, n_traces = int(dead.sum()), dead.size
    if n_dead == n_traces:
        raise ValueError(f"{where}: every trace is zero; there is nothing to invert")
    if n_dead > n_traces // 2:
        raise ValueError(f"{where}: {n_dead} of {n_traces} traces are dead (all zero): more than half")
    if len(t_in) == len(time) and np.allclose(t_in, time, rtol=0, atol=1e-6 * dt):
        out = vals
    else:
        flat = vals.reshape(-1, vals.shape[-1])
        out = np.stack([np.interp(time, t_in, tr) for tr in flat]).reshape(vals.shape[:-1] + (len(time),))
    res = xr.DataArray(out.astype(np.float32), dims=("shot", "receiver", "time"),
                       coords={"time": np.asarray(time)}, name="data",
                       attrs={"n_dead_traces": n_dead, "source_dt": dt_in})
    for c in ("src_z", "src_x", "rec_z", "rec_x"):
        if c in d.coords:
            res = res.assign_coords({c: d.coords[c]})
    return res


def dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), sort_keys=True)
