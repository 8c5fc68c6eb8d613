"""Kernel backends: one self-contained module per (dimension, backend).

A backend module provides the interface listed in :data:`INTERFACE` (plain
Python helpers that size and pack the operator for its layout, and the
jitted time loops the drivers call); :func:`get` finds the module for a
model's dimension and a backend name. A new backend (3-D, numba-cuda) is a
new module and one :func:`register` call, nothing else: the drivers in
:mod:`fwi_core.engine.propagation` and :mod:`fwi_core.engine.gradient` never
name a module. Modules load on first use, so registering costs nothing.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

#: What every backend module defines (see the CPU 2-D module for the contract of each).
INTERFACE = (
    # layout, sizes and packing (plain Python)
    "regions", "core_points", "snapshot_cells", "boundary_size", "pack", "fields", "cpml_fields",
    "adjoint_fields", "snapshot_store",
    # point operators and time loops
    "gather", "inject", "advance", "adjoint_sweep", "execute", "sweep_saving", "reverse_saved",
)

_REGISTRY: dict[tuple[int, str], str] = {
    (2, "cpu"): f"{__name__}.cpu2d",
    (3, "cpu"): f"{__name__}.cpu3d",
}


def register(ndim: int, name: str, module: str) -> None:
    """Make ``module`` (an importable dotted name) the backend ``name`` for ``ndim``-D models."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim: backends are registered for 2-D or 3-D models, got {ndim!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: a backend name is a non-empty string, got {name!r}")
    _REGISTRY[(int(ndim), name)] = module


def unregister(ndim: int, name: str) -> None:
    """Remove a registered backend (tests)."""
    _REGISTRY.pop((int(ndim), name), None)


def available() -> list[tuple[int, str]]:
    """The registered ``(ndim, name)`` pairs."""
    return sorted(_REGISTRY)


def get(ndim: int, name: str = "cpu") -> ModuleType:
    """The backend module for ``ndim``-D models; ``ValueError`` naming the
    registered ones if there is none, or if the module lacks part of :data:`INTERFACE`."""
    key = (int(ndim), name)
    if key not in _REGISTRY:
        have = ", ".join(f"{n} ({d}-D)" for d, n in available())
        raise ValueError(f"backend: no {name!r} backend for {ndim}-D models; registered: {have}")
    module = importlib.import_module(_REGISTRY[key])
    missing = [f for f in INTERFACE if not hasattr(module, f)]
    if missing:
        raise ValueError(f"backend: module {module.__name__} ({name!r}, {ndim}-D) lacks {', '.join(missing)}")
    return module


#: Time loops whose compilation dominates a cold start.
_LOOPS = ("advance", "execute")


def cached(ndim: int, name: str = "cpu") -> bool:
    """Whether numba's on-disk cache holds the time loops of the backend from
    an earlier run. False on a fresh install: the first engine call then
    compiles them, which takes about a minute; True for a backend that is not
    compiled to a cache (e.g. a pass-through module)."""
    module = get(ndim, name)
    try:
        return all(os.path.exists(getattr(module, f)._cache._cache_file._index_path) for f in _LOOPS)
    except AttributeError:
        return True
