"""3-D outside the engine: the generated geology, areal acquisition, config
validation of 3-D grids and acquisitions, the preconditioner's mask, the
orthogonal sections the report plots."""
import copy

import numpy as np
import pytest

import fwi_core as fwi
import fwi_core.config as fc
from fwi_core.inversion import precondition
from fwi_core.report import plotting
from fwi_core.survey import models

SHAPE, SPACING = (30, 24, 40), (20.0, 25.0, 25.0)


@pytest.fixture(scope="module")
def vp():
    return models.geology(SHAPE, SPACING, seed=2)


def test_geology3d_has_its_features_and_is_deterministic(vp):
    assert vp.dims == ("z", "y", "x") and vp.shape == SHAPE and vp.dtype == np.float32
    np.testing.assert_array_equal(vp.values, models.geology(SHAPE, SPACING, seed=2).values)
    assert not np.array_equal(vp.values, models.geology(SHAPE, SPACING, seed=3).values)
    v = vp.values
    nw = models.water_rows(vp)
    assert nw >= 2 and np.all(v[:nw] == models.WATER_VELOCITY) and np.all(v[nw:] > models.WATER_VELOCITY)
    assert (v == 4300.0).sum() > 0.01 * v.size                   # the salt dome
    z, y, x = (vp[d].values for d in vp.dims)
    zc, ysalt, xsalt = vp.attrs["section_at"]
    assert v[np.abs(z - 0.9 * z[-1]).argmin(), np.abs(y - ysalt).argmin(), np.abs(x - xsalt).argmin()] == 4300.0
    # the layers vary along y (a dome, not a 2-D section extruded) and with depth
    assert np.abs(np.diff(v[nw + 2:], axis=1)).max() > 0 and v[-1].mean() > v[nw + 1].mean() + 500


def test_smooth_trend_and_load_in_3d(vp, tmp_path):
    sm = models.smooth(vp, 100.0)
    nw = models.water_rows(vp)
    assert sm.shape == vp.shape and np.all(sm.values[:nw] == vp.values[:nw])
    assert np.abs(np.diff(sm.values[nw:], axis=2)).max() < np.abs(np.diff(vp.values[nw:], axis=2)).max()
    tr = models.trend(vp, 1800.0, 0.5)
    assert np.all(tr.values == tr.values[:, :1, :1]) and tr.values[-1, 0, 0] > tr.values[nw, 0, 0]
    np.save(tmp_path / "m.npy", vp.values)
    back = models.load(tmp_path / "m.npy", spacing=list(SPACING))
    assert back.dims == vp.dims and models.spacing_of(back) == SPACING
    with pytest.raises(ValueError, match="spacing"):
        models.load(tmp_path / "m.npy", spacing=[20.0, 25.0])


def test_areal_and_line_acquisitions(vp):
    acq = fwi.Acquisition.surface(vp, (2, 3), [4, 5], source_depth=20.0, receiver_depth=10.0, margin=50.0)
    assert acq.sources.shape == (6, 3) and acq.receivers.shape == (6, 20, 3)
    assert np.all(acq.sources[:, 0] == 20.0) and np.all(acq.receivers[..., 0] == 10.0)
    assert sorted(set(acq.sources[:, 1])) == [50.0, float(vp.y[-1]) - 50.0]      # y-major grid within the margin
    assert acq.sources[1, 2] > acq.sources[0, 2] and acq.sources[3, 1] > acq.sources[2, 1]
    line = fwi.Acquisition.surface(vp, 3, 7, 20.0, 20.0)
    assert np.all(line.sources[:, 1] == (float(vp.y[0]) + float(vp.y[-1])) / 2)
    acq.check_inside(vp)
    with pytest.raises(ValueError, match="n_shots: an areal grid"):
        fwi.Acquisition.surface(models.geology((30, 40), 20.0), (2, 2), 4)
    with pytest.raises(ValueError, match="n_receivers must be"):
        fwi.Acquisition.surface(vp, 2, (2, 0))
    # margins for the sources or the receivers alone
    inner = fwi.Acquisition.surface(vp, (2, 2), (3, 3), source_margin=100.0)
    for ax, d in ((1, "y"), (2, "x")):
        assert sorted(set(inner.sources[:, ax])) == [100.0, float(vp[d][-1]) - 100.0]
        assert sorted(set(inner.receivers[0, :, ax]))[::2] == [0.0, float(vp[d][-1])]
    with pytest.raises(ValueError, match="n_receivers: a margin of 9000"):
        fwi.Acquisition.surface(vp, 2, 2, receiver_margin=9000.0)


def _cfg3d():
    return {"true_model": {"generator": "geology", "shape": list(SHAPE), "spacing": list(SPACING), "seed": 2},
            "acquisition": {"n_shots": [2, 2], "n_receivers": [5, 8], "source_depth": 20.0, "receiver_depth": 20.0},
            "wavelet": {"freq": 6.0}, "simulation": {"t_max": 1.0},
            "inversion": {"initial": {"from_true": {"smooth": 200.0}}, "bands": [{"fmax": 4.0, "iterations": 1}]}}


def test_config_takes_3d_grids_and_areal_acquisitions():
    cfg = fc.validate(_cfg3d())
    assert fc.acquisition_counts(cfg["acquisition"]) == (4, 40)
    plan = fc.plan(cfg, cores=2)
    assert plan["n_shots"] == 4 and plan["grid"][0] == SHAPE


@pytest.mark.parametrize("change,msg", [
    (lambda c: c["true_model"].update(spacing=[20.0, 25.0]), "true_model.spacing"),
    (lambda c: c["true_model"].update(shape=[30, 24, 40, 5]), "true_model.shape"),
    (lambda c: (c["true_model"].update(shape=[30, 40], spacing=20.0)), "acquisition.n_shots': an areal grid"),
    (lambda c: c["acquisition"].update(n_shots=[2, 2, 2]), "acquisition.n_shots"),
    (lambda c: (c["acquisition"].clear(), c["acquisition"].update(sources=[[20.0, 100.0]], receivers=[[20.0, 50.0, 60.0]])),
     "acquisition.sources[0]': [20.0, 100.0] has 2 coordinates"),
    (lambda c: (c["acquisition"].clear(), c["acquisition"].update(sources=[[20.0, 100.0, 5000.0]],
                                                                  receivers=[[20.0, 50.0, 60.0]])),
     "[z=20, y=100, x=5000] m is outside the model"),
])
def test_config_refuses_inconsistent_3d_settings_by_key(change, msg):
    cfg = _cfg3d()
    change(cfg)
    with pytest.raises(fc.ConfigError) as err:
        fc.validate(copy.deepcopy(cfg))
    assert msg in str(err.value)


def test_mask_is_zero_in_water_and_near_devices_in_3d(vp):
    acq = fwi.Acquisition.surface(vp, (2, 2), (3, 4), 100.0, 100.0, margin=100.0)
    m = precondition.build_mask(vp, acq.sources, acq.receivers, radius=30.0, taper=30.0)
    assert m.shape == vp.shape and m.min() == 0.0 and m.max() == 1.0
    assert np.all(m[:models.water_rows(vp)] == 0.0)
    z, y, x = (np.abs(vp[d].values - c).argmin() for d, c in zip(vp.dims, acq.receivers[0, 5]))
    assert m[z, y, x] == 0.0 and m[-1, y, x] == 1.0
    p = precondition.build(vp, np.ones(vp.shape), acq.sources, acq.receivers, fmax=5.0)
    assert len(p.sigma) == 3 and np.isfinite(p(np.ones(vp.shape))).all()


def test_report_sections_of_a_3d_model(vp, tmp_path):
    at = dict(zip(vp.dims, vp.attrs["section_at"]))
    secs = plotting.slices(vp, at)
    dims = [s.dims for s in secs.values()]
    assert dims == [("z", "x"), ("z", "y"), ("y", "x")]
    inline = list(secs.values())[0]
    assert float(inline.y) == float(vp.y[np.abs(vp.y.values - at["y"]).argmin()])
    out = plotting.plot_models({"true": vp, "initial": models.smooth(vp, 200.0)}, str(tmp_path / "m.png"), at=at)
    assert (tmp_path / "m.png").stat().st_size > 10_000 and out.endswith("m.png")
