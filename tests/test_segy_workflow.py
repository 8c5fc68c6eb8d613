"""SEG-Y through the workflow (issue 17): shot gathers with the geometry in
their headers, receivers moving with the source, dead traces and an unknown
source wavelet inverted end to end (with the wavelet estimated per band and
the results exported), and every bad input stopped before any inversion job
with a message naming the file and the config key, what was already
computed kept."""
import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import segyio
import xarray as xr
import yaml

import fwi_core as fwi
from fwi_core import config as fc
from fwi_core import geometry, inversion
from fwi_core.survey import models
from fwi_core.survey import segy as ss

ROOT = Path(__file__).resolve().parent.parent
SMK = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
FIELD = {"origin": [612000.0, 4512000.0], "azimuth": 120.0}


def _survey(d: Path, t_max=1.6, dt=0.002) -> dict:
    """Tiny field-like data: a geology model, 4 shots with a streamer from
    -1000 m to +600 m clipped at the model's edges, two dead traces (junk
    samples, trace identification code 2), a minimum-phase source starting
    at 0.3 s, 2 ms SEG-Y with scaled and rotated coordinates. Returns the
    config that inverts them (initial model smoothed over 200 m, wavelet
    estimated)."""
    vp = models.geology((30, 90), 20.0, seed=7)
    np.save(d / "initial.npy", models.smooth(vp, 200.0).values.astype(np.float32))
    np.save(d / "true.npy", vp.values.astype(np.float32))
    src = fwi.Acquisition.surface(vp, 4, 1, 20.0, 20.0).sources
    acq = fwi.Acquisition.per_shot(src, geometry.moving_spread(
        src, {"min_offset": -1000.0, "max_offset": 600.0, "spacing": 40.0}, 20.0, (0.0, 1780.0)))
    t = dt * np.arange(int(round(t_max / dt)) + 1)
    tt = np.clip(t - 0.3, 0.0, None)
    w = tt ** 2 * np.exp(-25.0 * tt) * np.sin(2 * np.pi * 7.0 * tt)
    data = inversion.model_data(vp, acq, xr.DataArray(w / np.abs(w).max(), dims="time", coords={"time": t}))
    live = acq.mask.copy()
    live[1, 3] = live[2, 10] = False
    junk = np.where(live[..., None], data.values, 50.0)
    data = data.copy(data=junk).assign_coords(trace_mask=(("shot", "receiver"), live))
    ss.write_gathers(data, d / "shots", acq=acq, **FIELD)
    return {"results": str(d / "results"),
            "observed": {"source": "segy", "path": str(d / "shots" / "shot_*.sgy"), "segy": dict(FIELD)},
            "wavelet": {"type": "estimate"},
            "simulation": {"t_max": t_max - 0.2, "pml_width": 15},
            "inversion": {"initial": {"file": str(d / "initial.npy"), "spacing": 20.0},
                          "bands": [{"fmax": 4.0, "iterations": 2}, {"fmax": 6.0, "iterations": 2}],
                          "bounds": [1400.0, 4800.0]},
            "execution": {"threads": 1}}


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    d = tmp_path_factory.mktemp("segy")
    return d, _survey(d)


def _smk(d: Path, cfg: dict, *args):
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    return subprocess.run(SMK + ["-d", str(d), "--configfile", str(d / "c.yaml"), "--cores", "2", *args],
                          capture_output=True, text=True, timeout=900)


def _errors(cfg) -> str:
    with pytest.raises(fc.ConfigError) as e:
        fc.validate(copy.deepcopy(cfg), base_dir=ROOT)
    return str(e.value)


# ----------------------------------------------------------------------------- bad inputs: before any job
def test_the_segy_config_is_valid_and_planned(survey):
    d, cfg = survey
    c = fc.validate(copy.deepcopy(cfg), base_dir=ROOT)
    assert fc.survey_counts(c, ROOT, 2)[0] == 4
    assert fc.plan(c, ROOT)["n_shots"] == 4


def test_counts_against_an_acquisition_block_name_file_and_key(survey):
    d, cfg = survey
    c = copy.deepcopy(cfg)
    c["acquisition"] = {"n_shots": 5, "n_receivers": 30}
    msg = _errors(c)
    assert "key 'acquisition'" in msg and "5 shots x 30 receivers" in msg and "shot_*.sgy holds 4 shots" in msg


def test_a_trace_outside_the_model_names_file_trace_and_shot(survey):
    d, cfg = survey
    c = copy.deepcopy(cfg)
    c["observed"]["segy"]["origin"] = [FIELD["origin"][0] + 300.0, FIELD["origin"][1]]   # the line moved
    msg = _errors(c)
    assert "key 'observed.segy'" in msg and "shot_0000.sgy trace" in msg and "field record 1" in msg
    assert "absorbing layer" in msg


def test_an_unreadable_file_is_named(survey, tmp_path):
    d, cfg = survey
    (tmp_path / "shot_9999.sgy").write_bytes(b"\0" * 100)
    c = copy.deepcopy(cfg)
    c["observed"]["path"] = str(tmp_path / "shot_9999.sgy")
    msg = _errors(c)
    assert "key 'observed.path'" in msg and "shot_9999.sgy" in msg and "cannot read" in msg


def test_inconsistent_headers_are_named(survey, tmp_path):
    """One file's sample interval differs from the others'."""
    d, cfg = survey
    import shutil

    for f in sorted((d / "shots").glob("shot_*.sgy")):
        shutil.copy(f, tmp_path / f.name)
    with segyio.open(tmp_path / "shot_0002.sgy", "r+", ignore_geometry=True) as f:
        f.bin.update({segyio.BinField.Interval: 1000})
    c = copy.deepcopy(cfg)
    c["observed"]["path"] = str(tmp_path / "shot_*.sgy")
    msg = _errors(c)
    assert "shot_0002.sgy" in msg and "inconsistent headers" in msg


# ----------------------------------------------------------------------------- bad inputs: the observed job
def test_a_record_shorter_than_t_max_stops_the_observed_job(survey):
    """Checked in the observed job, before any inversion job: the message names
    the file and simulation.t_max; the geometry and wavelet already computed stay."""
    d, cfg = survey
    c = copy.deepcopy(cfg)
    c["simulation"]["t_max"] = 1.9                     # the records end at 1.6 s
    c["results"] = str(d / "short")
    key = fc.data_key(fc.validate(copy.deepcopy(c), base_dir=ROOT))
    r = _smk(d, c, f"{d}/short/data/{key}/observed.zarr")
    assert r.returncode != 0
    log = (d / "short" / "logs" / "data" / key / "observed.log").read_text()
    assert "shot_0000.sgy" in log and "simulation.t_max" in log and "ends" in log and "Traceback" not in log
    assert (d / "short" / "data" / key / "acquisition.zarr").exists()
    assert (d / "short" / "data" / key / "wavelet.zarr").exists()
    assert not (d / "short" / "data" / key / "observed.zarr").exists()


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_segy_inversion_end_to_end_with_an_estimated_wavelet_and_export(survey):
    """The geometry from the headers (streamer, dead traces), the wavelet
    estimated per band, the misfit down in every band, the model error down,
    and every export read back by segyio."""
    d, cfg = survey
    c = copy.deepcopy(cfg)
    c["true_model"] = {"file": str(d / "true.npy"), "spacing": 20.0}   # only to measure the model error
    c["export"] = {"iterations": False, "data": True}
    r = _smk(d, c)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    import json

    summary = json.loads((d / "results" / "default" / "report" / "summary.json").read_text())
    assert summary["misfit_decreased_in_every_band"] and summary["model_error_reduction"] > 0.0
    logs = d / "results" / "logs"
    obs_log = next(logs.glob("data/*/observed.log")).read_text()
    assert "2 trace(s) flagged dead" in obs_log and "resampled" in obs_log
    assert "source signature estimated" in (logs / "default" / "band1" / "data.log").read_text()
    ex = d / "results" / "default" / "export"
    vp = ss.read_model(ex / "final_model.sgy", FIELD["origin"], FIELD["azimuth"])
    final = xr.open_zarr(d / "results" / "default" / "final_model.zarr")["vp"]
    np.testing.assert_array_equal(vp.values, final.values)
    np.testing.assert_array_equal(ss.read_binary(ex / "final_model.bin").values, final.values)
    n_traces = 0
    for p in sorted((d / "shots").glob("*.sgy")):
        with segyio.open(p, ignore_geometry=True) as f:
            n_traces += f.tracecount
    for name in ("observed", "synthetic_last_band", "residual_last_band"):
        with segyio.open(ex / f"{name}.sgy", ignore_geometry=True) as f:
            assert f.tracecount == n_traces       # every trace, dead ones with their headers
