"""Artifacts: damaged stores refused by name, stale temporary stores removed,
observed data checked before they are inverted (issues 14.2, 14.3, 20)."""
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import fwi_core as fwi
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
    assert set(artifacts.open_dataset(p).attrs[artifacts.MANIFEST_ATTR]) == {"v", "a", "b"}


def test_missing_chunk_is_refused_by_name(store):
    p, _ = store
    _chunks(p, "v")[-1].unlink()          # zarr reads it as the fill value, NaN
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: variable 'v' does not match") as e:
        artifacts.read(p, "v")
    assert str(p) in str(e.value) and "rerun" in str(e.value)
    assert artifacts.open_dataset(p, load=False)["v"].shape == (300, 400)  # lazily: nothing checked


def test_truncated_chunk_is_refused_by_name(store):
    p, _ = store
    c = _chunks(p, "v")[0]
    c.write_bytes(c.read_bytes()[: c.stat().st_size // 2])
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: variable 'v' cannot be read") as e:
        artifacts.open_dataset(p)
    assert str(p) in str(e.value)


def test_truncated_index_coordinate_chunk_is_refused_by_name(store):
    p, _ = store
    c = _chunks(p, "a")[0]                # read when the store is opened, not when loaded
    c.write_bytes(c.read_bytes()[: c.stat().st_size // 2])
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: variable 'a' cannot be read"):
        artifacts.open_dataset(p)


@pytest.mark.parametrize("where", [0.5, 0.9])
def test_flipped_byte_in_a_chunk_is_detected(store, where):
    p, _ = store
    c = _chunks(p, "v")[1]
    raw = bytearray(c.read_bytes())
    raw[int(where * len(raw))] ^= 0x10
    c.write_bytes(bytes(raw))
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: variable 'v'"):
        artifacts.open_dataset(p)


def test_altered_chunk_is_detected(store):
    p, _ = store
    import zarr

    arr = zarr.open_array(str(p / "v"), mode="r+")
    arr[5, 7] = arr[5, 7] + 1.0          # a valid chunk with one changed value
    with pytest.raises(artifacts.DamagedArtifactError, match="'v' does not match"):
        artifacts.open_dataset(p)


def test_missing_metadata_is_refused_by_name(store):
    p, _ = store
    (p / "zarr.json").unlink()
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: .*zarr\.json is missing"):
        artifacts.read(p, "v")


@pytest.mark.filterwarnings("ignore:Object at b is not recognized")
def test_missing_variable_is_refused_by_name(store):
    p, _ = store
    (p / "b" / "zarr.json").unlink()
    with pytest.raises(artifacts.DamagedArtifactError, match=r"x\.zarr: variable 'b' is missing"):
        artifacts.open_dataset(p)


def test_rewritten_artifact_gets_a_new_manifest(store):
    p, _ = store
    ds = artifacts.open_dataset(p)        # carries the old manifest in its attrs
    artifacts.write((ds * 2).assign_attrs(ds.attrs), p)
    np.testing.assert_array_equal(artifacts.read(p, "v").values, 2 * ds["v"].values)


def test_store_without_manifest_is_read(tmp_path):
    ds = xr.Dataset({"v": (("a",), np.arange(5.0))})
    ds.to_zarr(tmp_path / "user.zarr", consolidated=False, zarr_format=3)
    np.testing.assert_array_equal(artifacts.read(tmp_path / "user.zarr").values, np.arange(5.0))


def test_store_without_manifest_still_names_the_store_on_a_codec_error(tmp_path):
    ds = xr.Dataset({"v": (("a",), np.random.default_rng(0).random(1000))})
    p = tmp_path / "user.zarr"
    ds.to_zarr(p, consolidated=False, zarr_format=3)
    c = _chunks(p, "v")[0]
    c.write_bytes(c.read_bytes()[:10])
    with pytest.raises(artifacts.DamagedArtifactError, match=r"user\.zarr: variable 'v' cannot be read"):
        artifacts.read(p)


def test_stale_temporary_stores_are_removed(tmp_path):
    for name in (".x.zarr.tmp-abcd1234", ".x.zarr.old-abcd1234", ".y.zarr.tmp-00000000",
                 "sub/.y.zarr.tmp-00000000", "sub/deeper/.z.zarr.old-12345678"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "zarr.json").write_text("{}")
    artifacts.write(xr.DataArray(np.zeros(3), dims="a", name="v"), tmp_path / "x.zarr")
    # the write of x.zarr removed x.zarr's leftovers, and only those
    assert sorted(os.listdir(tmp_path)) == [".y.zarr.tmp-00000000", "sub", "x.zarr"]
    assert artifacts.remove_stale(tmp_path) == sorted(str(tmp_path / n) for n in (
        ".y.zarr.tmp-00000000", "sub/.y.zarr.tmp-00000000", "sub/deeper/.z.zarr.old-12345678"))
    assert sorted(os.listdir(tmp_path)) == ["sub", "x.zarr"]
    assert os.listdir(tmp_path / "sub") == ["deeper"] and os.listdir(tmp_path / "sub" / "deeper") == []
    assert artifacts.read(tmp_path / "x.zarr").shape == (3,)
    assert artifacts.remove_stale(tmp_path) == [] and artifacts.remove_stale(tmp_path / "nothing") == []



def test_replacing_is_all_or_nothing_for_files_and_directories(tmp_path):
    """A block that fails leaves the path as it was (absent or the old
    version) and no temporary; one that ends renames its result into place."""
    png = tmp_path / "fig" / "a.png"
    with pytest.raises(RuntimeError):
        with artifacts.replacing(png) as tmp:
            assert tmp.suffix == ".png" and tmp.parent == png.parent   # writers that go by the extension
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert os.listdir(png.parent) == []
    for text in ("one", "two"):
        with artifacts.replacing(png) as tmp:
            tmp.write_text(text)
        assert png.read_text() == text and os.listdir(png.parent) == ["a.png"]
    job = tmp_path / "bands0-1"
    with artifacts.replacing(job) as tmp:
        artifacts.write(xr.DataArray(np.ones(2), dims="a", name="v"), tmp / "band0" / "iter0" / "model.zarr")
        assert not job.exists()                        # nothing visible before the block ends
    with pytest.raises(RuntimeError):
        with artifacts.replacing(job) as tmp:
            (tmp / "band0").mkdir(parents=True)
            raise RuntimeError("killed")
    assert sorted(os.listdir(tmp_path)) == ["bands0-1", "fig"]
    with artifacts.replacing(job) as tmp:              # a directory replaces a directory
        artifacts.write(xr.DataArray(np.zeros(2), dims="a", name="v"), tmp / "band0" / "iter0" / "model.zarr")
    assert artifacts.read(job / "band0" / "iter0" / "model.zarr").values.tolist() == [0.0, 0.0]
    assert sorted(os.listdir(tmp_path)) == ["bands0-1", "fig"]


def test_stale_temporary_files_are_removed(tmp_path):
    (tmp_path / "report").mkdir()
    for name in ("report/.models.png.tmp-abcd1234.png", "report/.summary.json.old-abcd1234", "report/models.png"):
        (tmp_path / name).write_text("x")
    assert artifacts.remove_stale(tmp_path) == sorted(str(tmp_path / n) for n in (
        "report/.models.png.tmp-abcd1234.png", "report/.summary.json.old-abcd1234"))
    assert os.listdir(tmp_path / "report") == ["models.png"]

# ----------------------------------------------------------------------------- observed data
DT = 0.002
TIME = DT * np.arange(1001)          # the modelling window: 0-2 s


def _observed(tmp_path, time=TIME, shape=(3, 5), data=None, coord=True, dims=("shot", "receiver", "time")):
    """A user's observed store (plain xarray, no manifest)."""
    rng = np.random.default_rng(1)
    d = rng.standard_normal(shape + (len(time),)).astype(np.float32) if data is None else data
    da = xr.DataArray(d, dims=("shot", "receiver", "time"), name="data")
    if coord:
        da = da.assign_coords(time=time)
    p = tmp_path / "obs.zarr"
    da.transpose(*dims).to_dataset().to_zarr(p, mode="w", consolidated=False, zarr_format=3)
    return p, d


def _load(p, n_shots=3, n_receivers=5, time=TIME):
    return artifacts.load_observed(p, time, n_shots, n_receivers=n_receivers)


def test_observed_on_the_modelling_axis_is_returned_as_is(tmp_path):
    p, d = _observed(tmp_path)
    got = _load(p)
    np.testing.assert_array_equal(got.values, d)
    assert got.attrs["n_dead_traces"] == 0 and got.attrs["source_dt"] == pytest.approx(DT)


def test_transposed_observed_data_are_accepted(tmp_path):
    p, d = _observed(tmp_path, dims=("time", "receiver", "shot"))
    np.testing.assert_array_equal(_load(p).values, d)


def _ricker_traces(t, shape=(3, 5), f=12.0):
    """Band-limited traces: Ricker wavelets of ``f`` Hz peaking at different times (s)."""
    peaks = 0.3 + 0.1 * np.arange(np.prod(shape)).reshape(shape)
    a = (np.pi * f * (t - peaks[..., None])) ** 2
    return ((1 - 2 * a) * np.exp(-a)).astype(np.float32)


@pytest.mark.parametrize("t", [0.001 * np.arange(2001),                  # finer
                               0.004 * np.arange(501),                   # coarser, within 4x
                               -0.1 + 0.0015 * np.arange(1500)])         # finer, longer, other grid
def test_observed_data_are_resampled_band_limited(tmp_path, t):
    """Data off the modelling axis are resampled (anti-alias filter, band-limited
    interpolation): band-limited traces come out as the same traces sampled on
    the modelling axis, to 1e-4 of their peak (linear interpolation of the 4 ms
    data was 1.6e-2 off)."""
    p, _ = _observed(tmp_path, time=t, data=_ricker_traces(t))
    got = _load(p)
    assert got.attrs["source_dt"] == pytest.approx(t[1] - t[0]) and got.attrs["resampled"]
    np.testing.assert_allclose(got.values, _ricker_traces(TIME), atol=1e-4)
    np.testing.assert_array_equal(got.time.values, TIME)


def test_resampling_to_a_coarser_axis_does_not_alias(tmp_path):
    """A 400 Hz tone on 0.5 ms data would fold to 100 Hz on the 2 ms axis
    (Nyquist 250 Hz); the anti-alias filter removes it (below 1e-3 of its amplitude)."""
    t = 0.0005 * np.arange(4001)
    d = _ricker_traces(t) + np.sin(2 * np.pi * 400 * t).astype(np.float32)
    got = _load(_observed(tmp_path, time=t, data=d)[0])
    inner = slice(100, -100)   # away from the ends, where the record's edges ring
    np.testing.assert_allclose(got.values[..., inner], _ricker_traces(TIME)[..., inner], atol=1e-3)


def test_time_axis_in_milliseconds_is_refused(tmp_path):
    p, _ = _observed(tmp_path, time=1000 * TIME)
    with pytest.raises(ValueError, match="milliseconds") as e:
        _load(p)
    msg = str(e.value)
    assert "observed.path" in msg and "obs.zarr" in msg and "0.002 s" in msg and "2 s" in msg


def test_missing_time_coordinate_is_refused(tmp_path):
    p, _ = _observed(tmp_path, coord=False)
    with pytest.raises(ValueError, match=r"observed\.path: .*obs\.zarr.*no 'time' coordinate"):
        _load(p)


@pytest.mark.parametrize("t, what", [(TIME[::-1].copy(), "not strictly increasing"),
                                     (np.r_[TIME[:500], TIME[500:] + 0.0005], "irregular"),
                                     (np.r_[TIME[:-1], np.nan], "finite")])
def test_bad_time_coordinate_is_refused(tmp_path, t, what):
    p, _ = _observed(tmp_path, time=t)
    with pytest.raises(ValueError, match=what):
        _load(p)


def test_float32_time_coordinate_is_regular_enough(tmp_path):
    t = (0.002 * np.arange(5001)).astype(np.float32)     # 10 s, rounded to float32
    p, d = _observed(tmp_path, time=t, shape=(1, 2))
    got = artifacts.load_observed(p, 0.002 * np.arange(5001), 1, n_receivers=2)
    np.testing.assert_array_equal(got.values, d)        # the modelling axis, to float32 rounding


def test_timedelta_time_coordinate_is_read_in_seconds(tmp_path):
    p, d = _observed(tmp_path, time=(TIME * 1e9).round().astype("timedelta64[ns]"))
    got = _load(p)
    assert not got.attrs["resampled"]
    np.testing.assert_array_equal(got.values, d)


def test_short_record_is_refused(tmp_path):
    p, _ = _observed(tmp_path, time=TIME[:600])          # ends at 1.198 s, the window at 2 s
    with pytest.raises(ValueError, match=r"modelling window.*ends 0\.802 s early"):
        _load(p)
    p, _ = _observed(tmp_path, time=TIME + 0.1)          # starts at 0.1 s
    with pytest.raises(ValueError, match=r"starts 0\.1 s late"):
        _load(p)


def test_record_within_half_a_sample_of_the_window_is_accepted(tmp_path):
    t = TIME + 0.0009
    p, d = _observed(tmp_path, time=t, data=_ricker_traces(t) + 0.5)
    got = _load(p)
    np.testing.assert_allclose(got.values[..., 1:], _ricker_traces(TIME)[..., 1:] + 0.5, atol=1e-4)
    np.testing.assert_allclose(got.values[..., 0], d[..., 0], rtol=1e-6)   # held, not zero-padded


def test_coarse_sampling_is_refused(tmp_path):
    p, _ = _observed(tmp_path, time=0.01 * np.arange(201))
    with pytest.raises(ValueError, match=r"sample interval 0\.01 s is 5 times the modelling dt 0\.002 s.*too coarse"):
        _load(p)


def test_receiver_and_shot_counts_are_checked(tmp_path):
    p, _ = _observed(tmp_path)
    with pytest.raises(ValueError, match="5 receivers in the data, the acquisition has 6.*acquisition"):
        _load(p, n_receivers=6)
    with pytest.raises(ValueError, match="3 shots in the data, the acquisition has 4.*acquisition"):
        _load(p, n_shots=4)


def test_unknown_variable_names_the_key(tmp_path):
    p, _ = _observed(tmp_path)
    with pytest.raises(ValueError, match=r"observed\.variable: 'traces' not in .*obs\.zarr.*data"):
        artifacts.load_observed(p, TIME, 3, "traces", n_receivers=5)


def test_nan_all_zero_and_mostly_dead_data_are_refused(tmp_path):
    d = np.ones((3, 5, len(TIME)), np.float32)
    d[0, 0, 10] = np.nan
    d[2, 1, 3] = np.inf
    with pytest.raises(ValueError, match="2 NaN or inf"):
        _load(_observed(tmp_path, data=d)[0])
    with pytest.raises(ValueError, match="every trace is zero"):
        _load(_observed(tmp_path, data=np.zeros_like(d))[0])
    d = np.ones_like(d)
    d[:2] = 0.0                                   # 10 of 15 traces dead
    with pytest.raises(ValueError, match="10 of 15 traces are dead"):
        _load(_observed(tmp_path, data=d)[0])


def test_a_few_dead_traces_are_masked_and_counted(tmp_path):
    d = np.ones((3, 5, len(TIME)), np.float32)
    d[0, :2] = 0.0                                # 2 dead: kept in the store, masked, counted
    got = _load(_observed(tmp_path, data=d)[0])
    assert got.attrs["n_dead_traces"] == 2
    np.testing.assert_array_equal(got.values, d)
    want = np.ones((3, 5), bool)
    want[0, :2] = False
    np.testing.assert_array_equal(artifacts.trace_mask(got), want)


def test_artifacts_carry_units_and_read_without_warnings(tmp_path):
    """Every variable and coordinate the workflow names has units; a plain
    xr.open_zarr reads a store without warnings, the acquisition included (no
    string coordinate, which has no zarr 3 data type)."""
    import warnings

    vp = fwi.as_model(np.full((10, 12), 2000.0, np.float32), 10.0)
    acq = fwi.Acquisition.surface(vp, 2, 5, 10.0, 10.0)
    artifacts.write(vp, tmp_path / "m.zarr")
    artifacts.write(artifacts.acquisition_to_dataset(acq), tmp_path / "a.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m, a = (xr.open_zarr(tmp_path / n) for n in ("m.zarr", "a.zarr"))
        assert {k: m[k].attrs.get("units") for k in m.variables} == {"vp": "m/s", "z": "m", "x": "m"}
        assert all(a[k].attrs.get("units") for k in a.variables)
        np.testing.assert_array_equal(artifacts.acquisition_from_dataset(a).receivers, acq.receivers)
