"""Configuration of the FWI workflow: schema validation with clear messages,
default filling, resolution of named runs, and a stable config hash.

The schema is package data, ``fwi_core/config.schema.yaml`` (JSON schema
written as YAML, ``additionalProperties: false`` everywhere), and the one
source of defaults and allowed values: :func:`defaults` gives a block's
defaults to the library (``inversion.settings``, ``precondition.build``). :func:`validate` returns a
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

import numpy as np
import yaml

from .stencils import MIN_POINTS_PER_WAVELENGTH, SPACE_ORDERS, max_stable_dt

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


class ConfigError(ValueError):
    """Invalid configuration; ``errors`` lists one message per problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.errors))


_SCHEMA: dict | None = None


def load_schema(path: str | os.PathLike | None = None) -> dict:
    """The config schema (a fresh copy; read once per process)."""
    global _SCHEMA
    if path is not None:
        with open(path) as f:
            return yaml.safe_load(f)
    if _SCHEMA is None:
        with open(SCHEMA_PATH) as f:
            _SCHEMA = yaml.safe_load(f)
    return copy.deepcopy(_SCHEMA)


def defaults(block: str) -> dict:
    """The schema's defaults of a config block: ``"inversion"`` (a run's
    settings), ``"simulation"``, ``"precondition"``, ``"execution"``, ..."""
    schema = load_schema()
    if block == "inversion":
        sub = schema["$defs"]["inversion"]
    elif block in schema["properties"]:
        sub = schema["properties"][block]
    else:
        sub = _resolve(schema["$defs"]["inversion"], schema)["properties"][block]
    return fill_defaults({}, sub, schema)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an
    error (plain YAML keeps the last value without a word)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line)
        except TypeError:  # an unhashable key: let the constructor report it
            continue
        if first != key_node.start_mark.line:
            raise ConfigError([f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: "
                               f"duplicate key {key!r} (first given on line {first + 1}); each key may "
                               f"appear once in a mapping (YAML would silently keep the last value)"])
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML config file; a duplicated key raises :class:`ConfigError`
    naming the file, the key and both lines."""
    with open(path) as f:
        try:
            return yaml.load(f, Loader=_StrictLoader) or {}
        except yaml.YAMLError as err:
            raise ConfigError([f"{path}: not valid YAML: {err}"]) from None


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


def coerce_strings(instance: Any, schema: dict, root: dict | None = None) -> Any:
    """Values that arrive as strings where the schema wants something else
    (Snakemake reads nested ``--config key={a: false}`` values as strings) are
    read as YAML scalars when that makes them valid: ``'false'`` -> False,
    ``'2'`` -> 2, ``'null'`` -> None (numbers, true, false and null only: not
    YAML 1.1's yes/no/on/off). Strings the schema accepts stay strings.
    Returns the (possibly new) instance; containers are changed in place."""
    import jsonschema

    root = root or schema
    validator = jsonschema.Draft202012Validator(root)

    def walk(inst, sch):
        sch = _resolve(sch, root)
        if isinstance(inst, dict):
            props = sch.get("properties", {})
            ap = sch.get("additionalProperties")
            for k in list(inst):
                sub = props.get(k, ap if isinstance(ap, dict) else None)
                if sub is not None:
                    inst[k] = walk(inst[k], sub)
            return inst
        if isinstance(inst, list) and isinstance(sch.get("items"), dict):
            return [walk(v, sch["items"]) for v in inst]
        if isinstance(inst, str) and not validator.evolve(schema=sch).is_valid(inst):
            try:
                parsed = yaml.safe_load(inst)
            except yaml.YAMLError:
                return inst
            plain = isinstance(parsed, (int, float)) and not isinstance(parsed, bool) or \
                inst.strip().lower() in ("true", "false", "null")  # not YAML 1.1's yes/no/on/off
            if plain and validator.evolve(schema=sch).is_valid(parsed):
                return parsed
        return inst

    return walk(instance, schema)


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


#: Fewest cells along each axis of a model (the generators' minimum too).
MIN_MODEL_CELLS = 8


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


def source_fingerprint(spec: dict | None, base_dir) -> str | None:
    """:func:`file_fingerprint` of a model source's ``file`` (None without one)."""
    if not spec or "file" not in spec:
        return None
    return file_fingerprint(resolve_path(spec["file"], base_dir))


def _pair(v) -> tuple[float, float]:
    return (float(v), float(v)) if not isinstance(v, (list, tuple)) else (float(v[0]), float(v[1]))


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
        return {"shape": tuple(int(n) for n in spec["shape"]), "spacing": _pair(spec.get("spacing", 1.0)),
                "origin": (0.0, 0.0), "where": f"the generated {spec['generator']} model"}
    if "file" not in spec or base_dir is None:
        return None
    path = resolve_path(spec["file"], base_dir)
    if not os.path.exists(path):
        return None
    where = f"the model file {spec['file']}"
    try:
        if path.endswith(".npy"):
            arr = np.load(path, mmap_mode="r")
            info = {"shape": tuple(arr.shape), "spacing": _pair(spec.get("spacing", 1.0)), "origin": (0.0, 0.0)}
            values = arr if arr.ndim == 2 else None
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
            if tuple(da.dims) != ("z", "x"):
                errs.append(f"key '{key}.file': {spec['file']}:{name} has dims {tuple(da.dims)}; expected ('z', 'x')")
                return None
            z, x = da["z"].values, da["x"].values
            info = {"shape": tuple(da.shape),
                    "spacing": (float(z[1] - z[0]) if z.size > 1 else 0.0, float(x[1] - x[0]) if x.size > 1 else 0.0),
                    "origin": (float(z[0]), float(x[0]))}
            values = da.values
    except Exception as err:  # unreadable file: name it
        errs.append(f"key '{key}.file': cannot read {spec['file']}: {err}")
        return None
    info["where"] = where
    shape = info["shape"]
    if len(shape) != 2 or min(shape) < MIN_MODEL_CELLS:
        errs.append(f"key '{key}.file': {spec['file']} holds an array of shape {shape}; expected a 2-D "
                    f"(z, x) model of at least {MIN_MODEL_CELLS} x {MIN_MODEL_CELLS} cells")
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
    if "n_shots" in acq:
        for k in ("source_depth", "receiver_depth"):
            if k in acq and acq[k] > hi[0] - lo[0] + tol:
                errs.append(f"key 'acquisition.{k}': {acq[k]:g} m is below the bottom of the model "
                            f"({hi[0] - lo[0]:g} m deep, {where})")
        return errs
    for k in ("sources", "receivers"):
        pos = np.asarray(acq.get(k) or [], float).reshape(-1, 2)
        bad = np.flatnonzero(np.any((pos < lo - tol) | (pos > hi + tol), axis=1))
        if bad.size:
            p = pos[bad[0]]
            errs.append(f"key 'acquisition.{k}[{bad[0]}]': [z={p[0]:g}, x={p[1]:g}] m is outside the model "
                        f"(z in [{lo[0]:g}, {hi[0]:g}] m, x in [{lo[1]:g}, {hi[1]:g}] m, {where})"
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
    return sim["cfl_safety"] * max_stable_dt(vmax, *grid["spacing"], sim["space_order"])


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
    # checked here with its lower bound, exactly in the wavelet job
    delay = wav["delay"] if wav["delay"] is not None else 1.5 / wav["freq"]
    errs.extend(record_errors(sim["t_max"], dt, delay, wav["freq"]))
    acq = cfg["acquisition"]
    n_rec = int(acq["n_receivers"]) if "n_receivers" in acq else len(acq.get("receivers") or [])
    n_shots = int(acq["n_shots"]) if "n_shots" in acq else len(acq.get("sources") or [])
    nt = n_steps(sim["t_max"], dt)
    errs.extend(memory_errors(n_shots, n_rec, nt, ref["shape"], dt))


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
    from . import misfits

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
    _check_files(cfg, base_dir, errs)
    if errs:
        raise ConfigError(errs)
    return cfg


def validate_file(path: str | os.PathLike, base_dir=None) -> dict:
    """Validate a YAML config file (duplicate keys are errors too)."""
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


def run_grid(cfg: dict, base_dir=None) -> dict | None:
    """The grid every model of the run is on (``{shape, spacing, origin}``,
    cells, m, m): the true model's, else the first run's initial model's that
    is known before any job runs (None if none is)."""
    sources = ([cfg["true_model"]] if "true_model" in cfg else []) + [inv["initial"] for inv in cfg["runs"].values()]
    for spec in sources:
        info = model_info(spec, base_dir, "", [], read_values=False)
        if info is not None:
            return info
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
    info = run_grid(cfg, base_dir)
    grid = (info["shape"], info["spacing"]) if info else None
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
