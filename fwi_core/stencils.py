"""Central finite-difference coefficients on a regular grid.

``space_order`` p (even, 2..8) gives stencils of radius ``r = p // 2``.
Coefficients are for unit spacing; divide by ``h`` (first derivative) or
``h**2`` (second derivative).
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np

SPACE_ORDERS = (2, 4, 6, 8)
#: Fewest points per wavelength (at the wavelet's useful maximum frequency and
#: the minimum velocity) below which numerical dispersion becomes visible, per
#: space order: the engine's dispersion rule (:mod:`fwi_core.stability`), also
#: used by job planning and config validation without loading the engine.
MIN_POINTS_PER_WAVELENGTH = {2: 10.0, 4: 6.0, 6: 5.0, 8: 4.0}


def check_space_order(space_order: int) -> int:
    """Validate ``space_order`` and return the stencil radius ``space_order // 2``."""
    if isinstance(space_order, bool) or not isinstance(space_order, (int, np.integer)) or space_order not in SPACE_ORDERS:
        raise ValueError(f"space_order must be one of {SPACE_ORDERS}, got {space_order!r}")
    return int(space_order) // 2


@lru_cache(maxsize=None)
def _taylor_coefficients(radius: int, derivative: int) -> tuple[Fraction, ...]:
    """Exact one-sided coefficients c_0..c_r of the central stencil.

    The second derivative stencil is ``c_0 f_0 + sum_k c_k (f_k + f_-k)``; the
    first derivative stencil is ``sum_k c_k (f_k - f_-k)``. Solved exactly with
    rational arithmetic from the Taylor conditions.
    """
    # unknowns: c_1..c_r; conditions on even (2nd deriv) or odd (1st deriv) moments
    n = radius
    rows, rhs = [], []
    for q in range(n):
        power = 2 * q + (2 if derivative == 2 else 1)
        rows.append([Fraction(k) ** power * 2 for k in range(1, n + 1)])
        # sum_k c_k * 2 k^power / power! must equal 1 for power == derivative, else 0
        rhs.append(Fraction(1) * (2 if derivative == 2 else 1) if power == derivative else Fraction(0))
    # Gaussian elimination in exact arithmetic
    a = [row[:] + [b] for row, b in zip(rows, rhs)]
    for col in range(n):
        piv = next(i for i in range(col, n) if a[i][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        for i in range(n):
            if i != col and a[i][col] != 0:
                f = a[i][col] / a[col][col]
                a[i] = [x - f * y for x, y in zip(a[i], a[col])]
    c = [a[i][n] / a[i][i] for i in range(n)]
    c0 = -2 * sum(c) if derivative == 2 else Fraction(0)
    return (c0, *c)


def second_derivative(space_order: int) -> np.ndarray:
    """Coefficients ``[c_0, c_1, .., c_r]`` of the central second derivative (float64)."""
    r = check_space_order(space_order)
    return np.array([float(x) for x in _taylor_coefficients(r, 2)])


def first_derivative(space_order: int) -> np.ndarray:
    """Coefficients ``[0, c_1, .., c_r]`` of the central first derivative (float64)."""
    r = check_space_order(space_order)
    return np.array([float(x) for x in _taylor_coefficients(r, 1)])


def max_stable_dt(vmax: float, spacing: tuple[float, ...], space_order: int) -> float:
    """Largest stable dt (s) of the leapfrog scheme for this stencil and vmax (m/s).

    Von Neumann: ``dt <= 2 / (vmax * sqrt(S * sum_k 1/h_k^2))`` with ``S`` the
    largest eigenvalue of the 1-D second-derivative stencil (sum of the
    absolute coefficients); ``spacing``: the grid steps ``h_k`` (m), one per
    axis (``(dz, dx)`` or ``(dz, dy, dx)``).
    """
    c = second_derivative(space_order)
    s = abs(c[0]) + 2.0 * np.abs(c[1:]).sum()
    inv = 0.0
    for h in spacing:
        inv = inv + 1.0 / h ** 2
    return float(2.0 / (vmax * np.sqrt(s * inv)))
