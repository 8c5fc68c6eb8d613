"""SEG-Y shot gathers through segyio: trace headers with their scalars and
units applied, shots grouped by a header key, samples, and writing traces
with headers. No binary parsing here: segyio reads and writes the files.

- :func:`read_table`: one file or several (a glob, one file per shot, read
  in sorted order) into a :class:`Table` of per-trace header values: source
  and group coordinates (m, coordinate scalar of bytes 71-72 and the
  coordinate units of bytes 89-90 applied), elevations and source depth (m,
  elevation scalar of bytes 69-70 applied), field record, trace
  identification code, and the sample interval, count and first time of the
  files (the same in all, checked against every trace header).
- :func:`group_shots`: the traces of each shot, by field record, by source
  coordinates or by file; a shot whose traces disagree on the source position
  is refused, naming file, trace and shot.
- :func:`read_gathers`: the samples as ``(n_shots, n_receivers, ns)``, padded
  to the largest shot with a mask.
- :func:`write`: traces with header values into a new SEG-Y file (IEEE
  float, rev 1 layout).

Byte positions are 1-based, as in the SEG-Y standard; the standard rev 1/2
positions are :data:`HEADERS` and every one can be changed. Errors are
:class:`SegyError` (a ``ValueError``) naming the file, the trace (1-based,
as SEG-Y tools count) and, where it applies, the shot.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: Standard SEG-Y rev 1/2 trace-header byte positions (1-based) of what the
#: geometry is read from; the config's ``observed.segy.headers`` overrides any.
HEADERS = {
    "field_record": 9,          # original field record number
    "trace_id": 29,             # trace identification code (2 dead, 3 dummy)
    "receiver_elevation": 41,   # receiver group elevation (above the datum, m or ft)
    "source_elevation": 45,     # surface elevation at the source
    "source_depth": 49,         # source depth below the surface (positive)
    "elevation_scalar": 69,     # scalar of bytes 41-68
    "coordinate_scalar": 71,    # scalar of bytes 73-88
    "source_x": 73, "source_y": 77, "group_x": 81, "group_y": 85,
    "coordinate_units": 89,     # 1 length (m or ft: binary header bytes 3255-3256), 2 arc seconds, 3 degrees, 4 DMS
}

#: Ways to group traces into shots (config ``observed.segy.shot_key``).
SHOT_KEYS = ("field_record", "source_xy", "file")

#: Trace identification codes (bytes 29-30) of traces that hold no data.
DEAD_TRACE_IDS = (2, 3)

FOOT = 0.3048


class SegyError(ValueError):
    """A SEG-Y file that cannot be read as shot gathers; the message names it."""


def _segyio():
    import segyio
    return segyio


def valid_bytes() -> set[int]:
    """Byte positions (1-based) at which a trace-header field starts (segyio's list)."""
    tf = _segyio().TraceField
    return {int(v) for k, v in vars(tf).items() if not k.startswith("_") and isinstance(v, int)}


def expand_paths(path: str | os.PathLike | Sequence[str]) -> list[str]:
    """One file, a list of files, or a glob pattern (sorted): the files to read."""
    if isinstance(path, (list, tuple)):
        return [str(p) for p in path]
    p = str(path)
    if any(c in p for c in "*?["):
        return sorted(glob.glob(p))
    return [p]


def scalar(values: np.ndarray) -> np.ndarray:
    """SEG-Y scalar codes as factors: ``s > 0`` multiplies, ``s < 0`` divides
    by ``|s|``, 0 means 1."""
    s = np.asarray(values, np.float64)
    return np.where(s > 0, s, np.where(s < 0, -1.0 / np.where(s == 0, 1.0, s), 1.0))


@dataclass(frozen=True)
class Table:
    """Header values of every trace of a set of SEG-Y files (arrays ``(n_traces,)``).

    ``file`` (index into ``files``) and ``trace`` (0-based within its file)
    locate a trace; ``sx, sy, gx, gy``: source and group coordinates (m);
    ``source_elevation``, ``source_depth``, ``receiver_elevation`` (m);
    ``field_record``, ``trace_id``; ``raw``: every header field as read
    ``(n_traces, n_fields)`` int64, the fields' byte positions in
    ``raw_bytes``; ``dt`` (s), ``ns`` and ``t0`` (s, the delay recording
    time) shared by all traces; ``units``: the coordinate units read (``m``
    or ``ft``, converted to m); ``resolution``: the coarsest step (m) the
    scaled coordinates and elevations can take (their precision).
    """

    files: list[str]
    file: np.ndarray
    trace: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    source_elevation: np.ndarray
    source_depth: np.ndarray
    receiver_elevation: np.ndarray
    field_record: np.ndarray
    trace_id: np.ndarray
    raw: np.ndarray
    raw_bytes: tuple[int, ...]
    dt: float
    ns: int
    t0: float
    units: str = "m"
    headers: dict = field(default_factory=dict)
    resolution: float = 0.0

    @property
    def n_traces(self) -> int:
        return int(self.file.size)

    def name(self, i: int) -> str:
        """``file trace k`` of trace ``i`` (k 1-based, as SEG-Y tools count)."""
        return f"{self.files[int(self.file[i])]} trace {int(self.trace[i]) + 1}"


def _open(path: str, key: str):
    if not os.path.isfile(path):
        raise SegyError(f"{key}: {path} not found")
    try:
        return _segyio().open(path, "r", ignore_geometry=True, strict=False)
    except Exception as err:   # segyio's own message says what it could not read
        raise SegyError(f"{key}: cannot read {path} as SEG-Y ({type(err).__name__}: {err})") from None


def read_table(path: str | os.PathLike | Sequence[str], headers: dict | None = None, units: str = "auto",
               key: str = "observed.path", headers_key: str = "observed.segy.headers") -> Table:
    """Read the trace headers of one SEG-Y file, a list or a glob of them.

    ``headers``: byte positions overriding :data:`HEADERS` (by name);
    ``units``: coordinate units, ``auto`` (bytes 89-90: 1 = length, in the
    binary header's measurement system, bytes 3255-3256: 1 m, 2 ft; 0 taken
    as length), ``m`` or ``ft``. Angular coordinates (codes 2-4) are refused:
    project them to a metric grid first. Raises :class:`SegyError` naming
    ``key`` and the file for a missing, unreadable or empty file, files or
    traces that disagree on the sample interval, count or first time, and a
    bad byte position (naming ``headers_key``)."""
    segyio = _segyio()
    pos = dict(HEADERS)
    for name, b in (headers or {}).items():
        if name not in HEADERS:
            raise SegyError(f"{headers_key}.{name}: unknown header; allowed: {', '.join(HEADERS)}")
        pos[name] = int(b)
    ok = valid_bytes()
    for name, b in pos.items():
        if b not in ok:
            raise SegyError(f"{headers_key}.{name}: byte {b} is not where a trace-header field starts "
                            f"(e.g. 73 source x, 181 CDP x, 189 inline)")
    if units not in ("auto", "m", "ft"):
        raise SegyError(f"observed.segy.units: {units!r} is not allowed; allowed values: auto, m, ft")
    files = expand_paths(path)
    if not files:
        raise SegyError(f"{key}: no file matches {path}")
    raw_bytes = tuple(sorted(ok))
    cols: dict[str, list] = {k: [] for k in list(pos) + ["file", "trace", "raw"]}
    first = None
    unit_names = set()
    for fi, p in enumerate(files):
        with _open(p, key) as f:
            n = f.tracecount
            if n == 0:
                raise SegyError(f"{key}: {p} holds no trace")
            try:
                dt_bin = int(f.bin[segyio.BinField.Interval])
                ns = len(f.samples)
                values = {name: np.asarray(f.attributes(b)[:], np.int64) for name, b in pos.items()}
                raw = np.stack([np.asarray(f.attributes(b)[:], np.int64) for b in raw_bytes], axis=1)
                system = int(f.bin[segyio.BinField.MeasurementSystem])
            except Exception as err:
                raise SegyError(f"{key}: cannot read the headers of {p} ({type(err).__name__}: {err})") from None
        tdt = raw[:, raw_bytes.index(117)]
        if dt_bin > 0 and tdt[0] > 0 and dt_bin != tdt[0]:
            raise SegyError(f"{key}: {p}: the binary header's sample interval (bytes 3217-3218) is {dt_bin} us, "
                            f"trace 1's (bytes 117-118) {tdt[0]} us (inconsistent headers)")
        dt_us = float(dt_bin or tdt[0])
        if dt_us <= 0:
            raise SegyError(f"{key}: {p} has no sample interval (binary header bytes 3217-3218 and trace "
                            f"header bytes 117-118 are 0)")
        tns = raw[:, raw_bytes.index(115)]
        delay = raw[:, raw_bytes.index(109)]
        for what, arr, want in (("sample interval (bytes 117-118, us)", tdt, dt_us),
                                ("sample count (bytes 115-116)", tns, ns)):
            bad = np.flatnonzero((arr != 0) & (arr != want))
            if bad.size:
                raise SegyError(f"{key}: {p} trace {bad[0] + 1}: {what} is {arr[bad[0]]}, the file's is {want:g} "
                                f"(inconsistent headers: every trace must share one time axis)")
        bad = np.flatnonzero(delay != delay[0])
        if bad.size:
            raise SegyError(f"{key}: {p} trace {bad[0] + 1}: delay recording time (bytes 109-110) is "
                            f"{delay[bad[0]]} ms, trace 1 has {delay[0]} ms (inconsistent headers)")
        axis = (dt_us, ns, int(delay[0]))
        if first is None:
            first = (p, axis)
        elif axis != first[1]:
            raise SegyError(f"{key}: {p} has sample interval {axis[0]:g} us, {axis[1]} samples, delay {axis[2]} ms; "
                            f"{first[0]} has {first[1][0]:g} us, {first[1][1]} samples, delay {first[1][2]} ms "
                            f"(inconsistent headers: the files must share one time axis)")
        cu = values["coordinate_units"]
        if units == "auto":
            angular = np.flatnonzero(np.isin(cu, (2, 3, 4)))
            if angular.size:
                raise SegyError(f"{key}: {p} trace {angular[0] + 1}: coordinate units (bytes 89-90) code "
                                f"{cu[angular[0]]} (arc seconds or degrees); project the coordinates to a metric "
                                f"grid first, or set observed.segy.units to m or ft")
            unit = "ft" if system == 2 else "m"
        else:
            unit = units
        unit_names.add(unit)
        for name, v in values.items():
            cols[name].append(v)
        cols["file"].append(np.full(n, fi))
        cols["trace"].append(np.arange(n))
        cols["raw"].append(raw)
        cols.setdefault("factor", []).append(np.full(n, FOOT if unit == "ft" else 1.0))
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    unit_f = cat["factor"]
    cs = scalar(cat["coordinate_scalar"]) * unit_f
    es = scalar(cat["elevation_scalar"]) * unit_f
    dt_us, ns, delay = first[1]
    return Table(files=files, file=cat["file"], trace=cat["trace"],
                 sx=cat["source_x"] * cs, sy=cat["source_y"] * cs, gx=cat["group_x"] * cs, gy=cat["group_y"] * cs,
                 source_elevation=cat["source_elevation"] * es, source_depth=cat["source_depth"] * es,
                 receiver_elevation=cat["receiver_elevation"] * es, field_record=cat["field_record"],
                 trace_id=cat["trace_id"], raw=cat["raw"], raw_bytes=raw_bytes, dt=dt_us * 1e-6, ns=int(ns),
                 t0=delay * 1e-3, units="/".join(sorted(unit_names)), headers=pos,
                 resolution=float(max(np.abs(cs).max(), np.abs(es).max())))


def group_shots(table: Table, shot_key: str = "field_record", key: str = "observed.segy.shot_key",
                tol: float = 1e-3) -> list[np.ndarray]:
    """Trace indices of each shot, shots in order of first appearance,
    traces in file order. ``shot_key``: ``field_record`` (bytes 9-12 or their
    override), ``source_xy`` (one shot per source position, to ``tol`` m) or
    ``file``. Every shot's traces must agree on the source position (x, y,
    elevation and depth, to ``tol`` m), else :class:`SegyError` naming the
    shot and both traces."""
    if shot_key == "field_record":
        label = table.field_record
    elif shot_key == "file":
        label = table.file
    elif shot_key == "source_xy":
        q = np.round(np.stack([table.sx, table.sy], axis=1) / tol).astype(np.int64)
        _, label = np.unique(q, axis=0, return_inverse=True)
        label = label.reshape(-1)
    else:
        raise SegyError(f"{key}: {shot_key!r} is not allowed; allowed values: {', '.join(SHOT_KEYS)}")
    _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    shot_of = rank[inverse.reshape(-1)]
    shots = [np.flatnonzero(shot_of == s) for s in range(order.size)]
    src = np.stack([table.sx, table.sy, table.source_elevation, table.source_depth], axis=1)
    for s, idx in enumerate(shots):
        dev = np.abs(src[idx] - src[idx[0]]).max(axis=1)
        if dev.max() > tol:
            k = idx[int(np.argmax(dev))]
            names = ("x", "y", "elevation", "depth")
            what = names[int(np.argmax(np.abs(src[k] - src[idx[0]])))]
            raise SegyError(
                f"{key}: shot {s} ({describe_shot(table, idx, shot_key)}): the source {what} differs between "
                f"{table.name(idx[0])} ({src[idx[0]][names.index(what)]:g} m) and {table.name(k)} "
                f"({src[k][names.index(what)]:g} m) (inconsistent headers; group the shots by another "
                f"observed.segy.shot_key or fix the headers)")
    return shots


def describe_shot(table: Table, idx: np.ndarray, shot_key: str) -> str:
    """A shot's name for messages: its field record, source position or file."""
    i = int(idx[0])
    if shot_key == "file":
        return f"file {table.files[int(table.file[i])]}"
    if shot_key == "source_xy":
        return f"source at ({table.sx[i]:g}, {table.sy[i]:g}) m"
    return f"field record {int(table.field_record[i])}"


def padded_index(shots: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(index, mask)``, both ``(n_shots, n_max)``: the trace of every
    receiver slot (a shot's last trace repeated in its padded slots) and
    True where the slot holds a trace of the shot."""
    n = max(len(s) for s in shots)
    index = np.stack([np.r_[s, np.repeat(s[-1:], n - len(s))] for s in shots])
    mask = np.arange(n)[None, :] < np.array([len(s) for s in shots])[:, None]
    return index.astype(np.int64), mask


def read_gathers(table: Table, index: np.ndarray, mask: np.ndarray, key: str = "observed.path") -> np.ndarray:
    """Samples of the traces ``index`` ``(n_shots, n_max)`` (from
    :func:`padded_index`) as float32 ``(n_shots, n_max, ns)``, zero where
    ``mask`` is False. Sample ``k`` is at ``table.t0 + k * table.dt`` s."""
    out = np.zeros(index.shape + (table.ns,), np.float32)
    want = index[mask]
    where = np.argwhere(mask)
    for fi, p in enumerate(table.files):
        sel = np.flatnonzero(table.file[want] == fi)
        if not sel.size:
            continue
        with _open(p, key) as f:
            try:
                traces = np.asarray(f.trace.raw[:], np.float32)
            except Exception as err:
                raise SegyError(f"{key}: cannot read the samples of {p} ({type(err).__name__}: {err})") from None
        rows = table.trace[want[sel]]
        out[where[sel, 0], where[sel, 1]] = traces[rows]
    return out


def read_trace(path: str, trace: int = 0, key: str = "wavelet.path") -> tuple[np.ndarray, float, float]:
    """One trace (0-based index) of a SEG-Y file: ``(samples, dt s, t0 s)``."""
    segyio = _segyio()
    with _open(path, key) as f:
        if not 0 <= trace < f.tracecount:
            raise SegyError(f"{key}: {path} has {f.tracecount} traces; trace {trace} does not exist")
        dt = float(segyio.tools.dt(f, fallback_dt=0.0)) * 1e-6
        t0 = float(f.header[trace][segyio.TraceField.DelayRecordingTime]) * 1e-3
        x = np.asarray(f.trace[trace], np.float64)
    if dt <= 0:
        raise SegyError(f"{key}: {path} has no sample interval (bytes 3217-3218 and 117-118 are 0)")
    return x, dt, t0


def write(path: str | os.PathLike, traces: np.ndarray, interval: int, headers: dict[int, np.ndarray] | None = None,
          text: str = "", binary: dict[int, int] | None = None) -> str:
    """Write traces ``(n, ns)`` as an IEEE-float SEG-Y file at ``path``.

    ``interval``: the sample interval field (bytes 3217-3218 and 117-118, an
    integer: microseconds for time data); ``headers``: per-trace values by
    byte position (arrays ``(n,)`` or scalars); ``binary``: extra binary
    header fields by byte position; ``text``: the textual header (40 lines of
    80 characters at most). The sample count is written in every trace header.
    """
    segyio = _segyio()
    tr = np.ascontiguousarray(np.asarray(traces, np.float32))
    if tr.ndim != 2 or tr.shape[0] == 0:
        raise ValueError(f"traces: expected (n_traces, n_samples), got {tr.shape}")
    n, ns = tr.shape
    interval = int(round(interval))
    if not 0 < interval < 65536:
        raise ValueError(f"interval: {interval} does not fit the 16-bit sample interval field")
    spec = segyio.spec()
    spec.format = 5
    spec.samples = np.arange(ns) * interval / 1000.0
    spec.tracecount = n
    hdr = {int(b): np.broadcast_to(np.asarray(v), (n,)) for b, v in (headers or {}).items()}
    lines = [ln[:80] for ln in text.splitlines()][:40]
    with segyio.create(str(path), spec) as f:
        if lines:
            f.text[0] = segyio.tools.create_text_header({k + 1: ln for k, ln in enumerate(lines)})
        f.bin.update({segyio.BinField.Interval: interval, segyio.BinField.Samples: ns,
                      segyio.BinField.Format: 5, **{int(k): int(v) for k, v in (binary or {}).items()}})
        for i in range(n):
            f.header[i] = {**{b: int(v[i]) for b, v in hdr.items()},
                           segyio.TraceField.TRACE_SAMPLE_COUNT: ns,
                           segyio.TraceField.TRACE_SAMPLE_INTERVAL: interval,
                           segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1}
        f.trace.raw[:] = tr
    return str(path)


@dataclass(frozen=True)
class Gathers:
    """Shot gathers of a :class:`Table` in model coordinates.

    ``sources`` ``(n_shots, d)`` and ``receivers`` ``(n_shots, n_max, d)``,
    positions ``[z, x]`` or ``[z, y, x]`` (m); ``index`` ``(n_shots, n_max)``:
    the table row of every receiver slot; ``mask``: True where the slot holds
    a trace of the shot (False: padding to the largest shot); ``live``:
    ``mask`` without the traces flagged dead (trace identification code in
    ``dead_ids``); ``offline`` ``(n_shots, n_max)``: in 2-D, the distance (m)
    of each receiver from the line (0 in 3-D); ``shot_names``: each shot's
    field record, source position or file, for messages.
    """

    table: Table
    shots: list
    sources: np.ndarray
    receivers: np.ndarray
    index: np.ndarray
    mask: np.ndarray
    live: np.ndarray
    offline: np.ndarray
    source_offline: np.ndarray
    shot_names: list


def gathers(table: Table, ndim: int, shot_key: str = "field_record", origin: Sequence[float] = (0.0, 0.0),
            azimuth: float = 90.0, datum: float = 0.0, dead_ids: Sequence[int] = DEAD_TRACE_IDS) -> Gathers:
    """Group the traces into shots (:func:`group_shots`) and map their
    positions onto a ``ndim``-D model (:func:`fwi_core.geometry.field_to_model`:
    ``origin`` (easting, northing of model x = 0, y = 0; m), ``azimuth`` of the
    model's x axis, degrees clockwise from north). Depths below the model top:
    ``datum - source_elevation + source_depth`` for sources and
    ``datum - receiver_elevation`` for receivers, ``datum`` being the
    elevation (m) of the model top ``z = 0``."""
    from ..geometry import field_to_model

    shots = group_shots(table, shot_key)
    index, mask = padded_index(shots)
    gx, gy = field_to_model(table.gx, table.gy, origin, azimuth)
    sx, sy = field_to_model(table.sx, table.sy, origin, azimuth)
    gz = datum - table.receiver_elevation
    sz = datum - table.source_elevation + table.source_depth
    first = np.array([s[0] for s in shots])
    if ndim == 2:
        src = np.stack([sz[first], sx[first]], axis=1)
        rec = np.stack([gz[index], gx[index]], axis=-1)
        offline, s_off = np.abs(gy[index]), np.abs(sy[first])
    elif ndim == 3:
        src = np.stack([sz[first], sy[first], sx[first]], axis=1)
        rec = np.stack([gz[index], gy[index], gx[index]], axis=-1)
        offline, s_off = np.zeros(index.shape), np.zeros(len(shots))
    else:
        raise ValueError(f"ndim: models are 2-D or 3-D, got {ndim}")
    live = mask & ~np.isin(table.trace_id[index], np.asarray(dead_ids, np.int64))
    return Gathers(table=table, shots=shots, sources=src, receivers=rec, index=index, mask=mask, live=live,
                   offline=offline, source_offline=s_off,
                   shot_names=[describe_shot(table, s, shot_key) for s in shots])


def geometry_errors(g: Gathers, lo: Sequence[float], hi: Sequence[float], key: str = "observed.segy",
                    max_offline: float | None = None, limit: int = 5) -> list[str]:
    """Sources and receivers of ``g`` outside the model box ``[lo, hi]`` (m,
    per axis: above the top, below the bottom, in the absorbing layer beyond
    an edge) or, in 2-D with ``max_offline``, farther than that (m) from the
    line; one message per offending source or trace (the first ``limit`` of
    each, then a count), naming the file, the trace and the shot. Positions
    within the headers' precision (``table.resolution``) of an edge count as
    on it (:func:`fwi_core.survey.segy.acquisition` puts them there); nothing
    else is moved: fix the origin, azimuth or datum, or the headers."""
    from ..geometry import outside, where_outside

    errs = []
    t = g.table
    tol = t.resolution    # the precision of the headers: a position that close to an edge is on it
    bad = np.flatnonzero(outside(g.sources, lo, hi, tol))
    for s in bad[:limit]:
        errs.append(f"key '{key}': the source of shot {s} ({g.shot_names[s]}, {t.name(g.shots[s][0])}) at "
                    f"[{', '.join(f'{c:g}' for c in g.sources[s])}] m is {where_outside(g.sources[s], lo, hi)}")
    if bad.size > limit:
        errs.append(f"key '{key}': {bad.size} sources outside the model in all")
    out = outside(g.receivers.reshape(-1, len(lo)), lo, hi, tol).reshape(g.mask.shape) & g.mask
    cells = np.argwhere(out)
    for s, r in cells[:limit]:
        p = g.receivers[s, r]
        errs.append(f"key '{key}': {t.name(g.index[s, r])} (shot {s}, {g.shot_names[s]}, receiver {r}) at "
                    f"[{', '.join(f'{c:g}' for c in p)}] m is {where_outside(p, lo, hi)}")
    if len(cells) > limit:
        errs.append(f"key '{key}': {len(cells)} receivers outside the model in all")
    if max_offline is not None:
        far = np.argwhere(g.mask & (g.offline > max_offline))
        for s, r in far[:limit]:
            errs.append(f"key '{key}.max_offline': {t.name(g.index[s, r])} (shot {s}, {g.shot_names[s]}) is "
                        f"{g.offline[s, r]:.1f} m off the line (azimuth and origin of {key}), more than "
                        f"{max_offline:g} m")
        far_s = np.flatnonzero(g.source_offline > max_offline)
        for s in far_s[:limit]:
            errs.append(f"key '{key}.max_offline': the source of shot {s} ({g.shot_names[s]}) is "
                        f"{g.source_offline[s]:.1f} m off the line, more than {max_offline:g} m")
    return errs


#: Defaults of the settings :func:`read_geometry` takes (config ``observed.segy``).
SETTINGS = {"shot_key": "field_record", "headers": {}, "units": "auto", "origin": [0.0, 0.0],
            "azimuth": 90.0, "datum": 0.0, "dead_trace_ids": list(DEAD_TRACE_IDS), "max_offline": None}


def read_geometry(path: str | os.PathLike | Sequence[str], ndim: int, settings: dict | None = None,
                  key: str = "observed.path") -> Gathers:
    """The shot gathers of SEG-Y file(s) on a ``ndim``-D model:
    :func:`read_table` then :func:`gathers`, with ``settings`` as the config's
    ``observed.segy`` block (keys of :data:`SETTINGS`, defaults filled)."""
    s = {**SETTINGS, **(settings or {})}
    table = read_table(path, s["headers"], s["units"], key=key)
    return gathers(table, ndim, s["shot_key"], s["origin"], s["azimuth"], s["datum"], s["dead_trace_ids"])
