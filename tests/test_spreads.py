"""Shots with receiver sets of their own sizes (issue 17): padded to the
largest count with a mask; a masked trace contributes exactly zero to the
misfit, the adjoint source, the gradient and the diagnostics, whatever junk
the observed data hold there; the config's moving spreads."""
import copy

import numpy as np
import pytest
import xarray as xr

import fwi_core as fwi
from fwi_core import artifacts, geometry, inversion
from fwi_core import config as fc
from fwi_core.survey import acquisitions, models
from fwi_core.traces import misfits

DT, NT = 0.001, 450
KW = dict(space_order=4, pml_width=10, dtype=np.float64)


@pytest.fixture(scope="module")
def setup():
    vp = models.geology((30, 60), 10.0, seed=2)
    src = np.array([[10.0, 120.0], [10.0, 450.0]])
    acq = fwi.Acquisition.per_shot(src, geometry.moving_spread(
        src, [{"first_offset": 30.0, "spacing": 20.0, "count": 12},      # 12 receivers ahead of shot 0
              {"min_offset": -200.0, "max_offset": 400.0, "spacing": 40.0}], 15.0, (0.0, 590.0)))
    w = fwi.ricker(12.0, DT, NT)
    return vp, acq, w


def test_per_shot_padding_and_mask(setup):
    _, acq, _ = setup
    assert list(acq.mask.sum(axis=1)) == [12, 9]               # shot 1's range clipped at x = 590 m
    assert acq.n_receivers == 12 and acq.masked
    np.testing.assert_array_equal(acq.receivers[1, 9:], np.repeat(acq.receivers[1, 8:9], 3, axis=0))
    back = artifacts.acquisition_from_dataset(artifacts.acquisition_to_dataset(acq))
    np.testing.assert_array_equal(back.mask, acq.mask)
    assert "mask" not in artifacts.acquisition_to_dataset(fwi.Acquisition(acq.sources, acq.receivers[:, :3]))
    with pytest.raises(ValueError, match="mask: shot 1 has no live receiver"):
        fwi.Acquisition(acq.sources, acq.receivers, np.array([[True] * 12, [False] * 12]))


def test_masked_receivers_record_nothing_and_the_adjoint_stays_exact(setup):
    """Dot-product test of forward and adjoint with masked slots (float64)."""
    vp, acq, w = setup
    rng = np.random.default_rng(0)
    wav = rng.standard_normal((acq.n_shots, NT))
    d = fwi.forward(vp, acq, wav, DT, NT, freq=10.0, **KW).values
    assert np.all(d[~acq.mask] == 0.0)
    r = rng.standard_normal(d.shape)
    lhs = float(np.sum(d * r))
    rhs = float(np.sum(wav * fwi.adjoint(vp, acq, r, DT, NT, freq=10.0, **KW)))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    # the adjoint ignores what sits in masked slots
    r2 = np.where(acq.mask[..., None], r, 1e3)
    np.testing.assert_array_equal(fwi.adjoint(vp, acq, r2, DT, NT, freq=10.0, **KW),
                                  fwi.adjoint(vp, acq, r, DT, NT, freq=10.0, **KW))


def test_gradient_of_padded_shots_equals_shots_with_only_their_receivers(setup):
    """Junk (1e3) in the observed data of masked slots changes nothing: J and
    dJ/dvp equal the sum over shots of the gradients with only the live receivers."""
    vp, acq, w = setup
    vp0 = models.smooth(vp, 100.0)
    d = fwi.forward(vp, acq, w, DT, NT, **KW).values
    d = np.where(acq.mask[..., None], d, 1e3)
    J, g = fwi.gradient(vp0, acq, w, d, DT, NT, misfit="l2", **KW)
    J_ref, g_ref = 0.0, 0.0
    for s in range(acq.n_shots):
        live = acq.mask[s]
        one = fwi.Acquisition(acq.sources[s:s + 1], acq.receivers[s:s + 1, live])
        Js, gs = fwi.gradient(vp0, one, w, d[s:s + 1, live], DT, NT, misfit="l2", **KW)
        J_ref, g_ref = J_ref + Js, g_ref + gs.values
    assert J == pytest.approx(J_ref, rel=1e-12)
    np.testing.assert_allclose(g.values, g_ref, rtol=1e-10, atol=1e-12 * np.abs(g_ref).max())


@pytest.mark.parametrize("name", misfits.names())
def test_a_masked_trace_contributes_exactly_zero_to_every_misfit(name):
    rng = np.random.default_rng(3)
    t = np.arange(200) * 0.004
    syn = np.sin(2 * np.pi * 5 * (t[None] - rng.uniform(0, 0.05, (4, 1)))) * np.exp(-((t - 0.4) / 0.2) ** 2)
    obs = np.sin(2 * np.pi * 5 * (t[None] - rng.uniform(0, 0.05, (4, 1)))) * np.exp(-((t - 0.4) / 0.2) ** 2)
    live = np.array([True, False, True, True])
    junk = obs.copy()
    junk[1] = 1e3 * rng.standard_normal(200)            # far larger than anything live: would set max|obs|
    fn = misfits.masked(name, live)
    J, adj = fn(syn, junk, 0.004)
    J_ref, adj_ref = misfits.get(name)(syn[live], obs[live], 0.004)
    assert J == J_ref
    np.testing.assert_array_equal(adj[live], adj_ref)
    assert np.all(adj[1] == 0.0)
    assert misfits.masked(name, np.ones(4, bool)) is misfits.get(name)


def test_stages_leave_dead_traces_out_of_misfit_gradient_and_diagnostics(setup):
    """A trace marked dead in the observed data's trace mask: the shot-group
    gradient, misfit, trial misfits and cycle-skip counts do not see it."""
    vp, acq, w = setup
    vp0 = models.smooth(vp, 100.0)
    d = fwi.forward(vp, acq, w, DT, NT, **KW)
    mask = acq.mask.copy()
    mask[0, 3] = False                                  # a dead trace in shot 0
    band = {"fmax": 15.0, "iterations": 1}
    wv = xr.DataArray(w, dims=("time",), coords={"time": DT * np.arange(NT)})
    d_b, w_b = inversion.prepare_band(d, wv, band, sim={"band_grids": False})
    sim = {"space_order": 4, "pml_width": 10, "dtype": "float64"}

    def run(d_obs):
        grad = inversion.shot_gradients(vp0, acq, w_b, d_obs, [0, 1], sim, "l2", vmax=4000.0)
        state = xr.Dataset({"direction": (vp0.dims, grad["gradient"].values), "mask": (vp0.dims, np.ones(vp0.shape))},
                           attrs={"alphas": [-1e-3 / np.abs(grad["gradient"].values).max()]})
        trial = inversion.shot_trials(vp0, state, acq, w_b, d_obs, [0, 1], [1000.0, 6000.0], sim, "l2")
        return grad, trial

    clean = artifacts.with_trace_mask(d_b, mask)
    junk = clean.copy(data=np.where(mask[..., None], clean.values, 5.0).astype(clean.dtype))
    (g1, t1), (g2, t2) = run(clean), run(junk)
    np.testing.assert_array_equal(g1["misfit"].values, g2["misfit"].values)
    np.testing.assert_array_equal(g1["gradient"].values, g2["gradient"].values)
    np.testing.assert_array_equal(t1["misfit"].values, t2["misfit"].values)
    assert g1.attrs["n_live"] == int(mask.sum()) and not g1["live"].values[0, 3]
    # and the dead trace's misfit is really gone: the all-live run differs
    g3, _ = run(d_b)
    assert g3["misfit"].values[0] > g1["misfit"].values[0]


# ----------------------------------------------------------------------------- config
def _cfg(**acq):
    c = fc.load_yaml(fc.resolve_path("config/config.yaml", fc.SCHEMA_PATH.parent.parent.parent))
    c["acquisition"] = {"source_depth": 20.0, "receiver_depth": 20.0, **acq}
    return c


def _errors(c) -> str:
    with pytest.raises(fc.ConfigError) as e:
        fc.validate(c, base_dir=fc.SCHEMA_PATH.parent.parent.parent)
    return str(e.value)


def test_config_spreads_build_per_shot_receivers():
    root = fc.SCHEMA_PATH.parent.parent.parent
    c = fc.validate(_cfg(n_shots=4, spread={"min_offset": -1000.0, "max_offset": 1000.0, "spacing": 50.0}), root)
    assert fc.survey_counts(c, root) == (4, 41)
    vp = models.geology((60, 160), 20.0, seed=3)
    acq = acquisitions.from_config(c["acquisition"], vp)
    np.testing.assert_array_equal(acq.mask.sum(axis=1), [21, 41, 41, 21])   # clipped at the model's edges
    live = acq.receivers[acq.mask]
    assert live[:, 1].min() == 0.0 and live[:, 1].max() == 3180.0 and np.all(live[:, 0] == 20.0)
    c = fc.validate(_cfg(sources=[[10.0, 100.0], [10.0, 3000.0]],
                         spread=[{"first_offset": 50.0, "spacing": 25.0, "count": 10},
                                 {"first_offset": -50.0, "spacing": -25.0, "count": 6}]), root)
    acq = acquisitions.from_config(c["acquisition"], vp)
    assert list(acq.mask.sum(axis=1)) == [10, 6] and acq.receivers[1, 5, 1] == 3000.0 - 50.0 - 5 * 25.0


@pytest.mark.parametrize("acq, msg", [
    ({"n_shots": 4, "n_receivers": 10, "spread": {"first_offset": 0.0, "spacing": 10.0, "count": 3}},
     "key 'acquisition': give either"),
    ({"n_shots": 4, "spread": {"first_offset": 0.0, "spacing": 10.0}}, r"key 'acquisition\.spread': give"),
    ({"n_shots": 4, "spread": [{"first_offset": 0.0, "spacing": 10.0, "count": 3}] * 3},
     "3 spreads for 4 shots"),
    ({"n_shots": 4, "spread": {"first_offset": 100.0, "spacing": 10.0, "count": 5}},
     r"key 'acquisition\.spread': receiver 0 of shot 3 at x = 3280 m .*outside the model's x range \[0, 3180\]"),
    ({"n_shots": 2, "spread": {"min_offset": 5000.0, "max_offset": 6000.0, "spacing": 10.0}},
     "has no receiver inside"),
])
def test_bad_spreads_are_refused_by_key(acq, msg):
    import re

    assert re.search(msg, _errors(_cfg(**acq)))
