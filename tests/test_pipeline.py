"""End-to-end tests of the Snakemake pipeline on a small model.

- a complete multi-band run: model error falls >= 30 %, misfit falls in every band
- kill -9 in the middle, unlock, rerun: bitwise-equal final model
- changing a band's frequency / an optimiser setting plans only what depends on it
- a sweep of two runs in one DAG sharing the observed data
- dry-run planning time of 5 bands x 20 iterations x 100 shots
"""
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SMK = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]

SMALL = {
    "results": "results",
    "true_model": {"generator": "geology", "shape": [36, 90], "spacing": 20.0, "seed": 3},
    "acquisition": {"n_shots": 6, "n_receivers": 45, "source_depth": 20.0, "receiver_depth": 20.0},
    "wavelet": {"freq": 8.0},
    "simulation": {"t_max": 1.75, "pml_width": 15},
    "inversion": {
        "initial": {"from_true": {"smooth": 300.0}},
        "bands": [{"fmax": 3.0, "iterations": 5}, {"fmax": 5.0, "iterations": 5}, {"fmax": 8.0, "iterations": 5}],
        "bounds": [1450.0, 4800.0],
        "line_search": {"first_change": 0.05, "max_change": 0.15},
        "precondition": {"mask_radius": 40.0, "mask_taper": 40.0},
    },
    "runs": {"small": {}},
    "execution": {"shots_per_job": 3, "threads": 1},
}


def _write_cfg(d: Path, cfg: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _smk(d: Path, *args, check=True, timeout=900, env=None):
    r = subprocess.run(SMK + ["-d", str(d), "--configfile", str(d / "config.yaml"), *args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}")
    return r


def _store(d: Path, b: int, i: int, kind: str = "model", run: str = "small") -> Path:
    """Where the run in ``d`` keeps iteration (b, i)'s store, by the workflow's own rule."""
    import fwi_core.config as fc

    cfg = fc.validate(yaml.safe_load((d / "config.yaml").read_text()), base_dir=ROOT)
    return Path(fc.iteration_dir(fc.plan(cfg, base_dir=ROOT, cores=2), str(d / cfg["results"]), run, b, i)) / f"{kind}.zarr"


def _final(d: Path, run="small"):
    from fwi_core import artifacts

    return artifacts.read(d / "results" / run / "final_model.zarr", "vp").values


#: The complete run in as few jobs as the planner allows (fused bands): the
#: numerics are those of the per-stage jobs (test_fused_bands_equal_per_stage_jobs),
#: which the short run below takes through every rule.
FULL = copy.deepcopy(SMALL)
FULL["execution"] = {"shots_per_job": 3, "threads": 1, "fuse_bands": True}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    _write_cfg(d, FULL)
    t0 = time.perf_counter()
    _smk(d, "--cores", "2")
    return d, time.perf_counter() - t0


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_end_to_end_recovers_structure(full_run):
    d, wall = full_run
    res = d / "results"
    summary = json.loads((res / "small" / "report" / "summary.json").read_text())
    print(f"\nsmall end-to-end run: {wall:.0f} s wall; summary {summary}")
    assert summary["misfit_decreased_in_every_band"]
    assert summary["model_error_reduction"] >= 0.30, summary
    for f in ("models.png", "gradient.png", "shot.png", "misfit.png", "history.csv"):
        assert (res / "small" / "report" / f).stat().st_size > 0
    assert (res / "comparison_small.csv").exists() and (res / "comparison_small.png").exists()
    # `snakemake --report` builds (its dependencies are declared) and carries the tables and the config
    _smk(d, "--report", str(d / "report.html"))
    html = (d / "report.html").read_text(errors="replace")
    assert all(f in html for f in ("history.csv", "summary.json", "config.json")), "report lacks the tables"
    cfg = json.loads((res / "small" / "report" / "config.json").read_text())
    assert cfg["inversion"]["bands"][2]["fmax"] == 8.0 and cfg["inversion"]["optimizer"]["method"] == "lbfgs"
    # artifacts carry provenance
    from fwi_core import artifacts

    attrs = artifacts.open_dataset(_store(d, 1, 2)).attrs
    assert attrs["band"] == 1 and attrs["iteration"] == 2 and attrs["stage"] == "invert_band"
    assert len(attrs["config_hash"]) == 12


SHORT = copy.deepcopy(SMALL)
SHORT["inversion"]["bands"] = [{"fmax": 3.0, "iterations": 2}, {"fmax": 5.0, "iterations": 2}]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("short")
    _write_cfg(d, SHORT)
    _smk(d, "--cores", "2")
    return d


@pytest.mark.slow
@pytest.mark.xdist_group("short_run")
def test_kill_and_resume_is_bitwise_equal(short_run, tmp_path):
    """Killed and resumed from an empty numba cache (a fresh clone): the
    killed jobs compile the kernels, the resumed ones load them from the
    cache; the final model equals the uninterrupted run's bitwise. The rerun
    is a plain `snakemake` (no --rerun-incomplete, no profile): every output is
    written whole or not at all, so a killed job leaves nothing Snakemake
    would take for done. The kill comes while the two shot jobs of an
    iteration are computing (not while Snakemake records a finished job)."""
    cfg, d_ref = SHORT, short_run
    d = tmp_path / "killed"
    _write_cfg(d, cfg)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    log = d / "results" / "logs" / "small" / "band0" / "iter1" / "grad_0-2.log"
    p = subprocess.Popen(SMK + ["-d", str(d), "--configfile", str(d / "config.yaml"), "--cores", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 600:
        if log.exists() and "started in" in log.read_text():
            break
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before the iteration to interrupt"
    os.killpg(p.pid, signal.SIGKILL)  # hard kill, jobs included
    p.wait()
    assert not (d / "results" / "small" / "final_model.zarr").exists()
    assert any((tmp_path / "numba_cache").rglob("*.nbi")), "the killed jobs compiled nothing into the cache"
    _smk(d, "--unlock", env=env)
    assert not _store(d, 0, 1, "gradient").exists()
    _smk(d, "--cores", "2", env=env)
    np.testing.assert_array_equal(_final(d), _final(d_ref))
    assert not list((d / "results").rglob(".*.tmp-*")), "temporary stores of the killed jobs left behind"


@pytest.mark.slow
@pytest.mark.xdist_group("short_run")
def test_damaged_artifacts_are_refused_by_name(short_run, tmp_path):
    """A chunk missing from an iteration's model or gradient: the job that
    reads it stops and names the store, instead of writing NaN on."""
    import shutil

    d = tmp_path / "damaged"
    shutil.copytree(short_run, d, symlinks=True)
    res = d / "results" / "small"
    # --force reruns just the job that reads the damaged store (its inputs are up to date)
    for store, target in (("band1/iter1/model.zarr", "final_model.zarr"),
                          ("band1/iter1/gradient.zarr", "band1/iter1/direction.zarr")):
        chunks = [c for c in (res / store).rglob("*") if c.is_file() and "c" in c.relative_to(res / store).parts]
        assert chunks, f"no chunk files found in {store}"
        max(chunks, key=lambda c: c.stat().st_size).unlink()
        r = _smk(d, "--cores", "2", "--force", f"results/small/{target}", check=False)
        out = r.stdout + r.stderr
        assert r.returncode != 0, f"a damaged {store} was read without an error"
        assert store in out, out[-3000:]
    final = res / "final_model.zarr"
    if final.exists():
        assert np.isfinite(_final(d)).all()


@pytest.mark.slow
def test_fused_bands_equal_per_stage_jobs(tmp_path):
    """One job for both bands (execution.fuse_bands) runs the same numerics as
    one job per stage with one shot group: bitwise-equal models at every iteration."""
    from fwi_core import artifacts

    runs = {}
    for fuse in (True, False):
        cfg = copy.deepcopy(SHORT)
        cfg["execution"] = {"shots_per_job": 6, "threads": 1, "fuse_bands": fuse}
        d = tmp_path / ("fused" if fuse else "stages")
        _write_cfg(d, cfg)
        stats = dict(re.findall(r"^(\w+)\s+(\d+)$", (lambda r: r.stdout + r.stderr)(_smk(d, "-n", "--cores", "2")), re.M))
        if fuse:
            assert stats["invert_band"] == "1"
            assert "update" not in stats and "shot_gradient" not in stats
        else:
            assert stats["update"] == "4" and "invert_band" not in stats
        _smk(d, "--cores", "2")
        runs[fuse] = d
    for b, i in ((0, 0), (0, 1), (1, 0), (1, 1)):
        f, s = (artifacts.open_dataset(_store(runs[k], b, i)) for k in (True, False))
        assert "/bands0-1/" in str(_store(runs[True], b, i)) and "/bands" not in str(_store(runs[False], b, i))
        np.testing.assert_array_equal(f["vp"].values, s["vp"].values)
        assert f.attrs["band"] == b and f.attrs["iteration"] == i and f.attrs["stage"] == "invert_band"
        assert f.attrs["J"] == s.attrs["J"]
    np.testing.assert_array_equal(_final(runs[True]), _final(runs[False]))
    # both say where the run stands after each iteration: band b/B, iteration i/I, what is left
    fused = "".join(p.read_text() for p in runs[True].glob("results/logs/*/bands0-1.log"))
    staged = "".join(p.read_text() for p in runs[False].glob("results/logs/*/band1/iter0/update.log"))
    # every job's log ends with its wall time and peak memory (what a cluster's mem_mb must cover)
    logs = list(runs[False].glob("results/logs/**/*.log"))
    assert len(logs) > 10 and all(re.search(r"ended after [\d.]+ s; peak memory \d+ MB", p.read_text().splitlines()[-1])
                                  for p in logs), [p.read_text().splitlines()[-1] for p in logs][:5]
    for text in (fused, staged):
        assert re.search(r"progress: band 2/2, iteration 1/2; 3/4 iterations of the run; [\d.]+ s for \d of them, "
                         r"about \d+ s of compute left", text), text[-1500:]
    assert "progress: band 1/2, iteration 2/2; 2/4" in fused


def _planned(d: Path, cfg: dict) -> str:
    _write_cfg(d, cfg)
    r = _smk(d, "-n", "--cores", "2")
    return r.stdout + r.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("short_run")
def test_changes_rerun_only_dependents(short_run):
    d = short_run
    cfg0 = yaml.safe_load((d / "config.yaml").read_text())
    try:
        out = _planned(d, cfg0)
        assert "Nothing to be done" in out or "nothing to be done" in out.lower()
        cfg = copy.deepcopy(cfg0)
        cfg["inversion"]["bands"][1]["fmax"] = 5.5
        out = _planned(d, cfg)
        assert "small/band1/data.zarr" in out
        assert not re.search(r"output: \S*band0/", out)
        assert "observed.zarr" not in re.findall(r"output: (\S+)", out)
        cfg = copy.deepcopy(cfg0)
        cfg["inversion"]["optimizer"] = {"memory": 3}
        out = _planned(d, cfg)
        outs = re.findall(r"output: (\S+)", out)
        assert any("band0/iter1/direction.zarr" in o for o in outs)
        assert not any(o.endswith("data.zarr") or "band0/iter0/grad" in o for o in outs)  # gradient unchanged
        assert any("band1/iter0/grad" in o for o in outs)  # ... but the models after it changed
        cfg = copy.deepcopy(cfg0)
        cfg["inversion"]["bands"][1]["iterations"] += 1   # the new iteration only, not the jobs before it
        outs = re.findall(r"output: (\S+)", _planned(d, cfg))
        assert any("band1/iter2/model.zarr" in o for o in outs), outs
        assert not any(re.search(r"band[01]/iter[01]/", o) for o in outs), outs
    finally:
        _write_cfg(d, cfg0)


@pytest.mark.slow
def test_sweep_two_runs_one_dag(tmp_path):
    cfg = copy.deepcopy(SMALL)
    cfg["inversion"]["bands"] = [{"fmax": 4.0, "iterations": 1}]
    cfg["runs"] = {"a": {}, "b": {"optimizer": {"method": "sd"}, "bands": [{"fmax": 5.0, "iterations": 1}]}}
    cfg["execution"]["shots_per_job"] = 6
    d = tmp_path / "sweep"
    _write_cfg(d, cfg)
    r = _smk(d, "-n", "--cores", "2")
    out = r.stdout + r.stderr
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert stats["observed"] == "1" and stats["update"] == "2" and stats["compare"] == "1"
    _smk(d, "--cores", "2")
    import csv

    rows = list(csv.DictReader(open(d / "results" / "comparison_a+b.csv")))
    assert [r["run"] for r in rows] == ["a", "b"]
    assert all(float(r["model_error_final"]) > 0 for r in rows)


def test_dry_run_planning_time(tmp_path):
    """5 bands x 20 iterations x 100 shots: the DAG must plan in < 60 s."""
    cfg = copy.deepcopy(SMALL)
    cfg["acquisition"]["n_shots"] = 100
    cfg["inversion"]["bands"] = [{"fmax": 3.0 + b, "iterations": 20} for b in range(5)]
    cfg["execution"]["shots_per_job"] = 10
    d = tmp_path / "plan"
    _write_cfg(d, cfg)
    t0 = time.perf_counter()
    out = _smk(d, "-n", "--cores", "2", "--quiet", "all").stdout
    dt = time.perf_counter() - t0
    print(f"\ndry run 5x20x100 (10 shots/job): {dt:.1f} s")
    assert dt < 60


@pytest.mark.slow
def test_ctrl_c_stops_a_fused_job_cleanly_and_a_rerun_completes(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it):
    the fused job logs that it was interrupted, without a traceback, and a
    plain rerun finishes the inversion; its log prefix names each band."""
    cfg = copy.deepcopy(SHORT)
    cfg["execution"] = {"shots_per_job": "auto", "threads": 1, "fuse_bands": True}
    d = tmp_path / "sigint"
    _write_cfg(d, cfg)
    log = d / "results" / "logs" / "small" / "bands0-1.log"
    p = subprocess.Popen(SMK + ["-d", str(d), "--configfile", str(d / "config.yaml"), "--cores", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 600:
        if log.exists() and "iteration 0" in log.read_text():
            break
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)
    p.wait(timeout=300)
    text = log.read_text()
    assert "interrupted (SIGINT)" in text, text[-2000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert not (d / "results" / "small" / "bands0-1").exists(), "an interrupted fused job left its directory"
    _smk(d, "--cores", "2")
    assert (d / "results" / "small" / "final_model.zarr").exists()
    text = log.read_text()
    assert "[invert_band run=small band=1 iter=0]" in text and "[invert_band run=small band=0 iter=1]" in text


@pytest.mark.slow
def test_two_configs_in_one_results_folder_keep_their_own_data(tmp_path):
    """A second config with other data (a sweep after the default run, say)
    writes its data and comparison beside the first one's, never over them:
    afterwards the first config has nothing to redo."""
    a = copy.deepcopy(SMALL)
    a["inversion"]["bands"] = [{"fmax": 4.0, "iterations": 1}]
    a["execution"] = {"shots_per_job": 6, "threads": 1, "fuse_bands": True}
    b = copy.deepcopy(a)
    b["acquisition"]["n_shots"] = 4
    b["runs"] = {"other": {}}
    for cfg, name in ((a, "a.yaml"), (b, "b.yaml")):
        (tmp_path / name).write_text(yaml.safe_dump(cfg))
    run = [*SMK, "-d", str(tmp_path), "--cores", "2", "--configfile"]
    for name in ("a.yaml", "b.yaml"):
        r = subprocess.run(run + [str(tmp_path / name)], capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(run + [str(tmp_path / "a.yaml"), "-n"], capture_output=True, text=True, timeout=300)
    assert "nothing to be done" in (r.stdout + r.stderr).lower(), (r.stdout + r.stderr)[-3000:]
    res = tmp_path / "results"
    assert len(list((res / "data").iterdir())) == 2
    assert (res / "comparison_small.csv").exists() and (res / "comparison_other.csv").exists()
