"""The wave engine: 2-D (and, through its backends, any-dimension) acoustic
modelling with an exact discrete adjoint, and the adjoint-state gradient.

Layers, bottom up: ``grid``, ``acquisition``, ``boundaries``, ``stability``
and ``wavelets`` (plain numpy, any dimension); ``options`` (the run options);
``backends`` (the kernels, one self-contained module per dimension and
backend); ``propagation`` (forward, adjoint) and ``adjoint_state`` (the
gradient), the drivers; ``shots`` (threads); ``checkpointing`` (Revolve).

Names load on first use (PEP 562): ``from fwi_core import engine`` costs
nothing until a name is used, so light jobs that never model do not load numba.
"""
from __future__ import annotations

import importlib

#: public name -> module of this package that defines it
_NAMES = {
    "Acquisition": "acquisition", "Layout": "grid", "as_model": "grid", "check_model": "grid",
    "Options": "options", "forward": "propagation", "adjoint": "propagation",
    "DEFAULT_MEMORY_BUDGET": "propagation", "gradient": "adjoint_state",
    "release_workspace": "adjoint_state", "run_shots": "shots", "shot_workers": "shots",
    "stable_dt": "stability", "DispersionWarning": "stability", "ricker": "wavelets",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
