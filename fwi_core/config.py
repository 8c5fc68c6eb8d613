"""Configuration of the FWI workflow: schema validation with clear messages,
default filling, resolution of named runs, and a stable config hash.

The schema lives in ``workflow/schemas/config.schema.yaml`` (JSON schema written
as YAML, ``additionalProperties: false`` everywhere). :func:`validate` returns a
normalised copy of the config in which

- every default of the schema is filled in,
- ``runs[name]`` is the complete inversion setting of that run (the shared
  ``inversion`` block deep-merged with the run's overrides; lists are replaced),
- relative input paths are kept as written (resolve them with :func:`resolve_path`).

Errors are collected and raised together as :class:`ConfigError`, each naming
the key (dotted path) and, where the schema knows them, the allowed values.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """Invalid configuration; ``errors`` lists one message per problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.errors))


def load_schema(path: str | os.PathLike | None = None) -> dict:
    with open(path or SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def load_yaml(path: str | os.PathLike) -> dict:
    with open(path) as f:
        return yaml.safe_load(f) or {}


# ----------------------------------------------------------------------------- helpers
def _key(path) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    s = ""
    for p in parts:
        s += p if p.startswith("[") or not s else "." + p
    return s or "<top level>"


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node = root
        for part in ref[2:].split("/"):
            node = node[part]
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **extra}
    return schema


def _describe_schema(schema: dict, root: dict) -> str:
    schema = _resolve(schema, root)
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_describe_schema(s, root) for s in schema["oneOf"])
    t = schema.get("type")
    desc = " or ".join(t) if isinstance(t, list) else (t or "value")
    lims = []
    for k, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if k in schema:
            lims.append(f"{sym} {schema[k]}")
    if lims:
        desc += " " + " and ".join(lims)
    if t == "array" and "items" in schema:
        desc += f" of {_describe_schema(schema['items'], root)}"
        if "minItems" in schema and schema.get("minItems") == schema.get("maxItems"):
            desc = f"{desc} (exactly {schema['minItems']} items)"
    return desc


def _format_error(err, root: dict) -> list[str]:
    key = _key(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return [
            f"unknown key '{_key(list(err.absolute_path) + [e])}'; allowed keys here: "
            + (", ".join(allowed) if allowed else "(none)")
            for e in extra
        ]
    if v == "required":
        return [f"key '{key}': missing required key {err.message.split(' is a required')[0]}"]
    if v == "enum":
        return [f"key '{key}': {err.instance!r} is not allowed; allowed values: "
                + ", ".join(repr(x) for x in err.validator_value)]
    if v == "propertyNames":
        return [f"key '{key}': name {err.instance!r} is not allowed; run names must match "
                f"{err.validator_value.get('pattern')}"]
    if v == "oneOf":
        return [f"key '{key}': {err.instance!r} is not allowed; expected {_describe_schema(err.schema, root)}"]
    if v in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
             "maxItems", "minLength", "minProperties", "pattern"):
        return [f"key '{key}': {err.instance!r} is not allowed ({err.message}); expected "
                f"{_describe_schema(err.schema, root)}"]
    return [f"key '{key}': {err.message}"]


def schema_errors(cfg: Any, schema: dict | None = None) -> list[str]:
    import jsonschema

    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    msgs: list[str] = []
    for err in sorted(validator.iter_errors(cfg), key=lambda e: [str(p) for p in e.absolute_path]):
        msgs.extend(_format_error(err, schema))
    return msgs


def fill_defaults(instance: Any, schema: dict, root: dict) -> Any:
    """Fill schema ``default`` values into ``instance`` (in place) and return it."""
    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for name, sub in props.items():
            sub_r = _resolve(sub, root)
            if name not in instance and "default" in sub_r:
                instance[name] = copy.deepcopy(sub_r["default"])
            if name in instance:
                fill_defaults(instance[name], sub_r, root)
        ap = schema.get("additionalProperties")
        if isinstance(ap, dict):
            for name in instance:
                if name not in props:
                    fill_defaults(instance[name], ap, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            fill_defaults(item, schema["items"], root)
    return instance


def deep_merge(base: dict, over: dict) -> dict:
    """Recursive dict merge; values of ``over`` win; lists are replaced."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_path(path: str, base_dir: str | os.PathLike | None) -> str:
    """An input path as written in the config, relative to ``base_dir`` (the project root)."""
    p = Path(os.path.expanduser(path))
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return str(p)


# ----------------------------------------------------------------------------- semantics
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
    names = misfit_names()
    name = inv["misfit"]["name"]
    if name not in names:
        errs.append(f"key '{key}.misfit.name': {name!r} is not allowed; allowed values: "
                    + ", ".join(repr(n) for n in names))


def misfit_names() -> list[str]:
    """Names in the misfit registry (works when this module is loaded stand-alone,
    as the Snakefile does to avoid importing the whole engine)."""
    try:
        from . import misfits
    except ImportError:
        import importlib.util
        import sys

        mod = sys.modules.get("_fwi_core_misfits")
        if mod is None:
            spec = importlib.util.spec_from_file_location("_fwi_core_misfits", Path(__file__).with_name("misfits.py"))
            mod = importlib.util.module_from_spec(spec)
            sys.modules["_fwi_core_misfits"] = mod
            spec.loader.exec_module(mod)
        misfits = mod
    return misfits.names()


def validate(cfg: dict, base_dir: str | os.PathLike | None = None, schema: dict | None = None) -> dict:
    """Validate ``cfg`` against the schema and the rules between keys.

    Returns a normalised deep copy (defaults filled, runs resolved). Raises
    :class:`ConfigError` listing every problem found.
    """
    schema = schema or load_schema()
    if not isinstance(cfg, dict):
        raise ConfigError([f"<top level>: expected a mapping, got {type(cfg).__name__}"])
    errs = schema_errors(cfg, schema)
    if errs:
        raise ConfigError(errs)
    raw_runs = copy.deepcopy(cfg.get("runs", {"default": {}}))  # overrides only, no defaults
    cfg = fill_defaults(copy.deepcopy(cfg), schema, schema)
    inv_schema = schema["$defs"]["inversion"]
    base_inv = cfg.get("inversion", {})
    runs = {}
    for name, over in raw_runs.items():
        runs[name] = fill_defaults(deep_merge(base_inv, over), inv_schema, schema)
    cfg["runs"] = runs
    cfg.setdefault("inversion", fill_defaults({}, inv_schema, schema))

    if "true_model" in cfg:
        _check_model_source(cfg["true_model"], "true_model", base_dir, errs, allow_from_true=False)
    acq = cfg["acquisition"]
    spread = "n_shots" in acq or "n_receivers" in acq
    explicit = "sources" in acq or "receivers" in acq
    if spread == explicit or (spread and not ("n_shots" in acq and "n_receivers" in acq)) or (
        explicit and not ("sources" in acq and "receivers" in acq)
    ):
        errs.append("key 'acquisition': give either n_shots and n_receivers (surface spread) "
                    "or sources and receivers (explicit [z, x] coordinates in metres)")
    delay = cfg["wavelet"]["delay"]
    if delay is not None and delay >= cfg["simulation"]["t_max"]:
        errs.append(f"key 'wavelet.delay': {delay} s is not allowed; allowed values: null (automatic) or a "
                    f"time in [0, simulation.t_max = {cfg['simulation']['t_max']}) s")
    obs = cfg["observed"]
    if obs["source"] == "zarr":
        if "path" not in obs:
            errs.append("key 'observed.path': required when observed.source is 'zarr'")
        elif base_dir is not None and not os.path.exists(resolve_path(obs["path"], base_dir)):
            errs.append(f"key 'observed.path': {obs['path']!r} not found (relative to {base_dir})")
    elif "true_model" not in cfg:
        errs.append("key 'true_model': required when observed.source is 'synthetic' "
                    "(or set observed.source: zarr and observed.path)")
    for name, inv in runs.items():
        _check_inversion(inv, f"runs.{name}", cfg, base_dir, errs)
    if errs:
        raise ConfigError(errs)
    return cfg


def validate_file(path: str | os.PathLike, base_dir=None) -> dict:
    return validate(load_yaml(path), base_dir=base_dir)


# ----------------------------------------------------------------------------- hashing
def _canon(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)  # 4 and 4.0 hash the same
    return obj


def canonical_json(obj: Any) -> str:
    return json.dumps(_canon(obj), sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Any, n: int = 12) -> str:
    """A short stable hash of a (sub-)config: key order and 4 vs 4.0 do not matter."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


# ----------------------------------------------------------------------------- execution
#: Seconds a shot job spends starting (interpreter, imports, numba cache,
#: reading its inputs): about 2 s measured earlier on the 2-core machines here,
#: 1.2-1.4 s now (0.5 s to the script's first line, the jobs' logs say).
JOB_START_SECONDS = 2.0
#: Forward grid-point updates per second of one thread (order 8, measured
#: ~0.9e9 on Marmousi2 20 m), and the cost of a shot's gradient plus its
#: line-search trials in forward runs (a checkpointed gradient 4-4.5, 3
#: trials, and the illumination pass, misfit and diagnostics).
CELL_UPDATES_PER_SECOND = 9e8
FORWARDS_PER_SHOT = 8.5
#: Fewest points per wavelength (at the wavelet's useful maximum frequency and
#: the minimum velocity) below which numerical dispersion becomes visible, per
#: space order (the engine's rule, :mod:`fwi_core.stability`; here so that job
#: planning can estimate band grids without loading the engine).
MIN_POINTS_PER_WAVELENGTH = {2: 10.0, 4: 6.0, 6: 5.0, 8: 4.0}
#: A band's useful maximum frequency over its ``fmax`` (1.19-1.27 measured on
#: the band wavelets of the Marmousi2 schedule), for planning only.
USEFUL_FREQUENCY_FACTOR = 1.25
#: ``execution.fuse_bands: auto`` runs bands in one job when a band's estimated
#: compute is at most this many ``target_job_seconds`` (60 s by default), and
#: consecutive bands of a run share a job while their sum stays within it: a
#: crash then loses at most about a minute, and the start-up is one job's.
FUSE_BAND_SECONDS_PER_TARGET = 3.0


def shot_seconds(shape: tuple[int, int], nt: int, pml_width: int = 20,
                 cell_updates_per_second: float = CELL_UPDATES_PER_SECOND) -> float:
    """Estimated compute (s, one thread) of one shot in one iteration on the model grid."""
    nz, nx = shape
    return FORWARDS_PER_SHOT * (nz + 2 * pml_width) * (nx + 2 * pml_width) * nt / cell_updates_per_second


def band_cost_factor(spacing: tuple[float, float], vmin: float, fmax: float, space_order: int = 8) -> float:
    """Estimated cost of a band on its own grid (``simulation.band_grids``)
    relative to the model grid: the band grid is coarser by ``r`` =
    spacing needed / model spacing (>= 1), so it has ``1/r^2`` of the points
    and takes a time step ``floor(r)`` times longer. Planning only: the jobs
    choose the real grid from the band wavelet (:func:`fwi_core.bandgrid.choose`)."""
    h_band = vmin / (MIN_POINTS_PER_WAVELENGTH[space_order] * USEFUL_FREQUENCY_FACTOR * fmax)
    r = max(1.0, h_band / min(spacing))
    return 1.0 / (r * r * math.floor(r))


def auto_shots_per_job(n_shots: int, shape: tuple[int, int], nt: int, pml_width: int = 20,
                       target_seconds: float = 10 * JOB_START_SECONDS,
                       cell_updates_per_second: float = CELL_UPDATES_PER_SECOND,
                       min_groups: int = 1, threads: int = 1, cost_factor: float = 1.0) -> int:
    """Shots per gradient/trial job so that a job computes for about ``target_seconds``.

    The default target, ten job start-ups, keeps start-up under 10 % of a
    job. A shot costs about :data:`FORWARDS_PER_SHOT` forward runs per
    iteration. Small models want several shots per job; the result is
    spread evenly so the groups have equal sizes. It is at least ``threads``
    (the job's threads, ``execution.threads``; capped at ``n_shots``): with as
    many shots as threads the engine runs one shot per thread, without
    per-time-step synchronisation. ``min_groups`` only applies where it
    leaves ``threads`` shots per job. ``cost_factor`` scales the work (a
    band on its own grid, :func:`band_cost_factor`).
    """
    threads = max(1, min(int(threads), n_shots))
    work = cost_factor * shot_seconds(shape, nt, pml_width, cell_updates_per_second)
    per_job = max(threads, min(n_shots, int(math.ceil(target_seconds / max(work, 1e-9)))))
    n_groups = max(int(math.ceil(n_shots / per_job)), min(int(min_groups), n_shots // threads))
    return int(math.ceil(n_shots / n_groups))


def shot_groups(n_shots: int, shots_per_job: int) -> list[list[int]]:
    """Consecutive shot index groups of at most ``shots_per_job`` shots."""
    spj = max(1, int(shots_per_job))
    return [list(range(i, min(i + spj, n_shots))) for i in range(0, n_shots, spj)]


def model_shape(spec: dict, base_dir=None) -> tuple[tuple[int, int], tuple[float, float]] | None:
    """Grid shape and spacing of a model source without building it (None if unknown)."""
    if "generator" in spec and "shape" in spec:
        sp = spec.get("spacing", 1.0)
        sp = (float(sp), float(sp)) if not isinstance(sp, list) else (float(sp[0]), float(sp[1]))
        return (int(spec["shape"][0]), int(spec["shape"][1])), sp
    if "file" in spec:
        path = resolve_path(spec["file"], base_dir)
        if path.endswith(".npy"):
            import numpy as np

            shape = np.load(path, mmap_mode="r").shape
            sp = spec["spacing"]
            sp = (float(sp), float(sp)) if not isinstance(sp, list) else (float(sp[0]), float(sp[1]))
            return (int(shape[0]), int(shape[1])), sp
        import warnings

        import zarr

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = zarr.open_group(path, mode="r")
            name = spec.get("variable") or ("vp" if "vp" in g else None)
            arr = g[name]
            z, x = g["z"][:2], g["x"][:2]
        return (int(arr.shape[0]), int(arr.shape[1])), (float(z[1] - z[0]), float(x[1] - x[0]))
    return None


def lowest_band(cfg: dict) -> dict:
    """The band (over all runs) with the lowest corner frequency (its ``fmin``,
    or ``fmax`` for a low-pass), as ``{fmin, fmax, order}`` with the run's
    ``filter_order`` filled in: its filter has the longest acausal precursor,
    which sets the automatic wavelet delay (``wavelet.delay: null``)."""
    bands = [{"fmin": b.get("fmin"), "fmax": b["fmax"], "order": int(b.get("order") or inv["filter_order"])}
             for inv in cfg["runs"].values() for b in inv["bands"]]
    return min(bands, key=lambda b: (b["fmin"] or b["fmax"], b["fmax"], -b["order"]))


def plan(cfg: dict, base_dir=None, cores: int = 1) -> dict:
    """What the DAG needs before any job ran: number of shots, the shot groups
    of every run and band (``band_groups[run][b]``, names "first-last"), the
    grid, whether bands are fused, the estimated compute of a band (s) and,
    when fused, the bands of each job (``band_chunks[run]``: lists of
    consecutive band indices, see :func:`band_chunks`)."""
    acq = cfg["acquisition"]
    n_shots = int(acq["n_shots"]) if "n_shots" in acq else len(acq["sources"])
    grid = None
    if "true_model" in cfg:
        grid = model_shape(cfg["true_model"], base_dir)
    if grid is None:
        for inv in cfg["runs"].values():
            grid = model_shape(inv["initial"], base_dir)
            if grid:
                break
    ex = cfg["execution"]
    spj, fuse = ex["shots_per_job"], ex["fuse_bands"]
    band_seconds = iteration_seconds = None
    if grid is not None:
        (nz, nx), (dz, dx) = grid
        vmax = max(inv["bounds"][1] for inv in cfg["runs"].values())
        dt_est = cfg["simulation"]["dt"] or 0.5 * min(dz, dx) / vmax
        nt = int(cfg["simulation"]["t_max"] / dt_est) + 1
        iters = max(int(b["iterations"]) for inv in cfg["runs"].values() for b in inv["bands"])
        iteration_seconds = n_shots * shot_seconds((nz, nx), nt, cfg["simulation"]["pml_width"])
        band_seconds = iters * iteration_seconds
    if fuse == "auto":
        # whole bands in one job where job start-ups would dominate and a crash
        # loses little: shot groups left to us, and a band's compute is short
        fuse = spj == "auto" and band_seconds is not None and band_seconds <= FUSE_BAND_SECONDS_PER_TARGET * ex[
            "target_job_seconds"]
    sim = cfg["simulation"]
    band_groups = {}
    for name, inv in cfg["runs"].items():
        per_band = []
        for band in inv["bands"]:
            if fuse:
                n = n_shots
            elif spj != "auto":
                n = int(spj)
            elif grid is None:
                n = 1
            else:  # each band's shot groups from its estimated cost on its own grid
                factor = band_cost_factor(grid[1], inv["bounds"][0], band["fmax"], sim["space_order"]) \
                    if sim["band_grids"] else 1.0
                n = auto_shots_per_job(n_shots, (nz, nx), nt, sim["pml_width"], ex["target_job_seconds"],
                                       min_groups=cores, threads=ex["threads"], cost_factor=factor)
            per_band.append([f"{g[0]}-{g[-1]}" for g in shot_groups(n_shots, min(n, n_shots))])
        band_groups[name] = per_band
    chunks = None
    if fuse:
        limit = FUSE_BAND_SECONDS_PER_TARGET * ex["target_job_seconds"]
        chunks = {name: band_chunks([int(b["iterations"]) * iteration_seconds if iteration_seconds else None
                                     for b in inv["bands"]], limit)
                  for name, inv in cfg["runs"].items()}
    return {"n_shots": n_shots, "band_groups": band_groups, "grid": grid, "fuse_bands": bool(fuse),
            "band_seconds": band_seconds, "band_chunks": chunks}


def band_chunks(seconds: list, limit: float) -> list[list[int]]:
    """Consecutive bands grouped into jobs: a band joins the job of the band
    before it while the job's estimated compute (``seconds`` per band, None:
    unknown, alone) stays within ``limit`` seconds."""
    chunks, total = [], 0.0
    for b, sec in enumerate(seconds):
        if chunks and sec is not None and total is not None and total + sec <= limit:
            chunks[-1].append(b)
            total += sec
        else:
            chunks.append([b])
            total = sec
    return chunks
