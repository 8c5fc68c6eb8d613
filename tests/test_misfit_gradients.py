"""Taylor tests of the full-modelling gradient for every registered misfit.

For each name in ``misfits.names()`` (a newly registered misfit is covered
automatically) ``fwi.gradient(..., misfit=name)`` in float64 must satisfy

    r(h) = |J(v + h dv) - J(v) - h <g, dv>| = O(h**2)

i.e. the ratio r(h) / r(h/2) stays in [3.5, 4.5] over five halvings of h,
and at the smallest h the remainder is a small fraction of the first-order
term (so the test is in the regime where a wrong gradient shows: a 1 % error
in <g, dv> turns the ratios towards 2, checked below for L2).

Set-up: 40 x 50 cells at 10 m, a v(z) gradient with a Gaussian high-velocity
body (true model); the starting model is the true one smoothed and 3 % slow,
so residuals are large enough to reach the non-quadratic branches of the
robust misfits, while the cross-correlation shifts (a few ms) stay far inside
half a period (33 ms at 15 Hz), so the traveltime lag pick is stable. ``vmax``
and ``freq`` are fixed so the absorbing layer does not change with h.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import fwi_core as fwi
from fwi_core.inversion import diagnostics
from fwi_core.traces import misfits

NZ, NX, SPACING = 40, 50, 10.0
F0 = 15.0          # Ricker peak frequency (Hz)
NT = 300
VMAX = 2600.0      # fixed CPML velocity (above every model visited)
PML = 10
HS = 10.0 / 2.0 ** np.arange(6)   # h * max|dv| in m/s: 10 ... 0.3125
RATIO = (3.5, 4.5)
LINEAR_FRACTION = 0.05            # r(h_min) / |h_min <g, dv>| must be below this


@pytest.fixture(scope="module")
def problem():
    z = SPACING * np.arange(NZ)[:, None]
    x = SPACING * np.arange(NX)[None, :]
    v_true = 1800.0 + 1.5 * z + 200.0 * np.exp(-((z - 250.0) ** 2 + (x - 250.0) ** 2) / (2 * 60.0 ** 2))
    v = 0.97 * gaussian_filter(v_true, 4.0, mode="nearest")
    rng = np.random.default_rng(3)
    dv = gaussian_filter(rng.standard_normal((NZ, NX)), 3.0)
    dv = dv / np.abs(dv).max() + 0.5  # smooth, random, with a non-zero mean
    dv /= np.abs(dv).max()
    acq = fwi.Acquisition(sources=[[20.0, 150.0], [20.0, 350.0]],
                          receivers=[[20.0, xr] for xr in (50.0, 130.0, 210.0, 290.0, 370.0, 450.0)])
    dt = 0.8 * fwi.stable_dt(fwi.as_model(np.full((NZ, NX), VMAX), SPACING))
    w = fwi.ricker(F0, dt, NT, dtype=np.float64)
    kw = dict(dt=dt, nt=NT, dtype=np.float64, vmax=VMAX, freq=F0, pml_width=PML)
    vp = fwi.as_model(v, SPACING)
    d_obs = fwi.forward(fwi.as_model(v_true, SPACING), acq, w, **kw).values
    # forward data along the ray v + h dv, shared by all misfits
    d_h = [fwi.forward(fwi.as_model(v + h * dv, SPACING), acq, w, **kw).values for h in HS]
    d0 = fwi.forward(vp, acq, w, **kw).values
    return dict(vp=vp, dv=dv, acq=acq, w=w, kw=kw, dt=dt, d_obs=d_obs, d_h=d_h, d0=d0)


def remainders(p, name: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """First-order Taylor remainders along HS, and the first-order terms, with
    the gradient's directional derivative multiplied by ``scale``."""
    J0, g = fwi.gradient(p["vp"], p["acq"], p["w"], p["d_obs"], misfit=name, **p["kw"])
    fn = misfits.get(name)
    assert J0 == pytest.approx(fn(p["d0"], p["d_obs"], p["dt"])[0], rel=1e-12)
    slope = scale * float(np.sum(np.asarray(g.values, np.float64) * p["dv"]))
    assert slope != 0.0
    J = np.array([fn(d, p["d_obs"], p["dt"])[0] for d in p["d_h"]])
    return np.abs(J - J0 - HS * slope), np.abs(HS * slope)


def test_every_registered_misfit_is_covered():
    assert set(misfits.names()) >= {"l2", "l1", "huber", "wasserstein", "traveltime", "envelope", "ncc"}


def test_shifts_are_well_inside_half_a_period(problem):
    """Precondition of the traveltime case: the lag pick is unambiguous."""
    shifts = diagnostics.time_shifts(problem["d0"], problem["d_obs"], problem["dt"])
    assert np.max(np.abs(shifts)) < 0.15 / F0
    assert np.max(np.abs(shifts)) > 2 * problem["dt"]  # but not trivially zero


@pytest.mark.parametrize("name", misfits.names())
def test_gradient_taylor_second_order(problem, name):
    rem, lin = remainders(problem, name)
    ratios = rem[:-1] / rem[1:]
    assert np.all((ratios >= RATIO[0]) & (ratios <= RATIO[1])), \
        f"{name}: remainder ratios {np.round(ratios, 3)}, remainders {rem}"
    assert rem[-1] < LINEAR_FRACTION * lin[-1], f"{name}: remainder {rem[-1]:.3g} vs linear {lin[-1]:.3g}"


def test_taylor_test_detects_a_one_percent_gradient_error(problem):
    """The same criterion fails for a gradient that is 1 % off."""
    rem, _ = remainders(problem, "l2", scale=1.01)
    ratios = rem[:-1] / rem[1:]
    assert not np.all((ratios >= RATIO[0]) & (ratios <= RATIO[1]))
