"""The config schema and loading: the schema is package data
(``fwi_core/config/schema.yaml``, JSON schema written as YAML,
``additionalProperties: false`` everywhere) and the one source of defaults
and allowed values; :func:`defaults` gives a block's defaults to the library.
Loading refuses duplicate YAML keys; errors are collected and raised together
as :class:`ConfigError`, each naming the key (dotted path) and, where the
schema knows them, the allowed values. Also the canonical JSON and hash of
config pieces (rerun triggers, run names).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"


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


