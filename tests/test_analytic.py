"""Modelled traces against the 2-D free-space Green's function.

For ``m u_tt - lap u = f delta(x - x_s)`` with ``m = 1/c^2`` the 2-D Green's
function is ``H(t - r/c) / (2 pi sqrt(t^2 - r^2/c^2))``; with
``tau = (r/c) cosh(theta)`` its convolution with the wavelet is the smooth
integral ``(1/2pi) int_0^{acosh(ct/r)} f(t - (r/c) cosh(theta)) d theta``.
"""
import numpy as np
import pytest

import fwi_core as fwi

C, F0 = 2000.0, 10.0   # m/s, Hz: Ricker max useful frequency ~24 Hz -> shortest wavelength ~83 m
SRC = np.array([[600.0, 300.0]])
REC = np.array([[600.0, 1100.0],     # on the grid
                [803.3, 1017.7]])    # off the grid (and the source below is off-grid too)


def ricker_t(t, f0, t0):
    a = (np.pi * f0 * (t - t0)) ** 2
    return (1 - 2 * a) * np.exp(-a)


def green_trace(r: float, t: np.ndarray, nq: int = 3000) -> np.ndarray:
    """Exact trace at distance r (m) for a Ricker of peak F0 peaking at 1.5/F0."""
    out = np.zeros_like(t)
    live = t * C > r
    th = np.linspace(0.0, 1.0, nq)[None, :] * np.arccosh(C * t[live] / r)[:, None]
    f = ricker_t(t[live, None] - r / C * np.cosh(th), F0, 1.5 / F0)
    out[live] = np.trapezoid(f, th, axis=1) / (2 * np.pi)
    return out


def relative_errors(h: float, space_order: int, safety: float, src=SRC) -> list[float]:
    vp = fwi.as_model(np.full((int(1200 / h) + 1, int(1600 / h) + 1), C), h)
    dt = fwi.stable_dt(vp, space_order=space_order, safety=safety)
    nt = int(0.75 / dt)
    w = fwi.ricker(F0, dt, nt, dtype=np.float64)
    d = fwi.forward(vp, fwi.Acquisition(src, REC), w, dt, nt, space_order=space_order,
                    dtype=np.float64).values[0]
    t = np.arange(nt) * dt
    errs = []
    for k in range(len(REC)):
        g = green_trace(float(np.hypot(*(REC[k] - src[0]))), t)
        errs.append(float(np.linalg.norm(d[k] - g) / np.linalg.norm(g)))
    return errs


def test_order8_matches_greens_function_on_and_off_grid():
    # 10 m cells: 8.3 points per shortest wavelength (>= 6). dt at 0.3 x CFL keeps
    # the leapfrog's time dispersion (error ~ dt^2) well below the 1 % bar.
    errs = relative_errors(10.0, 8, 0.3)
    errs_off = relative_errors(10.0, 8, 0.3, src=np.array([[611.7, 304.2]]))
    assert max(errs + errs_off) < 0.01, (errs, errs_off)


def test_six_points_per_wavelength_order8():
    # 13.3 m cells: 6.2 points per shortest wavelength.
    assert max(relative_errors(13.3, 8, 0.2)) < 0.01


def test_error_falls_with_space_order():
    # coarse grid (4.8 points per wavelength) and small dt, so spatial error dominates
    errs = {p: max(relative_errors(17.0, p, 0.1)) for p in (2, 4, 6, 8)}
    assert errs[2] > errs[4] > errs[6] > errs[8], errs
    assert errs[8] < 0.02, errs


def test_time_dispersion_shrinks_as_dt_squared():
    # documents why the accuracy tests use dt below the CFL limit: the error of
    # the second-order time scheme falls ~4x when dt halves
    e1 = max(relative_errors(10.0, 8, 0.8))
    e2 = max(relative_errors(10.0, 8, 0.4))
    assert 3.0 < e1 / e2 < 5.0, (e1, e2)
