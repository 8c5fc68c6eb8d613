"""Names of a model's axes, shared by every layer (config, engine, survey,
report): ``("z", "x")`` in 2-D and ``("z", "y", "x")`` in 3-D, z (depth,
positive down) first and x last, coordinates in metres (DESIGN.md)."""
from __future__ import annotations

#: Dims of a model by its number of axes.
DIMS = {2: ("z", "x"), 3: ("z", "y", "x")}


def dims_of(ndim: int) -> tuple[str, ...]:
    """Model dims for ``ndim`` axes; ``ValueError`` for anything but 2 or 3."""
    if ndim not in DIMS:
        raise ValueError(f"models are 2-D {DIMS[2]} or 3-D {DIMS[3]}, got {ndim} axes")
    return DIMS[ndim]


def per_axis(value, ndim: int, name: str = "spacing") -> tuple[float, ...]:
    """One number for every axis, or one per axis (in the order of the dims),
    as a tuple of ``ndim`` floats; ``ValueError`` naming ``name`` otherwise."""
    try:
        vals = [float(value)] * ndim if not hasattr(value, "__len__") else [float(v) for v in value]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != ndim:
        raise ValueError(f"{name}: expected a number or one per axis {list(dims_of(ndim))}, got {value!r}")
    return tuple(vals)
