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
- :func:`replacing` gives the same all-or-nothing write to any file or
  directory (figures, tables, a fused job's directory of stores).
- Temporary stores and files a killed job left (``.NAME.tmp-*``,
  ``.NAME.old-*``) are removed when NAME is written again, and by
  :func:`remove_stale`.
"""
from __future__ import annotations

import contextlib
import fnmatch
import glob
import json
import os
import shutil
import uuid
import warnings
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from .axes import dims_of
from .engine.acquisition import Acquisition


MANIFEST_ATTR = "fwi_manifest"

#: Units of the variables and coordinates the workflow writes, by name: given
#: to any that has none when it is written (an artifact's own ``units`` wins).
UNITS = {
    "z": "m", "y": "m", "x": "m", "time": "s", "vp": "m/s", "model": "m/s",
    "sources": "m", "receivers": "m", "src_z": "m", "src_y": "m", "src_x": "m",
    "rec_z": "m", "rec_y": "m", "rec_x": "m", "offset": "m", "shift": "s",
    "gradient": "misfit per (m/s)", "pgradient": "misfit per (m/s), preconditioned",
    "direction": "m/s", "lbfgs_s": "m/s", "lbfgs_y": "misfit per (m/s)",
    "illumination": "1 (relative)", "mask": "1", "sqrt_weight": "1", "live": "1 (boolean)",
    "misfit": "misfit (of the band's data units)", "data": "pressure (source units)",
    "wavelet": "source units", "shot": "1 (index)", "receiver": "1 (index)",
    "trace_mask": "1 (boolean, true: the trace enters the misfit)",
}


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


#: Names of the temporary stores :func:`write` makes (``.NAME.tmp-xxxxxxxx``)
#: and of the store it replaces (``.NAME.old-xxxxxxxx``) until the rename is done.
_STALE_PATTERNS = (".*.tmp-*", ".*.old-*")


def _stale(path: Path) -> list[Path]:
    """Temporary siblings of ``path`` a killed write left behind."""
    name = glob.escape(path.name)
    return [p for pat in (f".{name}.tmp-*", f".{name}.old-*") for p in path.parent.glob(pat)]


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def remove_stale(root: str | os.PathLike) -> list[str]:
    """Remove every temporary store or file (``.NAME.tmp-*``, ``.NAME.old-*``)
    under ``root`` that a killed job left behind; returns their paths. Only for
    a tree no job is writing to (the Snakefile calls it as a run starts;
    Snakemake's lock keeps a second run off the same results). Zarr stores
    themselves are not descended into (their chunk directories are many and
    never hold one)."""
    gone: list[str] = []
    for here, dirs, files in os.walk(root):
        keep = []
        for d in dirs:
            p = os.path.join(here, d)
            if any(fnmatch.fnmatchcase(d, pat) for pat in _STALE_PATTERNS):
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p)
            elif not os.path.exists(os.path.join(p, "zarr.json")):
                keep.append(d)
        dirs[:] = keep
        for f in files:
            if any(fnmatch.fnmatchcase(f, pat) for pat in _STALE_PATTERNS):
                _remove(Path(here, f))
                gone.append(os.path.join(here, f))
    return sorted(gone)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """All-or-nothing write of a file or a directory: yields a temporary
    sibling path (``.NAME.tmp-xxxxxxxx`` plus NAME's suffix, so writers that
    go by the extension pick the same format) and renames it onto ``path``
    when the block ends without an error. An error or a kill inside the block
    leaves ``path`` as it was (absent, or the previous version), never half
    written; Snakemake then sees a missing output and reruns the job."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in _stale(path):  # a killed earlier write of this path
        _remove(p)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}"
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():  # a directory is not replaced by os.replace
            trash = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, trash)
            os.replace(tmp, path)
            _remove(trash)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def write(obj: xr.DataArray | xr.Dataset, path: str | os.PathLike, attrs: dict | None = None) -> str:
    """Atomically write ``obj`` as a zarr store at ``path`` (replacing it),
    with its provenance ``attrs`` and a manifest that :func:`open_dataset` checks."""
    ds = _to_dataset(obj).copy()
    ds.attrs = _jsonable({**ds.attrs, **(attrs or {})})
    ds.attrs[MANIFEST_ATTR] = manifest(ds)
    for name, v in ds.variables.items():
        v.attrs = _jsonable({**({"units": UNITS[str(name)]} if str(name) in UNITS else {}), **v.attrs})
        v.encoding = {}
    # consolidated: a plain xr.open_zarr(path) reads it without a warning (zarr warns,
    # on writing, that zarr 3 has no specification for it yet; our readers do not use it)
    with replacing(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Cc]onsolidated metadata.*")
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=3)
    return str(path)


_RERUN = "delete it and rerun (snakemake reruns what produced it)"


def verify(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Check a loaded store against the manifest it was written with; raise
    :class:`DamagedArtifactError` naming ``path`` and the variable. A store
    without a manifest passes unchecked."""
    for name, m in (ds.attrs.get(MANIFEST_ATTR) or {}).items():
        if name not in ds.variables:
            raise DamagedArtifactError(f"{path}: variable {name!r} is missing (its zarr.json or directory "
                                       f"is gone); {_RERUN}")
        v = np.asarray(ds.variables[name].values)
        if list(v.shape) != list(m["shape"]):
            raise DamagedArtifactError(f"{path}: variable {name!r} has shape {list(v.shape)}, "
                                       f"{list(m['shape'])} was written; {_RERUN}")
        try:
            same = _checksum(v.astype(np.dtype(m["dtype"]), copy=False)) == m["crc32"]
        except (TypeError, ValueError):  # decoded to something the written dtype cannot hold
            same = False
        if not same:
            raise DamagedArtifactError(
                f"{path}: variable {name!r} does not match what was written (a chunk missing or damaged); "
                f"{_RERUN}")


def _unreadable(path: str | os.PathLike) -> str | None:
    """The first array of a store whose metadata or chunks cannot be read
    (the culprit when xarray cannot even open the store), or None."""
    try:
        import zarr

        names = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    except Exception:
        return None
    for name in names:
        try:
            zarr.open_array(os.path.join(path, name), mode="r", zarr_format=3)[...]
        except Exception:
            return name
    return None


def open_dataset(path: str | os.PathLike, load: bool = True) -> xr.Dataset:
    """Open a zarr artifact (non-consolidated), loaded into memory by default.

    A loaded store is checked against its manifest (:func:`verify`: shape
    and CRC32 of every numeric variable as written); a store that cannot be
    read or decoded (a truncated chunk, damaged or missing metadata) raises
    :class:`DamagedArtifactError` naming it and the variable when known. A
    chunk file that is missing reads as the fill value (NaN) in zarr; the
    manifest is what catches it. Stores without a manifest (older versions,
    a user's own data) are read unchecked, but an unreadable chunk still
    raises naming the store. ``load=False`` opens lazily and verifies
    **nothing** (the data are read, unchecked, when first used).
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"artifact not found: {path}")
    try:
        ds = xr.open_zarr(path, consolidated=False)  # also reads the index coordinates
    except MemoryError:
        raise
    except Exception as err:
        if not (Path(path) / "zarr.json").exists():
            raise DamagedArtifactError(f"{path}: not a complete zarr store (its zarr.json is missing); "
                                       f"{_RERUN}") from err
        culprit = _unreadable(path)
        what = f"variable {culprit!r}" if culprit else "the store"
        raise DamagedArtifactError(f"{path}: {what} cannot be read ({type(err).__name__}: {err}); "
                                   f"{_RERUN}") from err
    if not load:
        return ds
    for name, var in ds.variables.items():
        try:
            var.load()  # in place: one variable at a time, so an error can name it
        except MemoryError:
            raise
        except Exception as err:
            raise DamagedArtifactError(f"{path}: variable {name!r} cannot be read ({type(err).__name__}: "
                                       f"{err}); {_RERUN}") from err
    ds = ds.load()  # nothing left to read; makes sure the Dataset holds numpy arrays
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
    """An :class:`~fwi_core.engine.acquisition.Acquisition` as a store:
    ``sources`` (shot, coord) and ``receivers`` (shot, receiver, coord), m,
    and, when some receiver slots are masked (shots with receiver sets of
    their own sizes), ``mask`` (shot, receiver)."""
    src = np.asarray(acq.sources, dtype=np.float64)
    rec = np.asarray(acq.receivers, dtype=np.float64)
    if rec.ndim == 2:
        rec = np.broadcast_to(rec, (src.shape[0],) + rec.shape).copy()
    # the order of the coordinates as an attribute (a string coordinate has no zarr 3 data type yet)
    ds = xr.Dataset(
        {"sources": (("shot", "coord"), src), "receivers": (("shot", "receiver", "coord"), rec)},
        coords={"shot": np.arange(src.shape[0])}, attrs={"coord": list(dims_of(src.shape[-1]))},
    )
    if getattr(acq, "masked", False):
        ds["mask"] = (("shot", "receiver"), np.asarray(acq.mask, bool))
    return ds


def acquisition_from_dataset(ds: xr.Dataset):
    mask = ds["mask"].values if "mask" in ds else None
    return Acquisition(sources=ds["sources"].values, receivers=ds["receivers"].values, mask=mask)


# ----------------------------------------------------------------------------- observed data
#: Observed data whose sample interval is more than this many modelling
#: time steps are refused: too coarse for the frequencies being modelled.
MAX_OBSERVED_DT_RATIO = 4.0

#: Name of the observed data's trace mask, a (shot, receiver) boolean
#: coordinate of the data: False for a trace that is left out of the misfit
#: (a padded receiver slot, a dead or all-zero trace). Absent: all live.
TRACE_MASK = "trace_mask"


def trace_mask(d: xr.DataArray) -> np.ndarray | None:
    """The ``(n_shots, n_receivers)`` boolean trace mask of observed data
    (:data:`TRACE_MASK`), or None when every trace is live."""
    if TRACE_MASK not in d.coords:
        return None
    m = np.asarray(d.coords[TRACE_MASK].values, bool)
    return None if m.all() else m


def with_trace_mask(d: xr.DataArray, mask: np.ndarray | None) -> xr.DataArray:
    """``d`` with its masked traces set to zero and the mask attached as the
    :data:`TRACE_MASK` coordinate (nothing attached when every trace is live)."""
    if mask is None or np.all(mask):
        return d.drop_vars(TRACE_MASK, errors="ignore")
    mask = np.asarray(mask, bool)
    vals = np.where(mask[..., None], d.values, 0).astype(d.dtype, copy=False)
    return d.copy(data=vals).assign_coords({TRACE_MASK: (("shot", "receiver"), mask)})


def _time_seconds(tc: xr.DataArray, where: str) -> np.ndarray:
    if tc.dtype.kind == "m":  # decoded as a timedelta
        return np.asarray(tc.values / np.timedelta64(1, "s"), np.float64)
    if tc.dtype.kind not in "iuf":
        raise ValueError(f"{where}: the 'time' coordinate has dtype {tc.dtype}; it must be numbers, in seconds")
    return np.asarray(tc.values, np.float64)


def load_observed(path: str | os.PathLike, time: np.ndarray, n_shots: int | None = None,
                  variable: str | None = None, n_receivers: int | None = None) -> xr.DataArray:
    """Read observed data from a zarr store (dims shot, receiver, time;
    ``time`` coordinate in seconds; optionally a boolean ``trace_mask``
    (shot, receiver) variable or coordinate, False for traces to leave out)
    and put them on the modelling ``time`` axis (s) with :func:`conform_observed`.

    Refused, with a ``ValueError`` naming the config key (``observed.path``,
    ``observed.variable``, ``acquisition``) and the file: no ``time``
    coordinate (nothing is assumed about the start or the sample interval:
    never zero-padded), other dims, shot or receiver counts other than the
    acquisition's (both named), and everything :func:`conform_observed` refuses.
    """
    ds = open_dataset(path)
    where = f"observed.path: {path}"
    if not ds.data_vars:
        raise ValueError(f"{where}: the store has no data variable")
    name = variable or ("data" if "data" in ds else list(ds.data_vars)[0])
    if name not in ds.data_vars:
        raise ValueError(f"observed.variable: {name!r} not in {path}; allowed values: {', '.join(ds.data_vars)}")
    d = ds[name]
    want = ("shot", "receiver", "time")
    if set(d.dims) != set(want):
        raise ValueError(f"{where}:{name} has dims {d.dims}; expected {want}")
    d = d.transpose(*want)
    for what, n, key in (("shots", n_shots, "shot"), ("receivers", n_receivers, "receiver")):
        if n is not None and d.sizes[key] != n:
            raise ValueError(f"{where}: {d.sizes[key]} {what} in the data, the acquisition has {n} "
                             f"(key 'acquisition')")
    if "time" not in d.coords:
        raise ValueError(f"{where}:{name} has no 'time' coordinate (seconds); the data cannot be placed in "
                         f"time (nothing is assumed about their start or sample interval)")
    mask = None
    if TRACE_MASK in ds.variables:
        m = ds[TRACE_MASK]
        if set(m.dims) != {"shot", "receiver"} or m.dtype.kind not in "bui":
            raise ValueError(f"{where}: {TRACE_MASK!r} must be booleans with dims (shot, receiver), got "
                             f"{m.dtype} {m.dims}")
        mask = m.transpose("shot", "receiver").values.astype(bool)
    res = conform_observed(np.asarray(d.values), _time_seconds(d["time"], where), time, where, mask)
    for c in ("src_z", "src_y", "src_x", "rec_z", "rec_y", "rec_x"):
        if c in d.coords:
            res = res.assign_coords({c: d.coords[c]})
    return res


def conform_observed(values: np.ndarray, t_in: np.ndarray, time: np.ndarray, where: str,
                     mask: np.ndarray | None = None) -> xr.DataArray:
    """Check observed data and put them on the modelling ``time`` axis (s).

    ``values``: ``(n_shots, n_receivers, n_in)``, sampled at ``t_in`` (s);
    ``mask``: ``(n_shots, n_receivers)`` booleans, False for traces that are
    not data (padding, traces flagged dead); ``where``: the config key and
    file every message names. Refused with a ``ValueError``:

    - a time axis that is not finite, strictly increasing and regular (every
      sample within 1 % of an interval of a regular axis);
    - a record that does not cover the modelling window ``[time[0],
      time[-1]]``, with half a sample (the coarser of the two intervals) of
      tolerance at each end; the message says by how much it falls short.
      Nothing is zero-padded;
    - a sample interval more than :data:`MAX_OBSERVED_DT_RATIO` modelling
      steps (too coarse: the modelled band would be aliased), with a hint
      when the axis looks like milliseconds;
    - NaN or inf samples in a live trace (counted);
    - every live trace zero, or more than half of them dead (all zero).

    All-zero live traces are left out of the misfit (added to the mask) and
    counted (attr ``n_dead_traces``, the first 20 as [shot, receiver] in
    ``dead_traces``); masked traces are set to zero. The
    result is a DataArray ``(shot, receiver, time)`` float32 with the mask
    as its :data:`TRACE_MASK` coordinate (absent when every trace is live),
    attrs ``source_dt``, ``source_t0`` (the observed axis, s) and
    ``resampled``.

    Data on the modelling axis (to a thousandth of a sample, so a float32
    time coordinate counts) are returned as they are; otherwise they are
    resampled with :func:`fwi_core.traces.signal.resample` (an anti-alias
    low-pass when the data are sampled more finely, then band-limited
    interpolation).
    """
    from .traces.signal import resample

    vals = np.asarray(values)
    n_shots, n_rec = vals.shape[:2]
    live = np.ones((n_shots, n_rec), bool) if mask is None else np.asarray(mask, bool)
    if live.shape != (n_shots, n_rec):
        raise ValueError(f"{where}: trace mask of shape {live.shape} for {n_shots} shots x {n_rec} receivers")
    t_in = np.asarray(t_in, np.float64)
    n_in = t_in.size
    if n_in < 4 or not np.all(np.isfinite(t_in)):
        raise ValueError(f"{where}: the time axis must have at least 4 samples, all finite")
    if not np.all(np.diff(t_in) > 0):
        k = int(np.argmin(np.diff(t_in) > 0))
        raise ValueError(f"{where}: the time axis is not strictly increasing "
                         f"(sample {k + 1}: {t_in[k + 1]:g} s after {t_in[k]:g} s)")
    dt_in = float(t_in[-1] - t_in[0]) / (n_in - 1)
    off = float(np.max(np.abs(t_in - (t_in[0] + dt_in * np.arange(n_in)))))
    if off > 0.01 * dt_in:
        raise ValueError(f"{where}: the time axis is irregular (up to {off:.3g} s off a regular axis "
                         f"of interval {dt_in:.6g} s); resample the data onto a regular axis")
    time = np.asarray(time, np.float64)
    dt = float(time[1] - time[0])
    t0, t1 = float(time[0]), float(time[-1])
    hint = (" (is the time axis in milliseconds, or in samples? it must be in seconds)"
            if t_in[-1] - t_in[0] > 100 * (t1 - t0) or dt_in > 100 * dt else "")
    tol = 0.5 * max(dt, dt_in)
    late, early = float(t_in[0] - t0), float(t1 - t_in[-1])
    if late > tol or early > tol:
        short = " and ".join(s for s in ((f"starts {late:.6g} s late" if late > tol else ""),
                                         (f"ends {early:.6g} s early" if early > tol else "")) if s)
        raise ValueError(f"{where}: the record spans {t_in[0]:g}-{t_in[-1]:g} s and does not cover the "
                         f"modelling window {t0:g}-{t1:g} s (simulation.t_max): it {short}{hint}; give data "
                         f"covering the window or shorten simulation.t_max (nothing is zero-padded)")
    if dt_in > MAX_OBSERVED_DT_RATIO * dt:
        raise ValueError(f"{where}: sample interval {dt_in:.6g} s is {dt_in / dt:.3g} times the modelling "
                         f"dt {dt:.6g} s{hint}: more than {MAX_OBSERVED_DT_RATIO:g}, too coarse for the "
                         f"modelled frequencies (they would be aliased)")
    if not live.all():
        vals = np.where(live[..., None], vals, 0)
    n_bad = int(np.count_nonzero(~np.isfinite(vals)))
    if n_bad:
        first = np.argwhere(~np.isfinite(vals))[0]
        raise ValueError(f"{where}: {n_bad} NaN or inf sample(s), the first in shot {first[0]} receiver "
                         f"{first[1]} at sample {first[2]}")
    dead = live & ~np.any(vals != 0, axis=-1)
    n_dead, n_traces = int(dead.sum()), int(live.sum())
    if n_dead == n_traces:
        raise ValueError(f"{where}: every trace is zero ({n_traces} traces); there is nothing to invert")
    if 2 * n_dead > n_traces:
        raise ValueError(f"{where}: {n_dead} of {n_traces} traces are dead (all zero): more than half")
    resampled = not (n_in == time.size and np.allclose(t_in, time, rtol=0, atol=1e-3 * dt))  # float32 axes too
    out = resample(vals, t_in, time).astype(np.float32, copy=False) if resampled \
        else vals.astype(np.float32, copy=False)
    res = xr.DataArray(out, dims=("shot", "receiver", "time"), coords={"time": time}, name="data",
                       attrs={"n_dead_traces": n_dead, "dead_traces": np.argwhere(dead)[:20].tolist(),
                              "source_dt": dt_in, "source_t0": float(t_in[0]), "resampled": bool(resampled)})
    return with_trace_mask(res, live & ~dead)


def dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), sort_keys=True)
