"""Validation of a whole config: the schema (:mod:`.schema`), then what
needs the input files (each model's grid and values, positions inside the
model, a band below Nyquist, a record longer than the wavelet, memory).
:func:`validate` returns a normalised copy of the config in which

- every default of the schema is filled in,
- ``runs[name]`` is the complete inversion setting of that run (the shared
  ``inversion`` block deep-merged with the run's overrides; lists are replaced),
- relative input paths are kept as written (resolve them with :func:`resolve_path`).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..axes import DIMS, dims_of, per_axis
from ..geometry import SPREAD_FORMS, moving_spread, spread_count, surface_positions
from ..stencils import max_stable_dt
from ..traces import misfits
from ..traces import segy as tsegy
from .schema import (ConfigError, canonical_json, coerce_strings, deep_merge, fill_defaults, load_schema,
                     load_yaml, resolve_path, schema_errors)

_SOURCE_KINDS = ("generator", "file", "from_true", "trend")


def _check_model_source(ms: dict, key: str, base_dir, errs: list[str], allow_from_true: bool) -> None:
    kinds = [k for k in _SOURCE_KINDS if k in ms]
    allowed = _SOURCE_KINDS if allow_from_true else ("generator", "file")
    if len(kinds) != 1 or kinds[0] not in allowed:
        errs.append(f"key '{key}': give exactly one of {', '.join(allowed)} (got: {', '.join(kinds) or 'none'})")
        return
    kind = kinds[0]
    if kind == "generator":
        if ms["generator"] != "constant" or "shape" not in ms:
            for req in ("shape", "spacing"):
                if req not in ms:
                    errs.append(f"key '{key}.{req}': required with 'generator'")
    elif kind == "file":
        f = ms["file"]
        if not (f.endswith(".npy") or f.rstrip("/").endswith(".zarr")):
            errs.append(f"key '{key}.file': {f!r} is not allowed; allowed: a .npy or .zarr path")
        elif f.endswith(".npy") and "spacing" not in ms:
            errs.append(f"key '{key}.spacing': required with a .npy 'file' (metres, dz or [dz, dx])")
        if base_dir is not None and not os.path.exists(resolve_path(f, base_dir)):
            errs.append(f"key '{key}.file': {f!r} not found (paths are relative to the project root {base_dir})")
    if kind != "generator":
        for k in ("shape", "seed", "velocity", "water_depth"):
            if k in ms:
                errs.append(f"key '{key}.{k}': only allowed with 'generator'")
    if kind in ("from_true", "trend") and "spacing" in ms:
        errs.append(f"key '{key}.spacing': only allowed with 'generator' or a .npy 'file'")


#: Fewest cells along each axis of a model (the generators' minimum too).
MIN_MODEL_CELLS = 8
_SIZE_RULE = (f"a 2-D (z, x) model of at least {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS} cells or a 3-D (z, y, x) "
              f"model of at least {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS}")


def file_fingerprint(path: str | os.PathLike) -> str | None:
    """A short hash of the size and modification time of a file, or of every
    file under a directory (a zarr store): a rerun trigger, so that rewriting
    an input file reruns what was built from it. None if it does not exist."""
    p = Path(path)
    if not p.exists():
        return None
    files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
    h = hashlib.sha256()
    for q in files:
        st = q.stat()
        h.update(f"{q.relative_to(p) if q != p else ''}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def observed_fingerprint(cfg: dict, base_dir) -> str | None:
    """:func:`file_fingerprint` of the observed data (a zarr store, or every
    SEG-Y file of ``observed.path``); None for synthetic data."""
    obs = cfg["observed"]
    if obs["source"] == "synthetic":
        return None
    path = resolve_path(obs["path"], base_dir)
    if obs["source"] == "zarr":
        return file_fingerprint(path)
    stamps = [file_fingerprint(f) for f in tsegy.expand_paths(path)]
    return hashlib.sha256(canonical_json(stamps).encode()).hexdigest()[:16]


def source_fingerprint(spec: dict | None, base_dir) -> str | None:
    """:func:`file_fingerprint` of a model source's ``file`` (None without one)."""
    if not spec or "file" not in spec:
        return None
    return file_fingerprint(resolve_path(spec["file"], base_dir))


def acquisition_counts(acq: dict) -> tuple[int, int]:
    """``(n_shots, n_receivers)`` of the config's ``acquisition`` block: counts,
    areal grids ``[ny, nx]`` (3-D) or the listed positions; with a moving
    ``spread``, the receivers of its largest shot (before any is dropped at
    the model's edges)."""
    def count(n, listed):
        return int(np.prod(n)) if n is not None else len(listed or [])
    n_shots = count(acq.get("n_shots"), acq.get("sources"))
    sp = acq.get("spread")
    if sp is not None:
        specs = sp if isinstance(sp, list) else [sp]
        try:
            return n_shots, max(spread_count(s) for s in specs)
        except ValueError:
            return n_shots, 1
    return n_shots, count(acq.get("n_receivers"), acq.get("receivers"))


def segy_geometry(cfg: dict, base_dir, ndim: int) -> tsegy.Gathers:
    """The shot gathers of ``observed.source: segy`` (:func:`fwi_core.traces.segy.read_geometry`
    with ``observed.segy``) on a ``ndim``-D model; read once per process for
    the same files (keyed by their size and modification time)."""
    obs = cfg["observed"]
    files = tuple(tsegy.expand_paths(resolve_path(obs["path"], base_dir)))
    stamp = tuple(file_fingerprint(f) for f in files)
    return _segy_geometry(files, stamp, canonical_json(obs.get("segy") or {}), ndim)


@functools.lru_cache(maxsize=8)
def _segy_geometry(files: tuple, stamp: tuple, settings: str, ndim: int) -> tsegy.Gathers:
    return tsegy.read_geometry(list(files), ndim, json.loads(settings))


def survey_counts(cfg: dict, base_dir=None, ndim: int | None = None) -> tuple[int, int]:
    """``(n_shots, n_receivers)`` of a validated config: the ``acquisition``
    block's (:func:`acquisition_counts`), or, when the geometry comes from
    SEG-Y headers (``observed.source: segy`` without an acquisition block),
    the shots grouped from the headers and the largest shot's traces."""
    if "acquisition" in cfg:
        return acquisition_counts(cfg["acquisition"])
    g = segy_geometry(cfg, base_dir, ndim or 2)
    return g.mask.shape


def n_steps(t_max: float, dt: float) -> int:
    """Samples of a record of ``t_max`` seconds at step ``dt`` (both ends included)."""
    return int(np.floor(t_max / dt + 1e-9)) + 1


def value_stats(values) -> tuple[float, float, int]:
    """``(vmin, vmax, n_bad)`` of a model's values: the range of the finite
    ones (NaN if none) and the number of NaN/inf."""
    v = np.asarray(values, dtype=np.float64)
    fin = np.isfinite(v)
    if not fin.any():
        return float("nan"), float("nan"), int(v.size)
    return float(v[fin].min()), float(v[fin].max()), int(v.size - fin.sum())


def value_errors(vmin: float, vmax: float, n_bad: int, key: str, where: str,
                 bounds=None, bounds_key: str | None = None) -> list[str]:
    """What is wrong with a model's values (m/s): NaN/inf (``n_bad`` of them),
    non-positive, or (with ``bounds``, the run's ``[vmin, vmax]``) outside the
    bounds the inversion keeps its models in. ``key``/``where``: the config
    key and the file (or stage) named in each message."""
    errs = []
    if n_bad:
        errs.append(f"key '{key}': {where} holds {n_bad} NaN or inf value(s)")
    if vmin <= 0:
        errs.append(f"key '{key}': {where} has non-positive velocities (minimum {vmin:g} m/s)")
    elif bounds is not None and (vmin < bounds[0] or vmax > bounds[1]):
        errs.append(f"key '{key}': {where} spans {vmin:g}-{vmax:g} m/s, outside the run's bounds "
                    f"[{bounds[0]:g}, {bounds[1]:g}] m/s ('{bounds_key}'): widen the bounds or give a "
                    f"model inside them (an inversion model outside its bounds breaks the band grid's "
                    f"time step and the projection)")
    return errs


def grid_errors(grid: dict, ref: dict, key: str, where: str, ref_where: str) -> list[str]:
    """A model's grid (``{shape, spacing, origin}``) against the run's grid ``ref``."""
    parts = []
    if tuple(grid["shape"]) != tuple(ref["shape"]):
        parts.append(f"shape {tuple(grid['shape'])} instead of {tuple(ref['shape'])}")
    for name in ("spacing", "origin"):
        a, b = np.asarray(grid[name], float), np.asarray(ref[name], float)
        if not np.allclose(a, b, rtol=1e-6, atol=1e-6 * float(np.max(ref["spacing"]))):
            parts.append(f"{name} {tuple(a.tolist())} m instead of {tuple(b.tolist())} m")
    if not parts:
        return []
    return [f"key '{key}': {where} is not on the run's grid ({ref_where}): " + ", ".join(parts)
            + ". Give a model on the same grid (resample it beforehand); nothing is resampled silently"]


def model_info(spec: dict, base_dir, key: str, errs: list[str], read_values: bool = True) -> dict | None:
    """The grid of a model source without building it: ``{shape, spacing,
    origin}`` (cells, m, m) and, for a file (with ``read_values``), ``{vmin,
    vmax, n_bad, where}``. Problems of the file (not 2-D, too small, NaN,
    non-positive) are appended to ``errs``. None when the grid is not known
    before the job runs (``from_true``, ``trend``: the true model's grid)."""
    if "generator" in spec and "shape" in spec:
        shape = tuple(int(n) for n in spec["shape"])
        try:
            spacing = per_axis(spec.get("spacing", 1.0), len(shape))
        except ValueError:
            errs.append(f"key '{key}.spacing': {spec.get('spacing')!r} is not allowed; allowed: a number or "
                        f"one per axis {list(dims_of(len(shape)))}")
            return None
        return {"shape": shape, "spacing": spacing, "origin": (0.0,) * len(shape),
                "where": f"the generated {spec['generator']} model"}
    if "file" not in spec or base_dir is None:
        return None
    path = resolve_path(spec["file"], base_dir)
    if not os.path.exists(path):
        return None
    where = f"the model file {spec['file']}"
    try:
        if path.endswith(".npy"):
            arr = np.load(path, mmap_mode="r")
            if arr.ndim not in DIMS:
                errs.append(f"key '{key}.file': {spec['file']} holds an array of shape {tuple(arr.shape)}; "
                            f"expected {_SIZE_RULE}")
                return None
            try:
                spacing = per_axis(spec.get("spacing", 1.0), arr.ndim)
            except ValueError:
                errs.append(f"key '{key}.spacing': {spec.get('spacing')!r} is not allowed for the "
                            f"{arr.ndim}-D array in {spec['file']}; allowed: a number or one per axis "
                            f"{list(dims_of(arr.ndim))}")
                return None
            info = {"shape": tuple(arr.shape), "spacing": spacing, "origin": (0.0,) * arr.ndim}
            values = arr
        else:
            import warnings

            import xarray as xr

            with warnings.catch_warnings():  # zarr's notes on a store without consolidated metadata
                warnings.simplefilter("ignore")
                ds = xr.open_zarr(path, consolidated=False)
            name = spec.get("variable") or ("vp" if "vp" in ds else next(iter(ds.data_vars), None))
            if name not in ds:
                errs.append(f"key '{key}.variable': {name!r} not in {spec['file']}; allowed values: "
                            + ", ".join(map(str, ds.data_vars)))
                return None
            da = ds[name]
            if tuple(da.dims) not in DIMS.values():
                errs.append(f"key '{key}.file': {spec['file']}:{name} has dims {tuple(da.dims)}; expected "
                            f"{DIMS[2]} or {DIMS[3]}")
                return None
            axes = [da[d].values for d in da.dims]
            info = {"shape": tuple(da.shape),
                    "spacing": tuple(float(a[1] - a[0]) if a.size > 1 else 0.0 for a in axes),
                    "origin": tuple(float(a[0]) for a in axes)}
            values = da.values
    except Exception as err:  # unreadable file: name it
        errs.append(f"key '{key}.file': cannot read {spec['file']}: {err}")
        return None
    info["where"] = where
    shape = info["shape"]
    if min(shape) < MIN_MODEL_CELLS:
        errs.append(f"key '{key}.file': {spec['file']} holds an array of shape {shape}; expected {_SIZE_RULE}")
        return None
    if read_values:
        info["vmin"], info["vmax"], info["n_bad"] = value_stats(values)
        errs.extend(value_errors(info["vmin"], info["vmax"], info["n_bad"], f"{key}.file", where))
    return info


def _extent(grid: dict) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(grid["origin"], float)
    return lo, lo + (np.asarray(grid["shape"]) - 1) * np.asarray(grid["spacing"], float)


def acquisition_errors(acq: dict, grid: dict, where: str) -> list[str]:
    """Sources and receivers of the config's ``acquisition`` that fall outside the model grid."""
    lo, hi = _extent(grid)
    tol = 1e-9 * max(float(np.abs(hi).max()), 1.0)
    errs = []
    ndim = len(grid["shape"])
    dims = dims_of(ndim)
    for k in ("n_shots", "n_receivers"):
        if isinstance(acq.get(k), list) and ndim != 3:
            errs.append(f"key 'acquisition.{k}': an areal grid {acq[k]} needs a 3-D model; {where} is "
                        f"{ndim}-D (give a count)")
    if "spread" in acq:
        axes = {d: (float(a), float(b)) for d, a, b in zip(dims, lo, hi)}
        try:
            src = (surface_positions(axes, acq["n_shots"], acq["source_depth"]) if "n_shots" in acq
                   else np.asarray(acq["sources"], float))
            if src.shape[1] != ndim:
                raise ValueError(f"the {ndim}-D model ({where}) needs positions {list(dims)}")
            moving_spread(src, acq["spread"], lo[0] + acq["receiver_depth"], (lo[-1], hi[-1]))
        except ValueError as err:
            where_key, _, msg = str(err).partition(": ")
            if not where_key.startswith("acquisition.spread"):
                where_key, msg = "acquisition.spread", str(err)
            errs.append(f"key '{where_key}': {msg}")
    if "n_shots" in acq:
        for k in ("source_depth", "receiver_depth"):
            if k in acq and acq[k] > hi[0] - lo[0] + tol:
                errs.append(f"key 'acquisition.{k}': {acq[k]:g} m is below the bottom of the model "
                            f"({hi[0] - lo[0]:g} m deep, {where})")
        for k in ("source_margin", "receiver_margin"):
            for a in range(1, ndim):
                if 2 * acq.get(k, 0.0) > hi[a] - lo[a] + tol:
                    errs.append(f"key 'acquisition.{k}': {acq[k]:g} m at each end leaves no room along "
                                f"{dims[a]} ({hi[a] - lo[a]:g} m, {where})")
        return errs
    for k in ("sources", "receivers"):
        if k not in acq:
            continue
        listed = acq.get(k) or []
        wrong = [i for i, p in enumerate(listed) if len(p) != ndim]
        if wrong:
            errs.append(f"key 'acquisition.{k}[{wrong[0]}]': {listed[wrong[0]]} has {len(listed[wrong[0]])} "
                        f"coordinates; the {ndim}-D model ({where}) needs {list(dims)}")
            continue
        pos = np.asarray(listed, float).reshape(-1, ndim)
        bad = np.flatnonzero(np.any((pos < lo - tol) | (pos > hi + tol), axis=1))
        if bad.size:
            p = pos[bad[0]]
            at = ", ".join(f"{d}={c:g}" for d, c in zip(dims, p))
            extent = ", ".join(f"{d} in [{a:g}, {b:g}] m" for d, a, b in zip(dims, lo, hi))
            errs.append(f"key 'acquisition.{k}[{bad[0]}]': [{at}] m is outside the model ({extent}, {where})"
                        + (f"; {bad.size} position(s) in all" if bad.size > 1 else ""))
    return errs


def record_errors(t_max: float, dt: float, delay: float, freq: float) -> list[str]:
    """The record (``simulation.t_max`` s, time step ``dt``) against the source:
    it must last at least one period of the wavelet's peak frequency past
    the wavelet's peak ``delay`` (s), or the observed data hold nothing."""
    nt = n_steps(t_max, dt)
    need = delay + 1.0 / freq
    if t_max < need or nt < 16:
        return [f"key 'simulation.t_max': {t_max:g} s is too short: the wavelet peaks at {delay:.3g} s "
                f"('wavelet.delay'), and the record must last at least one period (1/freq = {1 / freq:.3g} s) "
                f"past it, {need:.3g} s, and 16 time steps (dt = {dt:.3g} s)"]
    return []


def physical_memory() -> int:
    """Bytes of memory of this machine (a large number where it is unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 50


#: The largest job holds about this many copies of the observed data
#: (float32 data, the band filter's float64 copy, the band's data).
DATA_COPIES_PER_JOB = 4.0


def memory_errors(n_shots: int, n_receivers: int, nt: int, shape, dt: float,
                  available: int | None = None) -> list[str]:
    """Refuse a run whose data cannot fit in memory, with the figures."""
    available = physical_memory() if available is None else available
    data = 4.0 * n_shots * n_receivers * nt
    need = DATA_COPIES_PER_JOB * data + 8.0 * 8 * float(np.prod(shape))
    if need > 0.8 * available:
        return [f"key 'simulation.t_max': {nt} time steps of dt = {dt:.3g} s: the observed data alone take "
                f"{data / 1e9:.3g} GB ({n_shots} shots x {n_receivers} receivers x {nt} samples, float32) and "
                f"a band job about {need / 1e9:.3g} GB, more than 80 % of this machine's "
                f"{available / 1e9:.3g} GB; shorten simulation.t_max, set a larger simulation.dt or use "
                f"fewer receivers"]
    return []


def run_dt(cfg: dict, grid: dict, vmax_model: float | None = None) -> float:
    """The time step (s) the ``wavelet`` job will choose: ``simulation.dt``, or
    the CFL-stable step on ``grid`` of the largest velocity a run may visit
    (the runs' upper bounds and ``vmax_model``, the grid model's maximum when
    known; :func:`fwi_core.inversion.choose_dt`)."""
    sim = cfg["simulation"]
    if sim["dt"]:
        return float(sim["dt"])
    vmax = max([inv["bounds"][1] for inv in cfg["runs"].values()] + ([vmax_model] if vmax_model else []))
    return sim["cfl_safety"] * max_stable_dt(vmax, grid["spacing"], sim["space_order"])


def _check_files(cfg: dict, base_dir, errs: list[str]) -> None:
    """Checks that need the input files: each model's grid and values, the
    acquisition inside the grid, band frequencies below Nyquist, the record
    length, memory."""
    ref, ref_where = None, None
    true = None
    if "true_model" in cfg:
        true = model_info(cfg["true_model"], base_dir, "true_model", errs)
        if true is not None:
            ref, ref_where = true, f"true_model: {true['where']}"
    for name, inv in cfg["runs"].items():
        key = f"runs.{name}.initial"
        info = model_info(inv["initial"], base_dir, key, errs)
        if info is None:
            continue
        if "vmin" in info and not info["n_bad"] and info["vmin"] > 0:
            errs.extend(value_errors(info["vmin"], info["vmax"], 0, f"{key}.file", info["where"],
                                     inv["bounds"], f"runs.{name}.bounds"))
        if ref is None:
            ref, ref_where = info, f"{key}: {info['where']}"
        else:
            errs.extend(grid_errors(info, ref, key, info["where"], ref_where))
    if ref is None:
        return
    if cfg["observed"]["source"] == "segy":
        errs.extend(_segy_errors(cfg, base_dir, ref, ref_where))
    if "acquisition" in cfg:
        errs.extend(acquisition_errors(cfg["acquisition"], ref, ref_where))
    dt = run_dt(cfg, ref, (true or ref).get("vmax"))
    nyquist = 0.5 / dt
    for name, inv in cfg["runs"].items():
        for i, b in enumerate(inv["bands"]):
            if b["fmax"] >= nyquist:
                errs.append(f"key 'runs.{name}.bands[{i}].fmax': {b['fmax']:g} Hz is at or above the Nyquist "
                            f"frequency {nyquist:.4g} Hz of the time step dt = {dt:.4g} s")
    sim, wav = cfg["simulation"], cfg["wavelet"]
    # the automatic delay (null) is 1.5/freq plus the band filter's precursor:
    # checked here with its lower bound, exactly in the wavelet job (a file wavelet: there only)
    if wav["type"] != "file":
        delay = wav["delay"] if wav["delay"] is not None else 1.5 / wav["freq"]
        errs.extend(record_errors(sim["t_max"], dt, delay, wav["freq"]))
    try:
        n_shots, n_rec = survey_counts(cfg, base_dir, len(ref["shape"]))
    except tsegy.SegyError:   # reported above
        return
    nt = n_steps(sim["t_max"], dt)
    errs.extend(memory_errors(n_shots, n_rec, nt, ref["shape"], dt))


def _segy_errors(cfg: dict, base_dir, grid: dict, where: str) -> list[str]:
    """``observed.source: segy``: the files readable as shot gathers
    (headers consistent), and either every source and receiver of the headers
    inside the model (no acquisition block: the geometry comes from them,
    each one outside named by file, trace and shot) or the shot and receiver
    counts equal to the acquisition block's."""
    try:
        g = segy_geometry(cfg, base_dir, len(grid["shape"]))
    except tsegy.SegyError as err:
        return [str(err) if str(err).startswith("key ") else f"key {str(err).split(':', 1)[0]!r}:"
                + str(err).split(":", 1)[1]]
    seg = cfg["observed"]["segy"]
    if "acquisition" not in cfg:
        lo, hi = _extent(grid)
        return [e + f" ({where})" for e in tsegy.geometry_errors(g, lo, hi, "observed.segy", seg["max_offline"])]
    want = acquisition_counts(cfg["acquisition"])
    got = (g.mask.shape[0], int(g.mask.sum(axis=1).max()))
    if want != got:
        return [f"key 'acquisition': {want[0]} shots x {want[1]} receivers, but {cfg['observed']['path']} holds "
                f"{got[0]} shots (grouped by observed.segy.shot_key: {seg['shot_key']}) of up to {got[1]} traces "
                f"(key 'observed.path'); drop the acquisition block to take the geometry from the headers"]
    return []


def _check_inversion(inv: dict, key: str, cfg: dict, base_dir, errs: list[str]) -> None:
    if "initial" not in inv:
        errs.append(f"key '{key}.initial': required (a model source: {', '.join(_SOURCE_KINDS)})")
    else:
        _check_model_source(inv["initial"], f"{key}.initial", base_dir, errs, allow_from_true=True)
        if ("from_true" in inv["initial"] or "trend" in inv["initial"]) and "true_model" not in cfg:
            errs.append(f"key '{key}.initial': 'from_true'/'trend' need 'true_model' (or use 'file')")
    if "bands" not in inv:
        errs.append(f"key '{key}.bands': required (a list of {{fmin?, fmax, iterations}})")
    else:
        for i, b in enumerate(inv["bands"]):
            if b.get("fmin") is not None and b["fmin"] >= b["fmax"]:
                errs.append(f"key '{key}.bands[{i}].fmin': {b['fmin']} must be < fmax ({b['fmax']})")
    cond = inv.get("conditioning") or {}
    tw = cond.get("time_window") or {}
    if tw.get("tmin") is not None and tw.get("tmax") is not None and tw["tmin"] >= tw["tmax"]:
        errs.append(f"key '{key}.conditioning.time_window.tmin': {tw['tmin']} must be < tmax ({tw['tmax']})")
    off = cond.get("offsets") or {}
    if off.get("max") is not None and off["max"] < off.get("min", 0.0):
        errs.append(f"key '{key}.conditioning.offsets.max': {off['max']} must be >= min ({off.get('min', 0.0)})")
    lo, hi = inv["bounds"]
    if lo >= hi:
        errs.append(f"key '{key}.bounds': lower bound {lo} must be < upper bound {hi}")
    ls = inv["line_search"]
    if ls["max_change"] < ls["first_change"]:
        errs.append(f"key '{key}.line_search.max_change': {ls['max_change']} must be >= first_change "
                    f"({ls['first_change']})")

    names = misfits.names()
    name = inv["misfit"]["name"]
    if name not in names:
        errs.append(f"key '{key}.misfit.name': {name!r} is not allowed; allowed values: "
                    + ", ".join(repr(n) for n in names))
    elif inv["misfit"].get("params"):
        try:
            misfits.get(name, **inv["misfit"]["params"])
        except (ValueError, TypeError) as err:
            errs.append(f"key '{key}.misfit.params': {err}")


def _acquisition_form_errors(acq: dict) -> list[str]:
    """The ``acquisition`` block names its sources one way (``n_shots`` or
    ``sources``) and its receivers one way (``n_receivers``, ``receivers`` or a
    moving ``spread`` of one of the two forms of :data:`fwi_core.geometry.SPREAD_FORMS`)."""
    src = [k for k in ("n_shots", "sources") if k in acq]
    rec = [k for k in ("n_receivers", "receivers", "spread") if k in acq]
    errs = []
    if len(src) != 1 or len(rec) != 1 or ({"n_shots", "receivers"} <= set(acq)) or (
            {"sources", "n_receivers"} <= set(acq)):
        errs.append("key 'acquisition': give either n_shots and n_receivers (surface spread), sources and "
                    "receivers (explicit [z, x] coordinates in metres), or n_shots or sources with a spread "
                    "(receivers moving with each source)")
    errs.extend(f"key 'acquisition.{k}': only for a surface spread ({n}); the {what} are listed or move with "
                f"each source" for k, n, what in (("source_margin", "n_shots", "sources"),
                                                  ("receiver_margin", "n_receivers", "receivers"))
                if k in acq and n not in acq)
    sp = acq.get("spread")
    specs = sp if isinstance(sp, list) else [sp] if sp is not None else []
    forms = " or ".join("{" + ", ".join(f) + "}" for f in SPREAD_FORMS)
    for i, spec in enumerate(specs):
        if set(spec) not in [set(f) for f in SPREAD_FORMS]:
            key = "acquisition.spread" + (f"[{i}]" if isinstance(sp, list) else "")
            errs.append(f"key '{key}': give {forms}; got {{{', '.join(sorted(spec))}}}")
    if isinstance(sp, list) and "n_shots" in acq or isinstance(sp, list) and "sources" in acq:
        n = acquisition_counts({k: v for k, v in acq.items() if k != "spread"})[0]
        if len(sp) != n:
            errs.append(f"key 'acquisition.spread': {len(sp)} spreads for {n} shots (give one, or one per shot)")
    return errs


#: Wavelet keys that only one wavelet type takes.
_WAVELET_KEYS = {"path": "file", "dt": "file", "t0": "file", "trace": "file", "estimate": "estimate"}


def _wavelet_errors(cfg: dict, schema: dict, base_dir) -> list[str]:
    """``wavelet``: a file wavelet's path (found, .npy with its ``dt``, or SEG-Y);
    keys of another type refused; ``estimate``'s defaults filled in."""
    wav = cfg["wavelet"]
    errs = [f"key 'wavelet.{k}': only allowed with wavelet.type: {t}" for k, t in _WAVELET_KEYS.items()
            if k in wav and wav["type"] != t]
    if wav["type"] == "file":
        path = wav.get("path")
        if path is None:
            errs.append("key 'wavelet.path': required with wavelet.type: file (a .npy, or a SEG-Y .sgy/.segy)")
        elif not path.lower().endswith((".npy", ".sgy", ".segy")):
            errs.append(f"key 'wavelet.path': {path!r} is not allowed; allowed: a .npy or a SEG-Y .sgy/.segy file")
        else:
            if base_dir is not None and not os.path.exists(resolve_path(path, base_dir)):
                errs.append(f"key 'wavelet.path': {path!r} not found (relative to {base_dir})")
            if path.lower().endswith(".npy") and "dt" not in wav:
                errs.append("key 'wavelet.dt': required with a .npy wavelet.path (its sample interval, s)")
            if not path.lower().endswith(".npy") and "dt" in wav:
                errs.append("key 'wavelet.dt': only allowed with a .npy wavelet.path (SEG-Y holds its own)")
    if wav["type"] == "estimate" and cfg["observed"]["source"] == "synthetic":
        errs.append("key 'wavelet.type': estimate needs observed data from outside (observed.source: zarr or "
                    "segy); synthetic data are modelled with the wavelet itself")
    if wav["type"] == "estimate":
        wav["estimate"] = fill_defaults(wav.get("estimate") or {}, schema["properties"]["wavelet"]["properties"]
                                        ["estimate"], schema)
    return errs


def _fill_and_merge_runs(cfg: dict, schema: dict) -> dict:
    """``cfg`` (strings coerced) with defaults filled and ``runs`` resolved:
    each run's overrides deep-merged over ``inversion``, defaults filled."""
    raw_runs = copy.deepcopy(cfg.get("runs", {"default": {}}))  # overrides only, no defaults
    cfg = fill_defaults(copy.deepcopy(cfg), schema, schema)
    inv_schema = schema["$defs"]["inversion"]
    base_inv = cfg.get("inversion", {})
    cfg["runs"] = {name: fill_defaults(deep_merge(base_inv, over), inv_schema, schema)
                   for name, over in raw_runs.items()}
    cfg.setdefault("inversion", fill_defaults({}, inv_schema, schema))
    return cfg


def resolve_runs(cfg: dict, schema: dict | None = None) -> dict:
    """The inversion settings of every run of a config already validated
    (a job's script re-reading the workflow's config): ``{run: inversion}``
    as :func:`validate` resolves them, without its checks or reading any file."""
    schema = schema or load_schema()
    return _fill_and_merge_runs(coerce_strings(copy.deepcopy(cfg), schema), schema)["runs"]


def validate(cfg: dict, base_dir: str | os.PathLike | None = None, schema: dict | None = None) -> dict:
    """Validate ``cfg`` against the schema and the rules between keys.

    Returns a normalised deep copy (defaults filled, runs resolved). Raises
    :class:`ConfigError` listing every problem found.
    """
    schema = schema or load_schema()
    if not isinstance(cfg, dict):
        raise ConfigError([f"<top level>: expected a mapping, got {type(cfg).__name__}"])
    cfg = coerce_strings(copy.deepcopy(cfg), schema)
    errs = schema_errors(cfg, schema)
    if errs:
        raise ConfigError(errs)
    cfg = _fill_and_merge_runs(cfg, schema)
    runs = cfg["runs"]

    if "true_model" in cfg:
        _check_model_source(cfg["true_model"], "true_model", base_dir, errs, allow_from_true=False)
    obs = cfg["observed"]
    if "acquisition" not in cfg:
        if obs["source"] != "segy":
            errs.append("key 'acquisition': required (or, with observed.source: segy, the geometry comes from "
                        "the trace headers)")
    else:
        errs.extend(_acquisition_form_errors(cfg["acquisition"]))
    delay = cfg["wavelet"]["delay"]
    if delay is not None and delay >= cfg["simulation"]["t_max"]:
        errs.append(f"key 'wavelet.delay': {delay} s is not allowed; allowed values: null (automatic) or a "
                    f"time in [0, simulation.t_max = {cfg['simulation']['t_max']}) s")
    if obs["source"] in ("zarr", "segy"):
        if "path" not in obs:
            errs.append(f"key 'observed.path': required when observed.source is '{obs['source']}'")
        elif base_dir is not None:
            found = tsegy.expand_paths(resolve_path(obs["path"], base_dir))
            if not found or not os.path.exists(found[0]):
                errs.append(f"key 'observed.path': {obs['path']!r} not found (relative to {base_dir})")
    elif "true_model" not in cfg:
        errs.append("key 'true_model': required when observed.source is 'synthetic' "
                    "(or set observed.source: zarr or segy and observed.path)")
    if obs["source"] == "segy":
        obs["segy"] = fill_defaults(obs.get("segy") or {}, schema["properties"]["observed"]["properties"]["segy"],
                                    schema)
        if "variable" in obs:
            errs.append("key 'observed.variable': only allowed with observed.source: zarr")
    elif "segy" in obs:
        errs.append("key 'observed.segy': only allowed with observed.source: segy")
    errs.extend(_wavelet_errors(cfg, schema, base_dir))
    for name, inv in runs.items():
        _check_inversion(inv, f"runs.{name}", cfg, base_dir, errs)
    if errs:
        raise ConfigError(errs)
    _check_files(cfg, base_dir, errs)
    if errs:
        raise ConfigError(errs)
    return cfg


def validate_file(path: str | os.PathLike, base_dir=None) -> dict:
    """Validate a YAML config file (duplicate keys are errors too)."""
    return validate(load_yaml(path), base_dir=base_dir)


