"""The engine's run options: one small object instead of the same keywords
repeated in every driver."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ..stencils import check_space_order


@dataclass(frozen=True)
class Options:
    """How a model is discretised and run (everything but model, geometry, wavelet, dt, nt).

    ``space_order``: 2, 4, 6 or 8; ``pml_width``: CPML cells per side;
    ``free_surface``: pressure-free top (no layer there); ``dtype``: float32
    or float64; ``vmax`` (m/s) and ``freq`` (Hz): the CPML reference velocity
    and frequency (None: the model maximum and the wavelet's peak);
    ``num_threads``: threads (None: all); ``backend``: a registered kernel
    backend (:mod:`fwi_core.engine.backends`).
    """

    space_order: int = 8
    pml_width: int = 20
    free_surface: bool = False
    dtype: type = np.float32
    vmax: float | None = None
    freq: float | None = None
    num_threads: int | None = None
    backend: str = "cpu"

    def __post_init__(self) -> None:
        check_space_order(self.space_order)
        p = self.pml_width
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0:
            raise ValueError(f"pml_width must be a non-negative integer, got {p!r}")
        dt = np.dtype(self.dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        for name in ("vmax", "freq"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number or None, got {v!r}")
        object.__setattr__(self, "space_order", int(self.space_order))
        object.__setattr__(self, "pml_width", int(p))
        object.__setattr__(self, "free_surface", bool(self.free_surface))
        object.__setattr__(self, "dtype", dt.type)

    @classmethod
    def build(cls, options: "Options | None" = None, **keywords) -> "Options":
        """``options`` with ``keywords`` replaced; an unknown keyword is a
        ``TypeError`` that names it and the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(keywords) - known)
        if unknown:
            raise TypeError(f"unknown engine option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        base = cls() if options is None else options
        if not isinstance(base, cls):
            raise ValueError(f"options must be a fwi_core.Options, got {type(base).__name__}")
        return replace(base, **keywords) if keywords else base
