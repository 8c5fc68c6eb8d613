"""Artifacts: damaged stores refused by name, stale temporary stores removed,
observed data checked before they are inverted (issues 14.2, 14.3, 20)."""
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from fwi_core import artifacts


def _chunks(store: Path, var: str) -> list[Path]:
    return sorted(p for p in (store / var / "c").rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path):
    """A store whose variable spans several chunks."""
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"v": (("a", "b"), rng.random((300, 400), dtype=np.float32))},
                    coords={"a": np.arange(300.0), "b": np.arange(400.0)})
    p = tmp_path / "x.zarr"
    artifacts.write(ds, p)
    assert len(_chunks(p, "v")) > 1
    return p, ds


def test_intact_store_reads_back_exactly(store):
    p, ds = store
    np.testing.assert_array_equal(artifacts.read(p, "v").values, ds["v"].values)


def test_missing_chunk_is_refused_by_name(store):
    p, _ = store
    _chunks(p, "v")[-1].unlink()
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: variable 'v' does not match"):
        artifacts.read(p, "v")


def test_truncated_chunk_is_refused_by_name(store):
    p, _ = store
    c = _chunks(p, "v")[0]
    c.write_bytes(c.read_bytes()[: c.stat().st_size // 2])
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: cannot be read"):
        artifacts.open_dataset(p)


def test_altered_chunk_is_detected(store):
    p, _ = store
    import zarr

    arr = zarr.open_array(str(p / "v"), mode="r+")
    arr[5, 7] = arr[5, 7] + 1.0          # a valid chunk with one changed value
    with pytest.raises(artifacts.DamagedArtifactError, match="'v'"):
        artifacts.open_dataset(p)


def test_store_without_manifest_is_read(tmp_path):
    ds = xr.Dataset({"v": (("a",), np.arange(5.0))})
    ds.to_zarr(tmp_path / "user.zarr", consolidated=False, zarr_format=3)
    np.testing.assert_array_equal(artifacts.read(tmp_path / "user.zarr").values, np.arange(5.0))


def test_stale_temporary_stores_are_removed(tmp_path):
    for name in (".x.zarr.tmp-abcd1234", ".x.zarr.old-abcd1234", "sub/.y.zarr.tmp-00000000"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "zarr.json").write_text("{}")
    artifacts.write(xr.DataArray(np.zeros(3), dims="a", name="v"), tmp_path / "x.zarr")
    assert sorted(os.listdir(tmp_path)) == ["sub", "x.zarr"]
    assert artifacts.remove_stale(tmp_path) == [str(tmp_path / "sub" / ".y.zarr.tmp-00000000")]
    assert os.listdir(tmp_path / "sub") == []


# ----------------------------------------------------------------------------- observed data
DT = 0.002
TIME = DT * np.arange(1001)          # the modelling window: 0-2 s


def _observed(tmp_path, time=TIME, shape=(3, 5), data=None, coord=True):
    rng = np.random.default_rng(1)
    d = rng.standard_normal(shape + (len(time),)).astype(np.float32) if data is None else data
    da = xr.DataArray(d, dims=("shot", "receiver", "time"), name="data")
    if coord:
        da = da.assign_coords(time=time)
    p = tmp_path / "obs.zarr"
    artifacts.write(da, p)
    return p, d


def test_observed_on_the_modelling_axis_is_returned_as_is(tmp_path):
    p, d = _observed(tmp_path)
    got = artifacts.load_observed(p, TIME, 3, n_receivers=5)
    np.testing.assert_array_equal(got.values, d)
    assert got.attrs["n_dead_traces"] == 0


def test_finer_observed_data_are_interpolated(tmp_path):
    t = 0.001 * np.arange(2001)
    p, d = _observed(tmp_path, time=t)
    got = artifacts.load_observed(p, TIME, 3, n_receivers=5)
    np.testing.assert_allclose(got.values[1, 2], np.interp(TIME, t, d[1, 2]), rtol=1e-6)


def test_time_axis_in_milliseconds_is_refused(tmp_path):
    p, _ = _observed(tmp_path, time=1000 * TIME)
    with pytest.raises(ValueError, match="milliseconds") as e:
        artifacts.load_observed(p, TIME, 3, n_receivers=5)
    assert "observed.path" in str(e.value) and "obs.zarr" in str(e.value)


def test_missing_time_coordinate_is_refused(tmp_path):
    p, _ = _observed(tmp_path, coord=False)
    with pytest.raises(ValueError, match="no 'time' coordinate"):
        artifacts.load_observed(p, TIME, 3, n_receivers=5)


def test_short_record_is_refused(tmp_path):
    p, _ = _observed(tmp_path, time=TIME[:600])
    with pytest.raises(ValueError, match="modelling window"):
        artifacts.load_observed(p, TIME, 3, n_receivers=5)


def test_coarse_sampling_is_refused(tmp_path):
    p, _ = _observed(tmp_path, time=0.01 * np.arange(201))
    with pytest.raises(ValueError, match="too coarse"):
        artifacts.load_observed(p, TIME, 3, n_receivers=5)


def test_receiver_and_shot_counts_are_checked(tmp_path):
    p, _ = _observed(tmp_path)
    with pytest.raises(ValueError, match="5 receivers in the data, the acquisition has 6"):
        artifacts.load_observed(p, TIME, 3, n_receivers=6)
    with pytest.raises(ValueError, match="3 shots in the data, the acquisition has 4"):
        artifacts.load_observed(p, TIME, 4, n_receivers=5)


def test_nan_all_zero_and_mostly_dead_data_are_refused(tmp_path):
    d = np.ones((3, 5, len(TIME)), np.float32)
    d[0, 0, 10] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        artifacts.load_observed(_observed(tmp_path, data=d)[0], TIME, 3, n_receivers=5)
    with pytest.raises(ValueError, match="every trace is zero"):
        artifacts.load_observed(_observed(tmp_path, data=np.zeros_like(d))[0], TIME, 3, n_receivers=5)
    d = np.ones_like(d)
    d[:2] = 0.0                                   # 10 of 15 traces dead
    with pytest.raises(ValueError, match="10 of 15 traces are dead"):
        artifacts.load_observed(_observed(tmp_path, data=d)[0], TIME, 3, n_receivers=5)
    d = np.ones_like(d)
    d[0, :2] = 0.0                                # 2 dead: kept and counted
    assert artifacts.load_observed(_observed(tmp_path, data=d)[0], TIME, 3, n_receivers=5).attrs["n_dead_traces"] == 2
