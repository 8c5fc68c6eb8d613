"""Nothing silently wrong: every bad input is refused before compute, naming
the config key and the file (issues 14 and 20). Each test here failed on the
code before these checks (the run went on, or crashed later without the key).
"""
import copy
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from fwi_core import config as fc
from fwi_core.survey import models
from fwi_core import stencils

ROOT = Path(__file__).resolve().parent.parent
SMK = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


@pytest.fixture
def cfg():
    return fc.load_yaml(ROOT / "config" / "config.yaml")


def _errors(cfg, base_dir=ROOT) -> str:
    with pytest.raises(fc.ConfigError) as e:
        fc.validate(cfg, base_dir=base_dir)
    return str(e.value)


def _true_npy(tmp_path, values=None, name="true.npy"):
    v = models.geology((60, 160), 20.0, seed=3).values if values is None else values
    p = tmp_path / name
    np.save(p, np.asarray(v, np.float32))
    return p


def _with_files(cfg, tmp_path, initial_values=None, initial_spacing=20.0):
    """The default config with the true model from a .npy file and an initial model file."""
    cfg["true_model"] = {"file": str(_true_npy(tmp_path)), "spacing": 20.0}
    init = models.smooth(models.geology((60, 160), 20.0, seed=3), 300.0).values if initial_values is None \
        else initial_values
    cfg["inversion"]["initial"] = {"file": str(_true_npy(tmp_path, init, "initial.npy")), "spacing": initial_spacing}
    return cfg


def test_files_config_is_valid(cfg, tmp_path):
    fc.validate(_with_files(cfg, tmp_path), base_dir=ROOT)


# ----------------------------------------------------------------------------- issue 14.1: grids
def test_initial_model_on_another_spacing_is_refused(cfg, tmp_path):
    msg = _errors(_with_files(cfg, tmp_path, initial_spacing=25.0))
    assert "runs.default.initial" in msg and "initial.npy" in msg
    assert "spacing (25.0, 25.0) m instead of (20.0, 20.0) m" in msg


def test_initial_model_of_another_shape_is_refused_with_the_shape(cfg, tmp_path):
    small = models.geology((50, 160), 20.0, seed=3).values
    msg = _errors(_with_files(cfg, tmp_path, initial_values=small))
    assert "shape (50, 160) instead of (60, 160)" in msg and "NaN" not in msg


def test_initial_zarr_with_another_origin_is_refused(cfg, tmp_path):
    from fwi_core import artifacts
    from fwi_core.engine.grid import as_model

    cfg = _with_files(cfg, tmp_path)
    v = models.geology((60, 160), 20.0, seed=3).values
    artifacts.write(as_model(v, 20.0, origin=(0.0, 100.0)), tmp_path / "init.zarr")
    cfg["inversion"]["initial"] = {"file": str(tmp_path / "init.zarr")}
    assert "origin (0.0, 100.0) m instead of (0.0, 0.0) m" in _errors(cfg)


def test_stage_check_names_key_and_grid():
    true = models.geology((60, 160), 20.0, seed=3)
    other = models.geology((60, 160), 25.0, seed=3)
    with pytest.raises(fc.ConfigError, match=r"runs\.a\.initial.*spacing"):
        models.check_entry(other, "runs.a.initial", "the model file x.npy", (1400.0, 5000.0), "runs.a.bounds",
                           like=true)


# ----------------------------------------------------------------------------- 14.6, 14.7, 20: shapes, orders
def test_space_order_allowed_values_are_the_engines(cfg):
    schema = fc.load_schema()
    assert tuple(schema["properties"]["simulation"]["properties"]["space_order"]["enum"]) == stencils.SPACE_ORDERS
    cfg["simulation"]["space_order"] = 10
    msg = _errors(cfg)
    assert "simulation.space_order" in msg and "10 is not allowed" in msg


@pytest.mark.parametrize("shape", [(160,), (1, 1), (3, 3)])
def test_tiny_or_1d_model_files_are_refused(cfg, tmp_path, shape):
    cfg["true_model"] = {"file": str(_true_npy(tmp_path, np.full(shape, 2000.0))), "spacing": 20.0}
    msg = _errors(cfg)
    assert f"shape {shape}" in msg and "true_model.file" in msg and "at least 8 x 8" in msg


# ----------------------------------------------------------------------------- 14.8, 20.1: values, bounds
def test_nan_and_nonpositive_model_values_are_refused(cfg, tmp_path):
    v = models.geology((60, 160), 20.0, seed=3).values.copy()
    v[10, 10] = np.nan
    cfg["true_model"] = {"file": str(_true_npy(tmp_path, v)), "spacing": 20.0}
    assert "true_model.file': the model file" in (m := _errors(cfg)) and "1 NaN or inf" in m
    v[10, 10] = -1500.0
    cfg["true_model"] = {"file": str(_true_npy(tmp_path, v)), "spacing": 20.0}
    assert "non-positive velocities (minimum -1500 m/s)" in _errors(cfg)


def test_initial_model_with_a_negative_velocity_is_refused(cfg, tmp_path):
    v = models.smooth(models.geology((60, 160), 20.0, seed=3), 300.0).values.copy()
    v[30, 80] = -1500.0
    msg = _errors(_with_files(cfg, tmp_path, initial_values=v))
    assert "runs.default.initial.file" in msg and "initial.npy" in msg and "-1500" in msg


def test_initial_model_outside_the_bounds_is_refused(cfg, tmp_path):
    cfg = _with_files(cfg, tmp_path)
    cfg["inversion"]["bounds"] = [1450.0, 3000.0]
    msg = _errors(cfg)
    assert "runs.default.initial.file" in msg and "runs.default.bounds" in msg and "outside the run's bounds" in msg
    # the same check where the initial model is only known in its job (from_true, trend, generator)
    vp = models.smooth(models.geology((60, 160), 20.0, seed=3), 300.0)
    with pytest.raises(fc.ConfigError, match=r"runs\.default\.bounds"):
        models.check_entry(vp, "runs.default.initial", "the smoothed true model", (1450.0, 3000.0),
                           "runs.default.bounds")


def test_sources_and_receivers_outside_the_model_are_refused(cfg):
    cfg["acquisition"] = {"sources": [[20.0, 100.0], [20.0, 9000.0]], "receivers": [[20.0, 50.0], [-5.0, 60.0]]}
    msg = _errors(cfg)
    assert "acquisition.sources[1]" in msg and "x=9000" in msg
    assert "acquisition.receivers[1]" in msg and "z=-5" in msg
    cfg["acquisition"] = {"n_shots": 4, "n_receivers": 10, "source_depth": 5000.0}
    assert "acquisition.source_depth" in _errors(cfg)
    cfg["acquisition"] = {"n_shots": 4, "n_receivers": 10, "receiver_margin": 5000.0}
    assert "acquisition.receiver_margin" in _errors(cfg) and "no room along x" in _errors(cfg)
    cfg["acquisition"] = {"sources": [[20.0, 100.0]], "receivers": [[20.0, 50.0]], "source_margin": 100.0}
    assert "acquisition.source_margin': only for a surface spread" in _errors(cfg)


def test_band_above_nyquist_is_refused(cfg):
    cfg["inversion"]["bands"][2]["fmax"] = 400.0
    msg = _errors(cfg)
    assert "runs.default.bands[2].fmax" in msg and "Nyquist" in msg


@pytest.mark.parametrize("t_max, delay", [(0.3, None), (0.001, None), (1.0, 0.95)])
def test_record_shorter_than_the_wavelet_is_refused(cfg, t_max, delay):
    cfg["simulation"]["t_max"] = t_max
    cfg["wavelet"]["delay"] = delay
    msg = _errors(cfg)
    assert "simulation.t_max" in msg and "too short" in msg


def test_record_check_with_the_automatic_delay():
    # the wavelet job's check, with the delay the band filter needs
    assert fc.record_errors(2.2, 0.002, 0.72, 6.0) == []
    assert "too short" in fc.record_errors(0.8, 0.002, 0.72, 6.0)[0]


def test_misfit_parameter_typo_is_refused(cfg):
    cfg["inversion"]["misfit"] = {"name": "huber", "params": {"treshold": 0.1}}
    msg = _errors(cfg)
    assert "runs.default.misfit.params" in msg and "treshold" in msg and "threshold" in msg


def test_huge_record_is_refused_with_the_memory_figure(cfg):
    cfg["simulation"]["dt"] = 1e-6
    cfg["simulation"]["t_max"] = 60.0
    msg = _errors(cfg)
    assert "simulation.t_max" in msg and "GB" in msg and "60000001 samples" in msg


# ----------------------------------------------------------------------------- 20.2: duplicate keys
def test_duplicate_yaml_keys_are_errors_with_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("acquisition: {n_shots: 2, n_receivers: 4}\nruns:\n  a: {}\n  b: {}\n  a: {bounds: [1, 2]}\n")
    with pytest.raises(fc.ConfigError, match=r"line 5: duplicate key 'a' \(first given on line 3\)"):
        fc.load_yaml(p)
    p.write_text("simulation:\n  dt: 0.001\n  t_max: 2.0\n  dt: 0.002\n")
    with pytest.raises(fc.ConfigError, match=r"line 4: duplicate key 'dt'"):
        fc.load_yaml(p)


def _smk(d: Path, *args, timeout=600):
    return subprocess.run(SMK + ["-d", str(d), *args], capture_output=True, text=True, timeout=timeout)


def test_snakemake_refuses_duplicate_keys_in_a_configfile(tmp_path, cfg):
    text = yaml.safe_dump(cfg) + "runs:\n  a: {}\n"   # a second top-level `runs`
    (tmp_path / "c.yaml").write_text(text)
    r = _smk(tmp_path, "-n", "--configfile", str(tmp_path / "c.yaml"))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "duplicate key 'runs'" in out and "Traceback" not in out


# ----------------------------------------------------------------------------- 14.9: --config values
def test_nested_config_overrides_are_typed(tmp_path):
    r = _smk(tmp_path, "-n", "--cores", "2", "--config", "execution={fuse_bands: false, threads: 1}",
             "simulation={t_max: 2.2, dtype: float32}")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert "shot_gradient" in stats and not any(k.startswith("invert_band") for k in stats)
    r = _smk(tmp_path, "-n", "--cores", "2", "--config", "execution={fuse_bands: maybe}")
    assert r.returncode != 0 and "execution.fuse_bands" in r.stdout + r.stderr


def test_coerce_strings_keeps_strings_the_schema_wants():
    schema = fc.load_schema()
    got = fc.coerce_strings({"execution": {"fuse_bands": "false", "shots_per_job": "auto", "threads": "2"},
                             "results": "123", "runs": {"a": {"bounds": ["1000", "4000"]}}}, schema)
    assert got == {"execution": {"fuse_bands": False, "shots_per_job": "auto", "threads": 2},
                   "results": "123", "runs": {"a": {"bounds": [1000, 4000]}}}
    assert fc.coerce_strings({"execution": {"fuse_bands": "yes"}}, schema)["execution"]["fuse_bands"] == "yes"


# ----------------------------------------------------------------------------- 14.5: changed input files rerun
def _nothing_to_do(r) -> bool:
    return "nothing to be done" in (r.stdout + r.stderr).lower()


def _data(c: dict) -> str:
    """The folder of a config's shared data, relative to the working directory."""
    return f"results/data/{fc.data_key(fc.validate(copy.deepcopy(c), base_dir=ROOT))}"


def test_rewritten_input_files_rerun_what_depends_on_them(tmp_path):
    true = _true_npy(tmp_path)
    init = _true_npy(tmp_path, models.smooth(models.geology((60, 160), 20.0, seed=3), 300.0).values, "init.npy")
    c = fc.load_yaml(ROOT / "config" / "config.yaml")
    c["true_model"] = {"file": str(true), "spacing": 20.0}
    c["inversion"]["initial"] = {"file": str(init), "spacing": 20.0}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(c))
    targets = [f"{_data(c)}/true_model.zarr", "results/default/initial_model.zarr"]
    args = ["--configfile", str(tmp_path / "c.yaml"), "--cores", "1"]
    r = _smk(tmp_path, *args, *targets)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert _nothing_to_do(_smk(tmp_path, "-n", *args, *targets))
    for f in (true, init):
        time.sleep(0.02)
        v = np.load(f)
        v[-1, -1] += 1.0
        np.save(f, v)
        r = _smk(tmp_path, "-n", *args, *targets)
        assert not _nothing_to_do(r), f"rewriting {f.name} planned nothing"
        assert ("true_model" if f is true else "initial_model") in r.stdout + r.stderr
        assert _smk(tmp_path, *args, *targets).returncode == 0


# ----------------------------------------------------------------------------- 14.2: observed data in ms
def test_observed_store_in_milliseconds_stops_the_observed_job(tmp_path):
    import xarray as xr

    from fwi_core import artifacts

    c = fc.load_yaml(ROOT / "config" / "config.yaml")
    del c["true_model"]
    init = _true_npy(tmp_path, models.smooth(models.geology((60, 160), 20.0, seed=3), 300.0).values, "init.npy")
    c["inversion"]["initial"] = {"file": str(init), "spacing": 20.0}
    t_ms = 1000.0 * 0.002 * np.arange(1101)      # 0-2.2 s, written in milliseconds
    d = np.random.default_rng(0).standard_normal((8, 80, t_ms.size)).astype(np.float32)
    artifacts.write(xr.DataArray(d, dims=("shot", "receiver", "time"), coords={"time": t_ms}, name="data"),
                    tmp_path / "field.zarr")
    c["observed"] = {"source": "zarr", "path": str(tmp_path / "field.zarr")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(c))
    data = _data(c)
    r = _smk(tmp_path, "--configfile", str(tmp_path / "c.yaml"), "--cores", "1", f"{data}/observed.zarr")
    log = (tmp_path / "results" / "logs" / "data" / data.rsplit("/", 1)[1] / "observed.log").read_text()
    assert r.returncode != 0
    assert "milliseconds" in log and "field.zarr" in log and "Traceback" not in log
    assert not (tmp_path / data / "observed.zarr").exists()
