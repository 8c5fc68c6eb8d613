"""Model generator, loaders and initial models."""
import numpy as np
import pytest
import xarray as xr

from fwi_core import artifacts
from fwi_core.survey import models


def test_geology_features_and_determinism():
    a = models.geology((60, 160), 20.0, seed=3)
    b = models.geology((60, 160), 20.0, seed=3)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.dims == ("z", "x") and a.name == "vp" and a.dtype == np.float32
    assert float(a.z[1]) == 20.0
    v = a.values
    nw = models.water_rows(a)
    assert nw >= 2 and np.all(v[:nw] == 1500.0)
    assert v.max() >= 4200  # high-velocity body
    below = v[nw + 1:]
    assert len(np.unique(np.round(below))) > 20  # many layers / gradient
    # the low-velocity lens: a velocity inversion with depth somewhere
    assert np.any(np.diff(v[nw:], axis=0) < -200)
    c = models.geology((60, 160), 20.0, seed=4)
    assert not np.array_equal(a.values, c.values)


def test_load_npy_and_zarr(tmp_path):
    arr = np.linspace(1500, 3000, 12 * 7, dtype=np.float32).reshape(12, 7)
    np.save(tmp_path / "m.npy", arr)
    vp = models.load(tmp_path / "m.npy", spacing=[10.0, 12.5])
    assert vp.shape == (12, 7) and float(vp.x[1]) == 12.5
    artifacts.write(vp, tmp_path / "m.zarr")
    back = models.load(str(tmp_path / "m.zarr"))
    np.testing.assert_array_equal(back.values, arr)
    with pytest.raises(ValueError, match="spacing"):
        models.load(tmp_path / "m.npy")


def test_initial_models():
    vp = models.geology((60, 160), 20.0, seed=3)
    v0 = models.smooth(vp, 300.0)
    nw = models.water_rows(vp)
    np.testing.assert_array_equal(v0.values[:nw], vp.values[:nw])
    assert 0.03 < models.relative_error(v0, vp) < 0.3
    t = models.trend(vp, v0=1800.0, gradient=0.7)
    assert np.all(np.diff(t.values[nw:, 0]) >= 0)
    assert models.model_error_reduction(vp, v0, vp) == 1.0
    m = models.from_source({"from_true": {"smooth": 200.0}}, true_model=vp)
    assert m.shape == vp.shape
