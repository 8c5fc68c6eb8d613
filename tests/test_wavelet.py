"""Source wavelets the inversion is not told (issue 17): Pratt's least-squares
signature with a water level recovers a minimum-phase, non-Ricker wavelet
from data modelled on a heterogeneous model; wavelets read from .npy and
SEG-Y files; the config's checks."""
import numpy as np
import pytest
import xarray as xr

import fwi_core as fwi
from fwi_core import artifacts, inversion
from fwi_core import config as fc
from fwi_core.survey import models
from fwi_core.survey import segy as ss
from fwi_core.traces import segy as ts
from fwi_core.traces.signature import source_signature

DT, NT = 0.001, 900
T = DT * np.arange(NT)
SIM = {"space_order": 8, "pml_width": 20, "dtype": "float64", "band_grids": False}
BAND = {"fmax": 25.0}


def minimum_phase(t0=0.15, f=18.0, decay=60.0):
    """A causal damped sinusoid ramping up as t^2 (minimum phase, not a Ricker), peak 1."""
    tt = np.clip(T - t0, 0.0, None)
    w = tt ** 2 * np.exp(-decay * tt) * np.sin(2 * np.pi * f * tt)
    return w / np.abs(w).max()


def _da(w):
    return xr.DataArray(w, dims=("time",) if w.ndim == 1 else ("shot", "time"), coords={"time": T})


@pytest.fixture(scope="module")
def survey():
    vp = models.geology((40, 100), 10.0, seed=4)
    acq = fwi.Acquisition.surface(vp, 3, 40, 10.0, 10.0)
    return vp, acq


def _band(d, w):
    """The band's data and the band-filtered wavelet."""
    return inversion.prepare_band(d, _da(w), BAND, sim=SIM)


def test_signature_of_a_convolution_is_exact():
    """Analytic: traces = reflectivity * wavelet; with synthetics of a spike the
    estimator returns the wavelet to rounding (water level 1e-12)."""
    rng = np.random.default_rng(0)
    g = np.zeros((2, 5, 300))
    g[..., :100] = rng.standard_normal((2, 5, 100)) * (rng.random((2, 5, 100)) < 0.1)
    w_true = np.r_[minimum_phase(t0=0.01)[:150], np.zeros(150)]     # every convolution fits the record
    ref = np.zeros(300)
    ref[0] = 1.0
    conv = lambda a, b: np.fft.irfft(np.fft.rfft(a, 600) * np.fft.rfft(b, 600), 600)[..., :300]
    w, fit = source_signature(conv(g, ref), conv(g, w_true), ref, water_level=1e-12)
    np.testing.assert_allclose(w, w_true, atol=1e-8)
    assert fit["residual_estimate"] < 1e-8


@pytest.mark.parametrize("smooth, tol", [(0.0, 0.02), (100.0, 0.15)])
def test_minimum_phase_wavelet_recovered_from_a_heterogeneous_model(survey, smooth, tol):
    """Data of a minimum-phase wavelet in a heterogeneous (geology) model;
    estimated in the band (fmax 25 Hz) from the synthetics of a reference
    spike. Measured: 0.8 % relative L2 error in the true model, 8 % in the
    model smoothed over 100 m (water level 1e-4)."""
    vp, acq = survey
    w_true = minimum_phase()
    d = inversion.model_data(vp, acq, _da(w_true), SIM)
    d_b, ref_b = _band(d, inversion.spike_wavelet(DT, NT, 0.06).values)
    _, true_b = _band(d, w_true)
    model = vp if smooth == 0 else models.smooth(vp, smooth)
    est = inversion.estimate_wavelet(model, acq, ref_b, d_b, SIM, 4500.0)
    err = np.linalg.norm(est.values - true_b.values) / np.linalg.norm(true_b.values)
    assert err < tol, err
    assert est.attrs["type"] == "estimated" and est.dims == ("time",)
    if smooth == 0:
        assert est.attrs["residual_estimate"] < 0.02


def test_one_signature_per_shot(survey):
    """Shots fired with different wavelets (amplitude, polarity, time):
    per_shot recovers each to 2 %; one shared signature cannot (> 30 %)."""
    vp, acq = survey
    w_true = np.stack([minimum_phase(), -0.5 * minimum_phase(t0=0.2), 2.0 * minimum_phase(f=14.0)])
    d = inversion.model_data(vp, acq, _da(w_true), SIM)
    d_b, ref_b = _band(d, inversion.spike_wavelet(DT, NT, 0.06).values)
    _, true_b = _band(d, w_true)
    est = inversion.estimate_wavelet(vp, acq, ref_b, d_b, SIM, 4500.0, per_shot=True)
    assert est.dims == ("shot", "time")
    errs = np.linalg.norm(est.values - true_b.values, axis=1) / np.linalg.norm(true_b.values, axis=1)
    assert np.all(errs < 0.02), errs
    shared = inversion.estimate_wavelet(vp, acq, ref_b, d_b, SIM, 4500.0)
    assert np.min(np.linalg.norm(shared.values - true_b.values, axis=1) / np.linalg.norm(true_b.values, axis=1)) > 0.3


def test_masked_traces_do_not_enter_the_estimate(survey):
    vp, acq = survey
    w_true = minimum_phase()
    d = inversion.model_data(vp, acq, _da(w_true), SIM)
    d_b, ref_b = _band(d, inversion.spike_wavelet(DT, NT, 0.06).values)
    mask = np.ones((acq.n_shots, acq.n_receivers), bool)
    mask[1, 5] = False
    clean = artifacts.with_trace_mask(d_b, mask)
    junk = clean.copy(data=np.where(mask[..., None], clean.values, 7.0))
    a = inversion.estimate_wavelet(vp, acq, ref_b, clean, SIM, 4500.0)
    b = inversion.estimate_wavelet(vp, acq, ref_b, junk, SIM, 4500.0)
    np.testing.assert_array_equal(a.values, b.values)


# ----------------------------------------------------------------------------- wavelets from files
def test_npy_wavelet_on_another_axis_is_resampled(tmp_path):
    """A wavelet sampled at 0.5 ms from t0 = 0.05 s, put on a 1 ms axis: zero
    before its first sample, the band-limited resampling elsewhere (1e-4)."""
    t_in = 0.05 + 0.0005 * np.arange(600)
    a = (np.pi * 15.0 * (t_in - 0.2)) ** 2
    np.save(tmp_path / "w.npy", (1 - 2 * a) * np.exp(-a))
    x, dt_in, t0 = ss.read_wavelet(tmp_path / "w.npy", dt=0.0005, t0=0.05)
    w = inversion.file_wavelet(x, dt_in, t0, DT, 500)
    b = (np.pi * 15.0 * (T[:500] - 0.2)) ** 2
    want = np.where((T[:500] >= 0.05) & (T[:500] <= t_in[-1]), (1 - 2 * b) * np.exp(-b), 0.0)
    np.testing.assert_allclose(w.values, want, atol=1e-4)
    assert np.all(w.values[T[:500] < 0.05] == 0.0)


def test_segy_trace_wavelet_is_read_with_its_axis(tmp_path):
    w = minimum_phase()[:400]
    ts.write(tmp_path / "w.sgy", np.stack([np.zeros(400), w]), 1000, {109: 0})
    x, dt_in, t0 = ss.read_wavelet(tmp_path / "w.sgy", trace=1)
    assert dt_in == pytest.approx(0.001) and t0 == 0.0
    np.testing.assert_array_equal(inversion.file_wavelet(x, dt_in, t0, DT, 400).values, w.astype(np.float32))
    with pytest.raises(ts.SegyError, match=r"wavelet\.path: .*w\.sgy has 2 traces; trace 5 does not exist"):
        ss.read_wavelet(tmp_path / "w.sgy", trace=5)


def test_bad_wavelet_files_are_named(tmp_path):
    np.save(tmp_path / "w2.npy", np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"wavelet\.path: .*w2\.npy holds an array of shape \(3, 10\)"):
        ss.read_wavelet(tmp_path / "w2.npy", dt=0.001)
    with pytest.raises(ValueError, match=r"wavelet\.dt: required"):
        ss.read_wavelet(tmp_path / "w2.npy")


def _cfg(tmp_path, wavelet, observed=None):
    root = fc.SCHEMA_PATH.parent.parent.parent
    c = fc.load_yaml(root / "config" / "config.yaml")
    c["wavelet"] = wavelet
    if observed:
        c["observed"] = observed
    return c, root


@pytest.mark.parametrize("wavelet, msg", [
    ({"type": "file"}, r"key 'wavelet\.path': required"),
    ({"type": "file", "path": "x.txt"}, r"key 'wavelet\.path': 'x\.txt' is not allowed"),
    ({"type": "file", "path": "w.npy"}, r"key 'wavelet\.dt': required"),
    ({"type": "ricker", "path": "w.npy"}, r"key 'wavelet\.path': only allowed with wavelet\.type: file"),
    ({"type": "estimate"}, r"key 'wavelet\.type': estimate needs observed data from outside"),
])
def test_wavelet_config_errors_name_the_key(tmp_path, wavelet, msg):
    import re

    c, root = _cfg(tmp_path, wavelet)
    with pytest.raises(fc.ConfigError) as e:
        fc.validate(c, base_dir=root)
    assert re.search(msg, str(e.value)), str(e.value)
