"""Field data in and standard formats out: SEG-Y shot gathers as the
workflow's acquisition and observed data, and models and data back out as
SEG-Y (through segyio) or plain binary with a JSON sidecar.

In (:mod:`fwi_core.traces.segy` reads the headers and groups the shots):

- :meth:`fwi_core.Acquisition.from_segy` (the engine's) makes the
  acquisition of the headers, receiver sets of each shot's own size padded
  and masked; :func:`check_counts` checks gathers against another one;
- :func:`observed`: the samples as ``(shot, receiver, time)`` on the
  modelling time axis (:func:`fwi_core.artifacts.conform_observed`: checks,
  anti-aliased resampling), dead traces masked, every trace's header kept
  (``segy_headers``) so the data can go back out with them.

Out (read back by segyio with the same values, ``tests/test_segy.py``):

- :func:`write_model`: a 2-D model as one trace per x (CDP, CDP x/y in
  field coordinates, inline 1 / crossline = x index), a 3-D model one trace
  per (y, x) (inline = y index, crossline = x index); the sample axis is
  depth: the sample interval field holds dz in millimetres (so segyio's
  ``samples`` read back in metres), the delay field z of the first sample
  in metres. :func:`read_model` reads it back.
- :func:`write_binary` / :func:`read_binary`: any field as raw little-endian
  float32, the last axis fastest, with a ``.json`` sidecar (dims, shape,
  spacing, origin, units).
- :func:`write_data`: shot data (observed, synthetic, residual) with the
  headers they came in with, or headers built from the acquisition.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from .. import artifacts
from ..engine.acquisition import Acquisition
from ..geometry import field_to_model, model_to_field
from ..traces import segy as tsegy

#: SEG-Y coordinate and elevation scalar the writers use: -100, centimetres.
SCALAR = -100

HEADERS_VAR = "segy_headers"


# ----------------------------------------------------------------------------- in
def check_counts(g: tsegy.Gathers, acq: Acquisition, where: str = "observed.path") -> None:
    """The SEG-Y gathers against the run's acquisition: the same number of
    shots, receiver slots and receivers in every shot; ``ValueError`` naming
    the files, the first shot that differs and the keys otherwise."""
    files = ", ".join(g.table.files[:3]) + (", ..." if len(g.table.files) > 3 else "")
    if g.mask.shape[0] != acq.n_shots:
        raise ValueError(f"{where}: {files} hold {g.mask.shape[0]} shots (observed.segy.shot_key), the acquisition "
                         f"has {acq.n_shots} (key 'acquisition')")
    got, want = g.mask.sum(axis=1), acq.mask.sum(axis=1)
    if g.mask.shape[1] != acq.n_receivers or np.any(got != want):
        s = int(np.argmax(got != want)) if np.any(got != want) else 0
        raise ValueError(f"{where}: shot {s} ({g.shot_names[s]}) of {files} has {got[s]} traces, the acquisition "
                         f"{want[s]} receivers (key 'acquisition')")


def observed(g: tsegy.Gathers, time: np.ndarray, where: str = "observed.path") -> xr.Dataset:
    """The samples of SEG-Y gathers on the modelling ``time`` axis (s).

    Checked and resampled by :func:`fwi_core.artifacts.conform_observed`
    (traces flagged dead and padded slots masked, all-zero traces masked
    too). Returns a Dataset: ``data`` ``(shot, receiver, time)`` float32 with
    its ``trace_mask`` coordinate, and ``segy_headers`` (shot, receiver,
    segy_byte): every trace-header field as read, by byte position (int64,
    zero in padded slots), so the data can be written back out with them
    (:func:`write_data`). Attrs of ``data``: ``segy_files``, ``source_dt``,
    ``source_t0``, ``resampled``, ``n_dead_traces`` (all-zero),
    ``n_flagged_dead`` (trace identification code)."""
    t = g.table
    raw = tsegy.read_gathers(t, g.index, g.mask, key=where)
    files = ", ".join(t.files[:3]) + (f", ... ({len(t.files)} files)" if len(t.files) > 3 else "")
    d = artifacts.conform_observed(raw, t.t0 + t.dt * np.arange(t.ns), time, f"{where}: {files}", g.live)
    d.attrs.update(segy_files=list(t.files), n_flagged_dead=int((g.mask & ~g.live).sum()))
    hdr = np.where(g.mask[..., None], t.raw[g.index], 0).astype(np.int64)
    return xr.Dataset({"data": d, HEADERS_VAR: (("shot", "receiver", "segy_byte"), hdr)},
                      coords={"segy_byte": np.asarray(t.raw_bytes, np.int64)})


def read_wavelet(path: str | os.PathLike, trace: int = 0, dt: float | None = None,
                 t0: float | None = None) -> tuple[np.ndarray, float, float]:
    """A source wavelet from a file: ``(samples, dt s, t0 s)``, sample ``k``
    at ``t0 + k * dt``. A ``.npy`` holds the samples (1-D) and needs ``dt``;
    a SEG-Y file gives trace ``trace`` (0-based) with its sample interval and
    delay recording time (``t0`` overrides either's start, default 0 for .npy).
    ``ValueError`` naming ``wavelet.path`` (or ``wavelet.dt``) otherwise."""
    p = str(path)
    if p.lower().endswith(".npy"):
        if dt is None:
            raise ValueError(f"wavelet.dt: required with the .npy wavelet {p} (its sample interval, s)")
        try:
            x = np.load(p)
        except Exception as err:
            raise ValueError(f"wavelet.path: cannot read {p} ({type(err).__name__}: {err})") from None
        if np.squeeze(x).ndim != 1:
            raise ValueError(f"wavelet.path: {p} holds an array of shape {x.shape}; expected one trace (1-D)")
        return np.squeeze(x).astype(np.float64), float(dt), float(t0 or 0.0)
    x, dt_f, t0_f = tsegy.read_trace(p, int(trace), key="wavelet.path")
    return x, dt_f, t0_f if t0 is None else float(t0)


# ----------------------------------------------------------------------------- out: models
def _scaled(v: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(v, np.float64) * (-SCALAR if SCALAR < 0 else 1.0 / SCALAR)).astype(np.int64)


def _depth_axis(vp: xr.DataArray) -> tuple[int, int]:
    z = vp["z"].values.astype(np.float64)
    dz = float(z[1] - z[0])
    mm = int(round(dz * 1000))
    if abs(mm - dz * 1000) > 1e-6 * max(mm, 1) or not 0 < mm < 65536:
        raise ValueError(f"vp: dz = {dz:g} m is not a whole number of millimetres below 65.536 m, which the "
                         f"SEG-Y sample interval field holds; export it with write_binary")
    if abs(z[0] - round(z[0])) > 1e-6:
        raise ValueError(f"vp: the first depth {z[0]:g} m is not a whole number of metres, which the SEG-Y "
                         f"delay field holds; export it with write_binary")
    return mm, int(round(z[0]))


def write_model(vp: xr.DataArray, path: str | os.PathLike, origin: Sequence[float] = (0.0, 0.0),
                azimuth: float = 90.0, description: str = "") -> str:
    """Write a model (``vp`` m/s, or any field on the model grid such as a
    gradient) as SEG-Y, one trace per x (2-D) or per (y, x) (3-D, y-major).

    Trace headers: CDP (21-24) = trace number, CDP x/y (181-188) = the
    field coordinates (m, scalar -100 in bytes 71-72) of the trace, from
    ``origin`` (easting, northing of model x = 0, y = 0) and ``azimuth``
    (degrees clockwise from north of the model's x axis; see
    :func:`fwi_core.geometry.model_to_field`), inline (189-192) = y index + 1
    (1 in 2-D), crossline (193-196) = x index + 1. The sample axis is depth:
    interval (bytes 3217-3218, 117-118) = dz in mm, delay (109-110) = first
    depth in m. Written atomically (:func:`fwi_core.artifacts.replacing`)."""
    if tuple(vp.dims) not in (("z", "x"), ("z", "y", "x")):
        raise ValueError(f"vp: dims {vp.dims}; expected ('z', 'x') or ('z', 'y', 'x')")
    mm, z0 = _depth_axis(vp)
    x = vp["x"].values.astype(np.float64)
    y = vp["y"].values.astype(np.float64) if "y" in vp.dims else np.zeros(1)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    iy, ix = np.meshgrid(np.arange(y.size), np.arange(x.size), indexing="ij")
    e, n = model_to_field(xx.ravel(), yy.ravel(), origin, azimuth)
    vals = np.asarray(vp.values, np.float32)
    traces = np.moveaxis(vals if vals.ndim == 3 else vals[:, None, :], 0, -1).reshape(-1, vals.shape[0])
    headers = {21: np.arange(traces.shape[0]) + 1, 71: SCALAR, 181: _scaled(e), 185: _scaled(n),
               189: iy.ravel() + 1, 193: ix.ravel() + 1, 109: z0, 9: 1}
    text = [f"fwi_core model: {vp.name or 'field'} ({vp.attrs.get('units', 'm/s')}) {description}".strip(),
            f"depth axis: {vals.shape[0]} samples, dz = {mm / 1000:g} m (interval field in mm), "
            f"first z = {z0} m",
            f"one trace per {'(y, x), inline = y index + 1' if vals.ndim == 3 else 'x'}, crossline = x index + 1,",
            f"CDP x/y (bytes 181-188, scalar -100) = field coordinates of model (x, y):",
            f"origin (easting, northing) = ({origin[0]:g}, {origin[1]:g}) m, x axis azimuth {azimuth:g} deg",
            f"grid: x from {x[0]:g} m step {x[1] - x[0] if x.size > 1 else 0:g} m"
            + (f", y from {y[0]:g} m step {y[1] - y[0] if y.size > 1 else 0:g} m" if vals.ndim == 3 else "")]
    with artifacts.replacing(path) as tmp:
        tsegy.write(tmp, traces, mm, headers, "\n".join(text), binary={3255: 1})
    return str(path)


def read_model(path: str | os.PathLike, origin: Sequence[float] = (0.0, 0.0), azimuth: float = 90.0,
               name: str = "vp") -> xr.DataArray:
    """A model written by :func:`write_model` (or laid out the same way) as
    a DataArray ``(z, x)`` or ``(z, y, x)``: depths from the sample axis
    (segyio's ``samples``, m), x and y from the CDP coordinates mapped back
    with ``origin`` and ``azimuth``; 3-D when the inline numbers (189-192)
    take more than one value."""
    import segyio

    with segyio.open(str(path), "r", ignore_geometry=True) as f:
        traces = np.asarray(f.trace.raw[:], np.float32)
        z = np.asarray(f.samples, np.float64)
        scal = tsegy.scalar(f.attributes(71)[:])
        e = np.asarray(f.attributes(181)[:], np.float64) * scal
        n = np.asarray(f.attributes(185)[:], np.float64) * scal
        il = np.asarray(f.attributes(189)[:])
        xl = np.asarray(f.attributes(193)[:])
    x, y = field_to_model(e, n, origin, azimuth)
    ny, nx = len(np.unique(il)), len(np.unique(xl))
    if ny * nx != traces.shape[0]:
        raise ValueError(f"{path}: {traces.shape[0]} traces are not {ny} inlines x {nx} crosslines")
    order = np.lexsort((xl, il))
    traces, x, y = traces[order], x[order], y[order]
    if ny == 1:
        return xr.DataArray(traces.T.copy(), dims=("z", "x"), coords={"z": z, "x": x}, name=name,
                            attrs={"units": "m/s"})
    cube = traces.reshape(ny, nx, -1)
    return xr.DataArray(np.moveaxis(cube, -1, 0).copy(), dims=("z", "y", "x"),
                        coords={"z": z, "y": y.reshape(ny, nx)[:, 0], "x": x.reshape(ny, nx)[0]}, name=name,
                        attrs={"units": "m/s"})


def write_binary(da: xr.DataArray, path: str | os.PathLike) -> tuple[str, str]:
    """Raw little-endian float32 of ``da`` in the order of its dims, the last
    fastest (a model ``(z, x)`` is written z-major: one row per depth), and a
    sidecar ``<path>.json``: name, dims, shape, dtype, spacing and origin per
    dim (m), units. Both written atomically. Returns both paths."""
    vals = np.ascontiguousarray(np.asarray(da.values, "<f4"))
    meta = {"name": da.name, "dims": list(da.dims), "shape": list(vals.shape), "dtype": "<f4",
            "order": "C (last dim fastest)", "units": da.attrs.get("units", artifacts.UNITS.get(str(da.name))),
            "spacing": {d: float(da[d].values[1] - da[d].values[0]) if da.sizes[d] > 1 and d in da.coords else None
                        for d in da.dims},
            "origin": {d: float(da[d].values[0]) if d in da.coords else 0.0 for d in da.dims}}
    side = f"{path}.json"
    with artifacts.replacing(path) as tmp:
        vals.tofile(tmp)
    with artifacts.replacing(side) as tmp, open(tmp, "w") as fh:
        json.dump(meta, fh, indent=1)
    return str(path), side


def read_binary(path: str | os.PathLike) -> xr.DataArray:
    """The DataArray :func:`write_binary` wrote (coordinates rebuilt from the sidecar)."""
    with open(f"{path}.json") as fh:
        meta = json.load(fh)
    vals = np.fromfile(path, dtype=meta["dtype"]).reshape(meta["shape"])
    coords = {d: meta["origin"][d] + (meta["spacing"][d] or 0.0) * np.arange(n)
              for d, n in zip(meta["dims"], meta["shape"])}
    return xr.DataArray(vals, dims=meta["dims"], coords=coords, name=meta["name"], attrs={"units": meta["units"]})


# ----------------------------------------------------------------------------- out: data
def data_headers(acq: Acquisition, origin: Sequence[float] = (0.0, 0.0), azimuth: float = 90.0,
                 datum: float = 0.0, dead: np.ndarray | None = None,
                 records: Sequence[int] | None = None) -> dict[int, np.ndarray]:
    """SEG-Y trace-header values ``{byte: (n_shots, n_receivers)}`` of an
    acquisition: field record (9) = ``records`` (default shot + 1), trace in record (13) =
    receiver + 1, trace identification code (29) 1, or 2 where ``dead``,
    offset (37, m, signed along x), receiver elevation (41) ``datum - z``,
    source surface elevation (45) = ``datum``, source depth (49) = z, source
    and group x/y (73-88) in field coordinates (``origin``, ``azimuth``:
    :func:`fwi_core.geometry.model_to_field`); scalars -100 (cm) in 69-72,
    coordinate units (89) 1 (metres). :func:`fwi_core.traces.segy.read_geometry`
    with the same origin, azimuth and datum gives the acquisition back."""
    src, rec = acq.sources, acq.receivers
    n_shots, n_rec = rec.shape[:2]
    ys = src[:, 1] if acq.ndim == 3 else np.zeros(n_shots)
    yr = rec[..., 1] if acq.ndim == 3 else np.zeros((n_shots, n_rec))
    se, sn = model_to_field(src[:, -1], ys, origin, azimuth)
    ge, gn = model_to_field(rec[..., -1], yr, origin, azimuth)
    full = (n_shots, n_rec)
    b = np.broadcast_to
    rec_no = np.arange(n_shots) + 1 if records is None else np.asarray(records, np.int64)
    return {9: b(rec_no[:, None], full), 13: b(np.arange(n_rec)[None] + 1, full),
            29: np.where(dead, 2, 1) if dead is not None else np.ones(full, np.int64),
            37: np.round(rec[..., -1] - src[:, None, -1]).astype(np.int64),
            41: _scaled(datum - rec[..., 0]), 45: b(_scaled(np.full(n_shots, datum))[:, None], full),
            49: b(_scaled(src[:, 0])[:, None], full), 69: SCALAR, 71: SCALAR,
            73: b(_scaled(se)[:, None], full), 77: b(_scaled(sn)[:, None], full),
            81: _scaled(ge), 85: _scaled(gn), 89: 1}


def write_data(d: xr.DataArray, path: str | os.PathLike, acq: Acquisition | None = None,
               headers: xr.DataArray | None = None, description: str = "", **field) -> str:
    """Write shot data ``d`` ``(shot, receiver, time)`` as one SEG-Y file,
    shot after shot, every slot that holds a trace of its shot (padding to
    the largest shot left out; traces masked as dead written with their
    headers and trace identification code 2 when built from ``acq``).

    Headers: ``headers`` (the ``segy_headers`` the data came in with, (shot,
    receiver, segy_byte)) when given, else :func:`data_headers` of ``acq``
    (``field``: its ``origin``, ``azimuth``, ``datum``). Either way the
    sample count, interval (us) and delay (ms, the first time) are those of
    ``d``. Written atomically."""
    d = d.transpose("shot", "receiver", "time")
    t = np.asarray(d["time"].values, np.float64)
    dt_us = (t[1] - t[0]) * 1e6
    if abs(dt_us - round(dt_us)) > 1e-3 * dt_us:
        raise ValueError(f"d: the sample interval {t[1] - t[0]:.9g} s is not a whole number of microseconds "
                         f"(the SEG-Y field); resample the data first")
    tm = artifacts.trace_mask(d)
    if headers is not None:
        hv = np.asarray(headers.transpose("shot", "receiver", "segy_byte").values)
        keep = np.asarray(hv != 0).any(axis=-1)
        hdr = {int(b): hv[..., k] for k, b in enumerate(headers["segy_byte"].values)}
    else:
        if acq is None:
            raise ValueError("acq: needed to build the headers when no segy_headers are given")
        keep = np.asarray(acq.mask, bool)
        dead = keep & ~tm if tm is not None else None
        hdr = {b: np.broadcast_to(np.asarray(v), keep.shape) for b, v in data_headers(acq, dead=dead, **field).items()}
    hdr[109] = np.full(keep.shape, int(round(t[0] * 1000)))
    sel = np.argwhere(keep)
    traces = np.asarray(d.values, np.float32)[keep]
    text = [f"fwi_core shot data {description}".strip(),
            f"{len(sel)} traces, {d.sizes['shot']} shots, dt = {t[1] - t[0]:g} s, first sample at {t[0]:g} s"]
    with artifacts.replacing(path) as tmp:
        tsegy.write(tmp, traces, int(round(dt_us)), {b: v[sel[:, 0], sel[:, 1]] for b, v in hdr.items()},
                    "\n".join(text), binary={3255: 1})
    return str(path)


def write_gathers(d: xr.DataArray, folder: str | os.PathLike, stem: str = "shot", **kw) -> list[str]:
    """:func:`write_data` one file per shot, ``folder/<stem>_<shot:04d>.sgy``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = []
    for s in range(d.sizes["shot"]):
        one = d.isel(shot=[s])
        extra = dict(kw)
        if extra.get("acq") is not None:
            extra["acq"] = extra["acq"].select([s])
            extra.setdefault("records", [s + 1])
        if extra.get("headers") is not None:
            extra["headers"] = extra["headers"].isel(shot=[s])
        out.append(write_data(one, Path(folder) / f"{stem}_{s:04d}.sgy", **extra))
    return out


# ----------------------------------------------------------------------------- a run's export
def field_settings(observed: dict | None) -> dict:
    """``origin``, ``azimuth`` and ``datum`` that map the model to field
    coordinates: those of ``observed.segy`` when the data came from SEG-Y,
    else the identity (x = easting, datum 0)."""
    seg = (observed or {}).get("segy") or {}
    s = {**tsegy.SETTINGS, **seg}
    return {"origin": tuple(s["origin"]), "azimuth": float(s["azimuth"]), "datum": float(s["datum"])}


def export(folder: str | os.PathLike, models: dict[str, xr.DataArray], formats: Sequence[str] = ("segy", "binary"),
           data: dict[str, xr.DataArray] | None = None, acq: Acquisition | None = None,
           headers: xr.DataArray | None = None, field: dict | None = None) -> list[str]:
    """Write a run's results in standard formats into ``folder``:

    - every field of ``models`` (name -> model or gradient on the model grid)
      as ``<name>.sgy`` (:func:`write_model`) and/or ``<name>.bin`` with its
      ``.json`` sidecar (:func:`write_binary`), per ``formats``;
    - every gather set of ``data`` (name -> ``(shot, receiver, time)``) as
      ``<name>.sgy`` (:func:`write_data`) with ``headers`` (the SEG-Y headers
      the observed data came in with) or headers built from ``acq``.

    ``field``: ``origin``, ``azimuth``, ``datum`` (:func:`field_settings`).
    Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f = field or field_settings(None)
    out = []
    for name, da in models.items():
        if "segy" in formats:
            out.append(write_model(da, folder / f"{name}.sgy", f["origin"], f["azimuth"], description=name))
        if "binary" in formats:
            out.extend(write_binary(da, folder / f"{name}.bin"))
    for name, d in (data or {}).items():
        out.append(write_data(d, folder / f"{name}.sgy", acq=acq, headers=headers, description=name,
                              **({} if headers is not None else f)))
    return out
