"""Data misfits and their adjoint sources.

Every misfit is a function ``f(syn, obs, dt) -> (J, adj)``:

- ``syn``, ``obs``: arrays of the same shape ``(..., nt)`` (time last), for
  example ``(n_receivers, nt)`` for one shot or ``(n_shots, n_receivers, nt)``.
- ``dt``: sample interval in seconds.
- ``J``: float, the misfit (L2: ``0.5 * sum((syn - obs)**2) * dt``).
- ``adj``: array like ``syn``, ``dJ/dsyn`` (the adjoint source, already
  including the ``dt`` quadrature weight), so that
  ``J(syn + h*ds) = J(syn) + h*sum(adj*ds) + O(h**2)``.

Misfits are looked up by name with :func:`get`; a callable with the same
signature is accepted anywhere a name is.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

MisfitFn = Callable[[np.ndarray, np.ndarray, float], tuple[float, np.ndarray]]

_REGISTRY: dict[str, MisfitFn] = {}


def register(name: str) -> Callable[[MisfitFn], MisfitFn]:
    """Decorator adding a misfit to the registry under ``name``."""

    def deco(fn: MisfitFn) -> MisfitFn:
        _REGISTRY[name] = fn
        return fn

    return deco


def names() -> list[str]:
    """Names of the registered misfits."""
    return sorted(_REGISTRY)


def get(misfit: str | MisfitFn) -> MisfitFn:
    """Return the misfit function for a name (or pass a callable through)."""
    if callable(misfit):
        return misfit
    try:
        return _REGISTRY[misfit]
    except (KeyError, TypeError):
        raise ValueError(
            f"misfit: unknown misfit {misfit!r}; allowed values: {', '.join(names())}"
        ) from None


@register("l2")
def l2(syn: np.ndarray, obs: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
    """Least-squares waveform misfit ``0.5 * sum((syn-obs)**2) * dt``."""
    r = np.asarray(syn, dtype=np.float64) - np.asarray(obs, dtype=np.float64)
    return 0.5 * float(np.sum(r * r)) * dt, (r * dt).astype(np.asarray(syn).dtype, copy=False)
