"""Survey geometry in model coordinates, plain numpy, shared by every layer
(config validation, the engine's acquisition, SEG-Y headers, the workflow):

- receivers that move with their source (:func:`moving_spread`): a towed
  streamer or a rolling land spread, from an offset range or from a first
  offset, a spacing and a count;
- field coordinates (easting, northing; m) mapped onto the model's
  horizontal axes (:func:`field_to_model`, :func:`model_to_field`): a
  configurable origin and the azimuth of the model's x axis, so a 2-D line
  is the projection onto its azimuth;
- positions outside the model, described by axis (:func:`outside`,
  :func:`where_outside`).

Positions are ``[z, x]`` (2-D) or ``[z, y, x]`` (3-D) in metres, z positive
down from the model top (DESIGN.md).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .axes import dims_of

def even(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` positions (m) evenly over ``[lo, hi]``, both ends included; one
    position is the middle."""
    return np.linspace(lo, hi, int(n)) if n > 1 else np.array([(lo + hi) / 2])


def surface_positions(axes: dict[str, tuple[float, float]], n, depth: float = 0.0, margin: float = 0.0,
                      name: str = "n") -> np.ndarray:
    """Devices evenly spread near the surface of a model whose axes span
    ``axes`` (``{dim: (first, last)}``, m, z first): ``(n_devices, d)``.

    A count spreads them along x over ``[x0 + margin, x1 - margin]`` (in 3-D on
    the line through the middle of the y axis); in 3-D a pair ``(ny, nx)``
    spreads an areal grid over the (y, x) plane within the same margin,
    ordered y-major (device ``iy * nx + ix``). ``depth`` (m) is below the
    model top. ``ValueError`` naming ``name`` for a bad count or margin."""
    dims = list(axes)
    z0 = axes[dims[0]][0]
    for d in dims[1:]:
        a, b = axes[d]
        if margin < 0 or b - a < 2 * margin:
            raise ValueError(f"{name}: a margin of {margin} m leaves no room on a model {b - a} m wide along {d}")

    def spread(d: str, k: int) -> np.ndarray:
        return even(axes[d][0] + margin, axes[d][1] - margin, k)

    counts = list(n) if isinstance(n, (list, tuple, np.ndarray)) else [n]
    if len(counts) not in (1, 2) or any(isinstance(c, bool) or int(c) != c or c < 1 for c in counts):
        raise ValueError(f"{name} must be a positive integer or, in 3-D, a pair [ny, nx], got {n!r}")
    if len(counts) == 2 and len(dims) != 3:
        raise ValueError(f"{name}: an areal grid {list(counts)} needs a 3-D model, the model is 2-D")
    if len(counts) == 1:
        xs = spread("x", counts[0])
        cols = [np.full_like(xs, (axes["y"][0] + axes["y"][1]) / 2)] if len(dims) == 3 else []
        return np.stack([np.full_like(xs, z0 + depth), *cols, xs], axis=1)
    yy, xx = np.meshgrid(spread("y", counts[0]), spread("x", counts[1]), indexing="ij")
    return np.stack([np.full(yy.size, z0 + depth), yy.ravel(), xx.ravel()], axis=1)


#: The forms a spread takes (config ``acquisition.spread``): keys of each.
SPREAD_FORMS = (("first_offset", "spacing", "count"), ("min_offset", "max_offset", "spacing"))


def spread_offsets(spec: dict) -> np.ndarray:
    """Signed x offsets (m, receiver x minus source x) of a spread ``spec``:
    ``{first_offset, spacing, count}`` (``count`` receivers from
    ``first_offset``, ``spacing`` apart, signed) or ``{min_offset,
    max_offset, spacing}`` (every ``|spacing|`` from ``min_offset`` up to
    ``max_offset``). ``ValueError`` naming the key for anything else."""
    keys = set(spec)
    spacing = float(spec.get("spacing", 0.0))
    if spacing == 0.0:
        raise ValueError("spacing: must be a non-zero number of metres")
    if keys == set(SPREAD_FORMS[0]):
        count = int(spec["count"])
        if count < 1:
            raise ValueError(f"count: must be at least 1, got {spec['count']!r}")
        return float(spec["first_offset"]) + spacing * np.arange(count)
    if keys == set(SPREAD_FORMS[1]):
        lo, hi = float(spec["min_offset"]), float(spec["max_offset"])
        if hi < lo:
            raise ValueError(f"max_offset: {hi:g} m must be >= min_offset ({lo:g} m)")
        n = int(np.floor((hi - lo) / abs(spacing) + 1e-9)) + 1
        return lo + abs(spacing) * np.arange(n)
    raise ValueError(f"give either {', '.join(SPREAD_FORMS[0])} or {', '.join(SPREAD_FORMS[1])}; got "
                     f"{', '.join(sorted(keys)) or 'nothing'}")


def spread_count(spec: dict) -> int:
    """Receivers of a spread before any is dropped at the model's edges."""
    return int(spread_offsets(spec).size)


def moving_spread(sources: np.ndarray, specs: dict | Sequence[dict], depth: float,
                  x_range: tuple[float, float], key: str = "acquisition.spread") -> list[np.ndarray]:
    """Receivers of each shot at x offsets from its source: ``(n_s, d)`` per
    shot, at depth ``depth`` (m below the model top, z of the model's first
    row being 0) and, in 3-D, on the source's y.

    ``specs``: one spread (:func:`spread_offsets`) for every shot, or one per
    shot. An offset range keeps the receivers inside ``x_range`` (m, the
    model's x extent: the spread is clipped at the model's edges); a first
    offset with a count must lie inside whole, else ``ValueError`` naming
    ``key``, the shot and the receiver. A shot left with no receiver is an
    error too."""
    src = np.asarray(sources, np.float64)
    spec_list = [specs] * len(src) if isinstance(specs, dict) else list(specs)
    if len(spec_list) != len(src):
        raise ValueError(f"{key}: {len(spec_list)} spreads for {len(src)} shots (give one, or one per shot)")
    lo, hi = (float(v) for v in x_range)
    tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
    out = []
    for s, (p, spec) in enumerate(zip(src, spec_list)):
        where = f"{key}" + (f"[{s}]" if not isinstance(specs, dict) else "")
        try:
            off = spread_offsets(spec)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        x = p[-1] + off
        inside = (x >= lo - tol) & (x <= hi + tol)
        if "count" in spec and not inside.all():
            k = int(np.argmin(inside))
            raise ValueError(f"{where}: receiver {k} of shot {s} at x = {x[k]:g} m (source at x = {p[-1]:g} m, "
                             f"offset {off[k]:g} m) is outside the model's x range [{lo:g}, {hi:g}] m")
        x = x[inside]
        if x.size == 0:
            raise ValueError(f"{where}: shot {s} (source at x = {p[-1]:g} m) has no receiver inside the model's "
                             f"x range [{lo:g}, {hi:g}] m")
        cols = [np.full_like(x, depth)] + ([np.full_like(x, p[1])] if src.shape[1] == 3 else []) + [x]
        out.append(np.stack(cols, axis=1))
    return out


def _directions(azimuth: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (easting, northing) of the model's x axis (``azimuth``,
    degrees clockwise from north) and y axis (``azimuth - 90``)."""
    a = np.deg2rad(float(azimuth))
    along = np.array([np.sin(a), np.cos(a)])
    across = np.array([-np.cos(a), np.sin(a)])   # azimuth - 90 degrees
    return along, across


def field_to_model(easting: np.ndarray, northing: np.ndarray, origin: Sequence[float] = (0.0, 0.0),
                   azimuth: float = 90.0) -> tuple[np.ndarray, np.ndarray]:
    """Field coordinates (m) onto the model's horizontal axes: returns
    ``(x, y)`` in m, ``x`` the distance from ``origin`` (easting, northing of
    model x = 0, y = 0) along the azimuth of the model's x axis (degrees
    clockwise from north; 90: x grows eastwards), ``y`` along ``azimuth -
    90`` (azimuth 90: y grows northwards). A 2-D line takes ``x`` (the
    projection onto its azimuth); ``y`` is then the distance off the line."""
    along, across = _directions(azimuth)
    de = np.asarray(easting, np.float64) - float(origin[0])
    dn = np.asarray(northing, np.float64) - float(origin[1])
    return de * along[0] + dn * along[1], de * across[0] + dn * across[1]


def model_to_field(x: np.ndarray, y: np.ndarray | float = 0.0, origin: Sequence[float] = (0.0, 0.0),
                   azimuth: float = 90.0) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`field_to_model`: ``(easting, northing)`` in m."""
    along, across = _directions(azimuth)
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    return (float(origin[0]) + x * along[0] + y * across[0],
            float(origin[1]) + x * along[1] + y * across[1])


def outside(positions: np.ndarray, lo: Sequence[float], hi: Sequence[float], atol: float = 0.0) -> np.ndarray:
    """Booleans ``(n,)``: the positions ``(n, d)`` (m) outside the box
    ``[lo, hi]`` per axis by more than ``atol`` (m; and a relative 1e-9)."""
    p = np.asarray(positions, np.float64).reshape(-1, len(lo))
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    tol = _tolerance(lo, hi, atol)
    return np.any((p < lo - tol) | (p > hi + tol), axis=-1)


def _tolerance(lo: np.ndarray, hi: np.ndarray, atol: float) -> float:
    """``atol`` (m) and a relative 1e-9 of the model's extent: how far outside is still on the edge."""
    return 1e-9 * max(float(np.abs(np.r_[lo, hi]).max()), 1.0) + float(atol)


def snap(positions: np.ndarray, lo: Sequence[float], hi: Sequence[float], atol: float) -> np.ndarray:
    """``positions`` ``(..., d)`` (m) with the coordinates that lie outside
    ``[lo, hi]`` by at most ``atol`` (m: the precision they were recorded
    with) put on the edge; anything farther is left as it is (and refused
    by :func:`outside`)."""
    p = np.array(positions, np.float64)
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    tol = _tolerance(lo, hi, atol)
    near_lo = (p < lo) & (p >= lo - tol)
    near_hi = (p > hi) & (p <= hi + tol)
    return np.where(near_lo, lo, np.where(near_hi, hi, p))


def where_outside(position: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> str:
    """Why a position ``[z, (y,) x]`` (m) is outside the model ``[lo, hi]``:
    above the top, below the bottom, or in the absorbing layer beyond an
    edge, one phrase per axis."""
    dims = dims_of(len(lo))
    parts = []
    for k, (d, c, a, b) in enumerate(zip(dims, position, lo, hi)):
        tol = 1e-9 * max(abs(a), abs(b), 1.0)
        if c < a - tol:
            parts.append(f"above the model top (z = {c:g} m < {a:g} m)" if k == 0 else
                         f"in the absorbing layer before the model's first {d} ({d} = {c:g} m < {a:g} m)")
        elif c > b + tol:
            parts.append(f"below the model bottom (z = {c:g} m > {b:g} m)" if k == 0 else
                         f"in the absorbing layer beyond the model's last {d} ({d} = {c:g} m > {b:g} m)")
    return ", ".join(parts) or "inside the model"
