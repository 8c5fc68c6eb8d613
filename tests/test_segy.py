"""SEG-Y in and out (issue 17): geometry from trace headers (scalars, units,
projection onto the model, shot grouping), dead traces, per-shot spreads,
resampling, exports read back by segyio, and a clear error for every bad
input, naming the file, the trace and the shot or the config key."""
import json

import numpy as np
import pytest
import segyio
import xarray as xr

import fwi_core as fwi
from fwi_core import artifacts, geometry
from fwi_core.survey import segy as ss
from fwi_core.traces import segy as ts

ORIGIN, AZIMUTH = (512345.0, 6712345.0), 30.0
FIELD = {"origin": list(ORIGIN), "azimuth": AZIMUTH}


def _model(nz=30, nx=60, h=10.0):
    rng = np.random.default_rng(0)
    return fwi.as_model((2000.0 + 300 * rng.random((nz, nx))).astype(np.float32), h)


def _streamer(vp):
    """Three shots, receivers from -200 to +200 m around each, clipped at the model's edges."""
    src = np.array([[10.0, 100.0], [10.0, 300.0], [10.0, 500.0]])
    x = vp.x.values
    return fwi.Acquisition.per_shot(src, geometry.moving_spread(
        src, {"min_offset": -200.0, "max_offset": 200.0, "spacing": 20.0}, 15.0, (x[0], x[-1])))


def _raw(path, n=6, ns=64, dt_us=4000, hdr=None):
    """A small SEG-Y file of two shots (field records 7 and 8) with the given header overrides."""
    h = {9: np.repeat([7, 8], n // 2), 71: -10, 69: -10, 73: np.repeat([1000, 3000], n // 2) * 10,
         81: (1000 + 100 * np.arange(n)) * 10, 41: -150, 49: 50, 29: 1}
    h.update(hdr or {})
    data = np.random.default_rng(1).standard_normal((n, ns)).astype(np.float32)
    ts.write(path, data, dt_us, h)
    return data


# ----------------------------------------------------------------------------- headers and geometry
def test_scalars_units_and_depths_from_headers(tmp_path):
    """Coordinate scalar -10 divides, +2 multiplies; the elevation scalar
    applies to elevations and source depth; z = datum - elevation (+ source
    depth below the surface)."""
    _raw(tmp_path / "a.sgy")
    t = ts.read_table(tmp_path / "a.sgy")
    np.testing.assert_allclose(t.sx, np.repeat([1000.0, 3000.0], 3))
    np.testing.assert_allclose(t.gx, 1000 + 100 * np.arange(6))
    np.testing.assert_allclose(t.receiver_elevation, -15.0)
    np.testing.assert_allclose(t.source_depth, 5.0)
    assert t.dt == pytest.approx(0.004) and t.ns == 64 and t.t0 == 0.0
    _raw(tmp_path / "b.sgy", hdr={71: 2, 73: np.repeat([500, 1500], 3), 81: 500 + 50 * np.arange(6)})
    np.testing.assert_allclose(ts.read_table(tmp_path / "b.sgy").sx, np.repeat([1000.0, 3000.0], 3))
    g = ts.gathers(t, 2, datum=10.0)
    np.testing.assert_allclose(g.sources[:, 0], 10.0 - 0.0 + 5.0)
    np.testing.assert_allclose(g.receivers[..., 0], 10.0 + 15.0)


def test_feet_from_the_binary_header_are_converted(tmp_path):
    _raw(tmp_path / "a.sgy")
    with segyio.open(tmp_path / "a.sgy", "r+", ignore_geometry=True) as f:
        f.bin.update({segyio.BinField.MeasurementSystem: 2})
    t = ts.read_table(tmp_path / "a.sgy")
    assert t.units == "ft"
    np.testing.assert_allclose(t.sx, np.repeat([1000.0, 3000.0], 3) * 0.3048)
    np.testing.assert_allclose(ts.read_table(tmp_path / "a.sgy", units="m").sx, np.repeat([1000.0, 3000.0], 3))


def test_configurable_byte_positions(tmp_path):
    """Source x in bytes 181-184 (CDP x) and field record in 17-20, by config."""
    _raw(tmp_path / "a.sgy", hdr={73: 0, 181: np.repeat([2000, 4000], 3) * 10, 9: 0, 17: np.repeat([1, 2], 3)})
    t = ts.read_table(tmp_path / "a.sgy", {"source_x": 181, "field_record": 17})
    np.testing.assert_allclose(t.sx, np.repeat([2000.0, 4000.0], 3))
    assert [len(s) for s in ts.group_shots(t)] == [3, 3]


@pytest.mark.parametrize("key", ["field_record", "source_xy", "file"])
def test_shots_grouped_by_key(tmp_path, key):
    for k in range(2):   # one file per field record
        _raw(tmp_path / f"s{k}.sgy", n=4, hdr={9: 7 + k, 73: (1000 + 2000 * k) * 10})
    t = ts.read_table(str(tmp_path / "s*.sgy"))
    assert [list(s) for s in ts.group_shots(t, key)] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_inconsistent_source_in_a_shot_names_file_trace_and_shot(tmp_path):
    sx = np.repeat([1000, 3000], 3) * 10
    sx[2] = 1200 * 10                     # trace 3 of field record 7 has another source x
    _raw(tmp_path / "a.sgy", hdr={73: sx})
    with pytest.raises(ts.SegyError) as e:
        ts.group_shots(ts.read_table(tmp_path / "a.sgy"))
    msg = str(e.value)
    assert "field record 7" in msg and "a.sgy trace 3" in msg and "source x" in msg and "shot_key" in msg


def test_projection_onto_a_rotated_line_and_back():
    x = np.array([0.0, 100.0, 2500.0])
    e, n = geometry.model_to_field(x, 0.0, ORIGIN, AZIMUTH)
    np.testing.assert_allclose(np.hypot(e - ORIGIN[0], n - ORIGIN[1]), x)
    along, across = geometry.field_to_model(e, n, ORIGIN, AZIMUTH)
    np.testing.assert_allclose(along, x, atol=1e-9)
    np.testing.assert_allclose(across, 0.0, atol=1e-9)
    assert geometry.field_to_model(ORIGIN[0] + 1.0, ORIGIN[1], azimuth=90.0, origin=ORIGIN)[0] == pytest.approx(1.0)


def test_per_shot_spreads_round_trip_through_segy(tmp_path):
    """Streamer geometry (each shot its own receivers and count), scaled and
    rotated coordinates (UTM-like origin, azimuth 30): the acquisition read
    back from the headers is the one written to 1 cm (the -100 scalar), and
    the data come back bitwise on the same time axis."""
    vp = _model()
    acq = _streamer(vp)
    assert acq.masked and list(acq.mask.sum(axis=1)) == [16, 21, 15]
    dt, nt = 0.002, 200
    d = fwi.forward(vp, acq, fwi.ricker(15.0, dt, nt), dt, nt)
    assert np.all(d.values[~acq.mask] == 0.0)          # a masked receiver records nothing
    ss.write_gathers(d, tmp_path / "shots", acq=acq, **FIELD)
    g = ts.read_geometry(str(tmp_path / "shots" / "shot_*.sgy"), 2, FIELD)
    back = fwi.Acquisition.from_segy(g, vp)
    np.testing.assert_array_equal(back.mask, acq.mask)
    np.testing.assert_allclose(back.sources, acq.sources, atol=0.01)
    np.testing.assert_allclose(back.receivers[acq.mask], acq.receivers[acq.mask], atol=0.01)
    obs = ss.observed(g, d.time.values)
    assert not obs["data"].attrs["resampled"]
    np.testing.assert_array_equal(obs["data"].values, d.values)
    np.testing.assert_array_equal(artifacts.trace_mask(obs["data"]), acq.mask)
    assert (obs["segy_headers"].sel(segy_byte=71).values[acq.mask] == -100).all()


def test_dead_traces_by_trace_id_are_masked_and_zeroed(tmp_path):
    data = _raw(tmp_path / "a.sgy", hdr={29: [1, 1, 2, 1, 3, 1]})
    g = ts.read_geometry(tmp_path / "a.sgy", 2)
    np.testing.assert_array_equal(g.live, [[True, True, False], [True, False, True]])
    t = 0.004 * np.arange(64)
    obs = ss.observed(g, t)["data"]
    np.testing.assert_array_equal(artifacts.trace_mask(obs), g.live)
    assert obs.attrs["n_flagged_dead"] == 2
    np.testing.assert_array_equal(obs.values[0, 2], 0.0)             # junk samples of a dead trace dropped
    np.testing.assert_array_equal(obs.values[0, 0], data[0])


def test_segy_data_resampled_onto_the_modelling_axis(tmp_path):
    """4 ms SEG-Y onto a 1.7 ms modelling axis: band-limited resampling, 1e-4 of the peak."""
    t_in = 0.004 * np.arange(250)
    a = (np.pi * 12.0 * (t_in - 0.4)) ** 2
    w = (1 - 2 * a) * np.exp(-a)
    ts.write(tmp_path / "a.sgy", np.tile(w, (2, 1)), 4000, {9: 1, 73: 100, 81: [200, 300]})
    time = 0.0017 * np.arange(580)
    obs = ss.observed(ts.read_geometry(tmp_path / "a.sgy", 2), time)["data"]
    assert obs.attrs["resampled"] and obs.attrs["source_dt"] == pytest.approx(0.004)
    b = (np.pi * 12.0 * (time - 0.4)) ** 2
    np.testing.assert_allclose(obs.values[0, 0], (1 - 2 * b) * np.exp(-b), atol=1e-4)


# ----------------------------------------------------------------------------- positions outside the model
@pytest.mark.parametrize("hdr, what", [({41: 50}, "above the model top"),                      # receiver 5 m up
                                       ({81: (1000 + 100 * np.arange(6)) * 10 + 60000}, "absorbing layer"),
                                       ({49: 100000}, "below the model bottom")])
def test_positions_outside_the_model_name_trace_and_shot(tmp_path, hdr, what):
    _raw(tmp_path / "a.sgy", hdr=hdr)
    g = ts.read_geometry(tmp_path / "a.sgy", 2, {"origin": [900.0, 0.0]})
    errs = ts.geometry_errors(g, [0.0, 0.0], [300.0, 3000.0])
    assert errs and any(what in e for e in errs), errs
    assert all("observed.segy" in e for e in errs)
    assert any("a.sgy trace" in e and "field record" in e and "shot" in e for e in errs), errs


def test_traces_off_a_2d_line_are_refused_with_max_offline(tmp_path):
    _raw(tmp_path / "a.sgy", hdr={85: [0, 0, 0, 0, 0, 5000]})          # 500 m north of an east-west line
    g = ts.read_geometry(tmp_path / "a.sgy", 2)
    assert not ts.geometry_errors(g, [0.0, 0.0], [300.0, 5000.0])
    errs = ts.geometry_errors(g, [0.0, 0.0], [300.0, 5000.0], max_offline=50.0)
    assert len(errs) == 1 and "a.sgy trace 6" in errs[0] and "500.0 m off the line" in errs[0]


# ----------------------------------------------------------------------------- bad files
def test_missing_and_unmatched_files_are_named(tmp_path):
    with pytest.raises(ts.SegyError, match=r"observed\.path: .*nope\.sgy not found"):
        ts.read_table(tmp_path / "nope.sgy")
    with pytest.raises(ts.SegyError, match=r"observed\.path: no file matches .*\*\.sgy"):
        ts.read_table(str(tmp_path / "*.sgy"))


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "bad.sgy").write_bytes(b"not a seg-y file" * 10)
    with pytest.raises(ts.SegyError, match=r"observed\.path: cannot read .*bad\.sgy as SEG-Y"):
        ts.read_table(tmp_path / "bad.sgy")


def test_files_with_different_time_axes_are_refused(tmp_path):
    _raw(tmp_path / "a.sgy")
    _raw(tmp_path / "b.sgy", dt_us=2000)
    with pytest.raises(ts.SegyError, match=r"b\.sgy has sample interval 2000 us.*a\.sgy has 4000 us.*inconsistent"):
        ts.read_table([str(tmp_path / "a.sgy"), str(tmp_path / "b.sgy")])


def test_trace_header_disagreeing_with_the_file_is_refused(tmp_path):
    _raw(tmp_path / "a.sgy")
    with segyio.open(tmp_path / "a.sgy", "r+", ignore_geometry=True) as f:
        f.header[4] = {segyio.TraceField.TRACE_SAMPLE_INTERVAL: 2000}
    with pytest.raises(ts.SegyError, match=r"a\.sgy trace 5: sample interval .* is 2000, the file's is 4000"):
        ts.read_table(tmp_path / "a.sgy")


def test_bad_byte_position_and_angular_units_name_the_key(tmp_path):
    _raw(tmp_path / "a.sgy")
    with pytest.raises(ts.SegyError, match=r"observed\.segy\.headers\.source_x: byte 75 is not where"):
        ts.read_table(tmp_path / "a.sgy", {"source_x": 75})
    _raw(tmp_path / "b.sgy", hdr={89: 3})
    with pytest.raises(ts.SegyError, match=r"b\.sgy trace 1: coordinate units .* code 3"):
        ts.read_table(tmp_path / "b.sgy")


# ----------------------------------------------------------------------------- exports
def test_2d_model_to_segy_and_back(tmp_path):
    """One trace per x with CDP numbers and CDP x/y in field coordinates,
    depth sampling in the headers: segyio reads the same values back."""
    vp = _model()
    ss.write_model(vp, tmp_path / "m.sgy", ORIGIN, AZIMUTH)
    with segyio.open(tmp_path / "m.sgy", ignore_geometry=True) as f:
        assert f.tracecount == vp.sizes["x"]
        np.testing.assert_allclose(f.samples, vp.z.values)                # metres
        np.testing.assert_array_equal(f.attributes(segyio.TraceField.CDP)[:], np.arange(1, 61))
        np.testing.assert_array_equal(f.trace.raw[:], vp.values.T)
        e, n = geometry.model_to_field(vp.x.values, 0.0, ORIGIN, AZIMUTH)
        np.testing.assert_allclose(f.attributes(181)[:] / 100.0, e, atol=0.006)
        np.testing.assert_allclose(f.attributes(185)[:] / 100.0, n, atol=0.006)
    back = ss.read_model(tmp_path / "m.sgy", ORIGIN, AZIMUTH)
    np.testing.assert_array_equal(back.values, vp.values)
    np.testing.assert_allclose(back.x.values, vp.x.values, atol=0.01)


def test_3d_model_inline_crossline_round_trip(tmp_path):
    vp = fwi.as_model(np.random.default_rng(2).random((9, 4, 5)).astype(np.float32) + 1.5, (10.0, 20.0, 25.0))
    ss.write_model(vp, tmp_path / "m.sgy")
    with segyio.open(tmp_path / "m.sgy", iline=189, xline=193) as f:
        np.testing.assert_array_equal(f.ilines, [1, 2, 3, 4])
        np.testing.assert_array_equal(f.xlines, [1, 2, 3, 4, 5])
        np.testing.assert_array_equal(segyio.tools.cube(f), np.moveaxis(vp.values, 0, -1))
    back = ss.read_model(tmp_path / "m.sgy")
    np.testing.assert_array_equal(back.values, vp.values)
    np.testing.assert_allclose(back.y.values, vp.y.values, atol=0.01)


def test_binary_with_sidecar_round_trip(tmp_path):
    vp = _model()
    _, side = ss.write_binary(vp, tmp_path / "m.bin")
    meta = json.loads(open(side).read())
    assert meta["dims"] == ["z", "x"] and meta["shape"] == [30, 60] and meta["spacing"] == {"z": 10.0, "x": 10.0}
    np.testing.assert_array_equal(np.fromfile(tmp_path / "m.bin", "<f4").reshape(30, 60), vp.values)
    xr.testing.assert_allclose(ss.read_binary(tmp_path / "m.bin"), vp.rename("vp"))


def test_model_with_an_unrepresentable_dz_is_refused(tmp_path):
    vp = fwi.as_model(np.ones((10, 10), np.float32), (1.0 / 3.0, 10.0))
    with pytest.raises(ValueError, match="write_binary"):
        ss.write_model(vp, tmp_path / "m.sgy")


def test_data_go_back_out_with_the_headers_they_came_in_with(tmp_path):
    """Observed data read from SEG-Y, then written with their own headers and
    a residual on another time axis: every header but the sample fields is
    unchanged, and the samples read back."""
    _raw(tmp_path / "a.sgy", hdr={29: [1, 1, 2, 1, 1, 1], 13: np.arange(6) + 1, 115: 64, 117: 4000})
    g = ts.read_geometry(tmp_path / "a.sgy", 2)
    obs = ss.observed(g, 0.002 * np.arange(120))
    res = obs["data"] * 0.5
    ss.write_data(res, tmp_path / "r.sgy", headers=obs["segy_headers"])
    before, after = ts.read_table(tmp_path / "a.sgy"), ts.read_table(tmp_path / "r.sgy")
    same = [k for k, b in enumerate(before.raw_bytes) if b not in (1, 5, 115, 117)]
    np.testing.assert_array_equal(after.raw[:, same], before.raw[:, same])
    assert after.dt == pytest.approx(0.002) and after.ns == 120
    with segyio.open(tmp_path / "r.sgy", ignore_geometry=True) as f:
        np.testing.assert_array_equal(f.trace.raw[:], res.values[g.mask])


def test_positions_within_the_headers_precision_of_an_edge_are_put_on_it(tmp_path):
    """Coordinates in decimetres (scalar -10): a receiver one decimetre beyond
    the model's last x is on the edge (Acquisition.from_segy puts it there);
    one 5 m beyond is refused, by name and by the engine."""
    vp = fwi.as_model(np.full((10, 301), 2000.0, np.float32), 10.0)          # x in [0, 3000] m
    gx = (1000 + 100 * np.arange(6)) * 10
    gx[2] = 30001                                                            # 3000.1 m
    _raw(tmp_path / "a.sgy", hdr={81: gx})
    g = ts.read_geometry(tmp_path / "a.sgy", 2)
    assert g.table.resolution == pytest.approx(0.1)
    assert not ts.geometry_errors(g, [0.0, 0.0], [90.0, 3000.0])
    acq = fwi.Acquisition.from_segy(g, vp)
    assert acq.receivers[0, 2, 1] == 3000.0
    acq.check_inside(vp)
    gx[2] = 30050                                                            # 3005 m
    _raw(tmp_path / "b.sgy", hdr={81: gx})
    g = ts.read_geometry(tmp_path / "b.sgy", 2)
    assert any("b.sgy trace 3" in e for e in ts.geometry_errors(g, [0.0, 0.0], [90.0, 3000.0]))
    with pytest.raises(ValueError, match="outside the model"):
        fwi.Acquisition.from_segy(g, vp).check_inside(vp)
