"""Per-band grids: the restriction and its adjoint, the grid choice, and the
band objective's gradient on the model grid (Taylor test, agreement with the
model-grid gradient)."""
import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import fwi_core as fwi
from fwi_core.inversion import bandgrid
from fwi_core import inversion
from fwi_core.stencils import MIN_POINTS_PER_WAVELENGTH, max_stable_dt
from fwi_core.engine.wavelets import max_frequency

BOUNDS = (1500.0, 3500.0)


def _model(rng, shape=(60, 120), h=10.0):
    v = 2000.0 + 400.0 * gaussian_filter(rng.random(shape), 4)
    v = 2200.0 + (v - v.mean()) * 8
    return fwi.as_model(np.clip(v, *BOUNDS), h)


def _band(rng, fmax, dtype="float64", n_shots=2):
    true = _model(rng)
    vp0 = true.copy(data=gaussian_filter(true.values, 8))
    x1 = float(true.x[-1])
    acq = fwi.Acquisition.surface(true, n_shots, 40, 20.0, 20.0, margin=0.1 * x1)
    sim = {"space_order": 8, "pml_width": 12, "dtype": dtype, "cfl_safety": 0.8}
    dt = inversion.choose_dt(true, BOUNDS[1], 8, 0.8)
    nt = len(inversion.time_axis(dt, 1.0))
    w = inversion.source_wavelet(8.0, dt, nt, inversion.wavelet_delay(8.0, dt, {"fmax": fmax}))
    d = fwi.forward(true, acq, w.values, dt=dt, nt=nt, options=inversion.engine_options(sim))
    d_fine, w_fine = inversion.prepare_band(d, w, {"fmax": fmax}, 4)
    d_band, w_band = inversion.prepare_band(d, w, {"fmax": fmax}, 4, true, sim, BOUNDS)
    return vp0, acq, sim, (d_fine, w_fine), (d_band, w_band)


def test_restriction_adjoint_dot_product(rng):
    vp = _model(rng, (37, 91), 12.5)
    grid = bandgrid.BandGrid((13, 29), (36 * 12.5 / 12, 90 * 12.5 / 28), 2)
    v = rng.standard_normal(vp.shape)
    g = rng.standard_normal(grid.shape)
    lhs = float(np.sum(bandgrid.coarsen(vp.copy(data=v), grid).values * g))
    rhs = float(np.sum(v * bandgrid.refine_gradient(g, vp, grid)))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_coarsen_keeps_extent_and_constants(rng):
    vp = fwi.as_model(np.full((40, 100), 2345.0), 10.0)
    grid = bandgrid.BandGrid((14, 34), (390 / 13, 990 / 33), 1)
    c = bandgrid.coarsen(vp, grid)
    assert c.shape == (14, 34)
    assert float(c.z[-1]) == pytest.approx(390.0) and float(c.x[-1]) == pytest.approx(990.0)
    np.testing.assert_allclose(c.values, 2345.0, rtol=1e-6)
    # the identity when the grids coincide
    same = bandgrid.BandGrid(vp.shape, (10.0, 10.0), 1)
    v = rng.standard_normal(vp.shape)
    np.testing.assert_allclose(bandgrid.coarsen(vp.copy(data=v), same).values, v, atol=1e-12)



def test_restriction_in_3d_is_separable_adjoint_and_keeps_constants(rng):
    """3-D: R applied axis by axis equals the explicit tensor product, its
    transpose is the adjoint, constants are kept, and choose() coarsens all
    three axes."""
    vp = fwi.as_model(np.full((20, 16, 24), 2345.0, np.float64), (10.0, 12.5, 10.0))
    grid = bandgrid.BandGrid((10, 9, 12), (190 / 9, 187.5 / 8, 230 / 11), 1)
    np.testing.assert_allclose(bandgrid.coarsen(vp, grid).values, 2345.0, rtol=1e-12)
    v = rng.standard_normal(vp.shape)
    g = rng.standard_normal(grid.shape)
    rz, ry, rx = bandgrid._operators(vp, grid)
    np.testing.assert_allclose(bandgrid.coarsen(vp.copy(data=v), grid).values,
                               np.einsum("ai,bj,ck,ijk->abc", rz, ry, rx, v), rtol=1e-12, atol=1e-12)
    lhs = float(np.sum(bandgrid.coarsen(vp.copy(data=v), grid).values * g))
    rhs = float(np.sum(v * bandgrid.refine_gradient(g, vp, grid)))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    dt = 1e-3
    t = np.arange(800) * dt
    w = (1 - 2 * (np.pi * 4.0 * (t - 0.3)) ** 2) * np.exp(-(np.pi * 4.0 * (t - 0.3)) ** 2)
    band = bandgrid.choose(vp, w, dt, 1500.0, 3000.0)
    assert len(band.shape) == 3 and all(nc < n for nc, n in zip(band.shape, vp.shape)), band

def test_choose_obeys_dispersion_and_cfl(rng):
    vp = _model(rng)
    dt = inversion.choose_dt(vp, BOUNDS[1], 8, 0.8)
    nt = 1500
    w = np.asarray(fwi.ricker(5.0, dt, nt))
    grid = bandgrid.choose(vp, w, dt, *BOUNDS, space_order=8, cfl_safety=0.8)
    f_use = max_frequency(w, dt)
    assert grid.shape[0] < vp.shape[0] and grid.shape[1] < vp.shape[1]
    assert grid.time_factor > 1
    for h in grid.spacing:    # coarse, but within the engine's dispersion rule ...
        assert BOUNDS[0] / (f_use * h) >= MIN_POINTS_PER_WAVELENGTH[8] - 1e-9
    # ... and as coarse as it allows: one point fewer along x would break it
    hx_next = (vp.sizes["x"] - 1) * 10.0 / (grid.shape[1] - 2)
    assert BOUNDS[0] / (f_use * hx_next) < MIN_POINTS_PER_WAVELENGTH[8]
    assert grid.time_factor * dt <= max_stable_dt(BOUNDS[1], grid.spacing, 8)
    # a band at the grid's own resolution keeps the model grid and dt
    hi = bandgrid.choose(vp, np.asarray(fwi.ricker(60.0, dt, nt)), dt, *BOUNDS)
    assert hi.shape == vp.shape and hi.time_factor == 1


def test_band_runs_without_dispersion_warning(rng):
    vp0, acq, sim, _, (d_band, w_band) = _band(rng, 4.0, "float32", n_shots=1)
    grid = bandgrid.BandGrid.from_attrs(w_band.attrs)
    assert grid.shape[1] < vp0.shape[1] and grid.time_factor > 1
    assert d_band.sizes["time"] == w_band.sizes["time"]
    assert float(w_band.time[1] - w_band.time[0]) == pytest.approx(w_band.attrs["dt"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", fwi.DispersionWarning)
        inversion.shot_gradients(vp0, acq, w_band, d_band, [0], sim, vmax=BOUNDS[1])


def test_band_gradient_taylor(rng):
    """J_band(vp) = J_coarse(R vp) with gradient R^T g: second-order remainder."""
    vp0, acq, sim, _, (d, w) = _band(rng, 5.0)
    ds = inversion.shot_gradients(vp0, acq, w, d, [0, 1], sim, vmax=BOUNDS[1])
    J0, g = float(ds["misfit"].sum()), ds["gradient"].values
    assert g.shape == vp0.shape
    dv = gaussian_filter(rng.standard_normal(vp0.shape), 3)
    dv *= 30.0 / np.abs(dv).max()
    slope = float(np.sum(g * dv))
    rem = []
    for h in [1.0, 0.5, 0.25, 0.125, 0.0625]:
        Jh = float(inversion.shot_gradients(vp0 + h * dv, acq, w, d, [0, 1], sim, vmax=BOUNDS[1])["misfit"].sum())
        rem.append(abs(Jh - J0 - h * slope))
    ratios = np.array(rem[:-1]) / np.array(rem[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), ratios


def test_band_gradient_matches_model_grid(rng):
    """A 5x coarser band grid (12 x 22 points here) changes what drives the
    update little: the preconditioned gradient as the inversion builds it
    correlates with the model-grid one, and the misfit agrees, once the
    traces within a band-grid cell of their source are left out of both."""
    vp0, acq, sim, (d_f, w_f), (d_c, w_c) = _band(rng, 4.0, "float32")
    grid = bandgrid.BandGrid.from_attrs(w_c.attrs)
    assert grid.shape[0] * 4 < vp0.shape[0] and grid.time_factor >= 4
    # the band grid mutes offsets under one cell by itself ...
    assert inversion.band_conditioning(None, grid)["offsets"]["min"] == max(grid.spacing)
    cond = inversion.band_conditioning(None, grid)  # ... the model grid gets the same mute here
    gf = inversion.shot_gradients(vp0, acq, w_f, d_f, [0, 1], sim, vmax=BOUNDS[1], conditioning=cond)
    gc = inversion.shot_gradients(vp0, acq, w_c, d_c, [0, 1], sim, vmax=BOUNDS[1])
    assert float(gc["misfit"].sum()) == pytest.approx(float(gf["misfit"].sum()), rel=0.01)
    pc = {**inversion.DEFAULTS["precondition"], "mask_radius": 40.0, "mask_taper": 40.0}
    pf = inversion.combine_gradients(vp0, [gf], acq, {"fmax": 4.0}, pc)["pgradient"].values
    pb = inversion.combine_gradients(vp0, [gc], acq, {"fmax": 4.0}, pc)["pgradient"].values
    corr = np.corrcoef(pf.ravel(), pb.ravel())[0, 1]
    assert corr > 0.97, corr


def test_bad_input():
    vp = fwi.as_model(np.full((20, 30), 2000.0), 10.0)
    w = np.asarray(fwi.ricker(5.0, 1e-3, 500))
    with pytest.raises(ValueError, match="vmin"):
        bandgrid.choose(vp, w, 1e-3, 3000.0, 2000.0)
    with pytest.raises(ValueError, match="no energy"):
        bandgrid.choose(vp, np.zeros(500), 1e-3, 1500.0, 3000.0)
    with pytest.raises(ValueError, match="factor"):
        bandgrid.decimate(fwi.forward(vp, fwi.Acquisition(np.array([[50.0, 50.0]]), np.array([[50.0, 100.0]])),
                                      w[:50], 1e-3, 50), 0)
    with pytest.raises(ValueError, match="shape"):
        bandgrid.refine_gradient(np.zeros((3, 3)), vp, bandgrid.BandGrid((8, 10), (27.1, 32.2), 1))
    with pytest.raises(ValueError, match="bounds"):
        inversion.prepare_band(fwi.forward(vp, fwi.Acquisition(np.array([[50.0, 50.0]]), np.array([[50.0, 100.0]])),
                                           w[:50], 1e-3, 50), inversion.source_wavelet(5.0, 1e-3, 50),
                               {"fmax": 4.0}, 4, vp, None, None)
