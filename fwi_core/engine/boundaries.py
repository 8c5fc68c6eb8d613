"""Convolutional PML (CPML) coefficients for the second-order scalar wave
equation (Pasalic & McGarry 2010).

Per axis the auxiliary fields obey, at every time step n,

    psi^n  = b psi^{n-1}  + a d1(u^n)
    zeta^n = b zeta^{n-1} + a (d2(u^n) + d1(psi^n))

and the Laplacian is augmented to ``d2(u) + d1(psi) + zeta``, with
``b = exp(-(d + alpha) dt)`` and ``a = d / (d + alpha) * (b - 1)``. ``d``
grows as ``d0 (x/L)^2`` into the layer and ``alpha = pi f (1 - x/L)``. Outside
the layer ``a = b = 0``. The coefficients depend only on the grid, ``dt``, a
reference velocity and frequency: they are constants of the discrete operator
(not differentiated with respect to the model).
"""
from __future__ import annotations

import numpy as np

from .grid import HALO, Layout

#: Theoretical normal-incidence reflection coefficient the damping is designed for.
REFLECTION = 1e-4
#: Polynomial order of the damping profile.
PROFILE_POWER = 2


def cpml_profile(n: int, lead: int, trail: int, h: float, dt: float, vmax: float,
                 freq: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """CPML ``(a, b)`` along one padded axis of length ``n``.

    ``lead``/``trail`` are the absorbing cells before/after the model (after
    the halo); ``h`` is the grid step (m), ``width`` the nominal layer width in
    cells (used for the damping strength), ``vmax`` m/s, ``freq`` Hz.
    """
    a = np.zeros(n)
    b = np.zeros(n)
    if width == 0:
        return a, b
    L = width * h
    d0 = -(PROFILE_POWER + 1) * vmax * np.log(REFLECTION) / (2.0 * L)
    idx = np.arange(n)
    # distance into the layer, in cells (0 at the model edge, `width` at the outer edge)
    first, last = HALO + lead, n - HALO - trail - 1
    depth = np.zeros(n)
    depth[:first] = first - idx[:first]
    depth[last + 1:] = idx[last + 1:] - last
    inside = (depth > 0) & (idx >= HALO) & (idx < n - HALO)
    frac = depth[inside] / width
    d = d0 * frac ** PROFILE_POWER
    alpha = np.pi * freq * (1.0 - frac)
    bb = np.exp(-(d + alpha) * dt)
    a[inside] = d / (d + alpha) * (bb - 1.0)
    b[inside] = bb
    return a, b


def cpml_coefficients(layout: Layout, spacing: tuple[float, ...], dt: float, vmax: float,
                      freq: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(a, b) per axis]``: 1-D CPML coefficients along each padded axis
    (in the order of the model's dims; lengths ``layout.shape``)."""
    return [cpml_profile(n, lead, layout.pml, h, dt, vmax, freq, layout.pml)
            for n, lead, h in zip(layout.shape, layout.lead, spacing)]
