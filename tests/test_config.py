"""Config schema and validation: clear errors naming the key and allowed values."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fwi_core import config as fc

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def default():
    return fc.load_yaml(ROOT / "config" / "config.yaml")


@pytest.mark.parametrize("name", ["config.yaml", "marmousi2.yaml", "sweep.yaml"])
def test_shipped_configs_validate(name):
    cfg = fc.validate_file(ROOT / "config" / name, base_dir=ROOT)
    assert cfg["runs"]
    for inv in cfg["runs"].values():
        assert inv["bands"] and "initial" in inv


def test_defaults_filled_and_runs_merged(default):
    cfg = fc.validate(default, base_dir=ROOT)
    run = cfg["runs"]["default"]
    assert run["optimizer"]["method"] == "lbfgs"
    assert run["line_search"]["trials"] == [0.5, 1.0, 2.0]
    assert cfg["execution"]["shots_per_job"] == "auto"


def test_run_override_deep_merge(default):
    default["runs"] = {"a": {}, "b": {"optimizer": {"method": "nlcg"}, "bands": [{"fmax": 5, "iterations": 2}]}}
    cfg = fc.validate(default, base_dir=ROOT)
    assert cfg["runs"]["a"]["optimizer"]["method"] == "lbfgs"
    assert cfg["runs"]["b"]["optimizer"] == {"method": "nlcg", "memory": 5, "nlcg_beta": "pr"}
    assert len(cfg["runs"]["b"]["bands"]) == 1

    assert fc.resolve_runs(default) == cfg["runs"]   # what a job's script reads back, without the checks


def test_resolve_runs_equals_validate_for_shipped_configs():
    for name in ("config.yaml", "marmousi2.yaml", "sweep.yaml", "3d.yaml"):
        raw = fc.load_yaml(ROOT / "config" / name)
        assert fc.resolve_runs(raw) == fc.validate(raw, base_dir=ROOT)["runs"], name


def _errors(cfg):
    with pytest.raises(fc.ConfigError) as e:
        fc.validate(cfg, base_dir=ROOT)
    return str(e.value)


def test_unknown_key_named(default):
    default["inversion"]["optimiser"] = {"method": "lbfgs"}
    msg = _errors(default)
    assert "unknown key 'inversion.optimiser'" in msg
    assert "optimizer" in msg  # the allowed keys are listed


def test_unknown_top_level_and_nested_in_run(default):
    default["colour"] = 1
    default["runs"]["default"] = {"line_search": {"trails": [1]}}
    msg = _errors(default)
    assert "unknown key 'colour'" in msg
    assert "unknown key 'runs.default.line_search.trails'" in msg


def test_enum_lists_allowed_values(default):
    default["inversion"]["optimizer"]["method"] = "bfgs"
    msg = _errors(default)
    assert "inversion.optimizer.method" in msg and "'sd'" in msg and "'nlcg'" in msg and "'lbfgs'" in msg


def test_type_and_range_errors(default):
    default["inversion"]["bands"][0]["fmax"] = -3
    default["acquisition"]["n_shots"] = "ten"
    msg = _errors(default)
    assert "inversion.bands.[0].fmax" in msg or "inversion.bands[0].fmax" in msg
    assert "acquisition.n_shots" in msg


def test_misfit_name_checked_against_registry(default):
    default["inversion"]["misfit"]["name"] = "l3"
    msg = _errors(default)
    assert "misfit.name" in msg and "'l2'" in msg


def test_semantic_errors(default):
    d = copy.deepcopy(default)
    d["inversion"]["bands"][0]["fmin"] = 10.0
    d["inversion"]["bounds"] = [3000, 2000]
    msg = _errors(d)
    assert "fmin" in msg and "bounds" in msg
    d = copy.deepcopy(default)
    d["true_model"] = {"file": "nope.npy"}
    msg = _errors(d)
    assert "true_model.spacing" in msg and "not found" in msg
    d = copy.deepcopy(default)
    d["acquisition"] = {"n_shots": 3}
    assert "acquisition" in _errors(d)


def test_hash_stable():
    assert fc.config_hash({"a": 4, "b": [1, 2]}) == fc.config_hash({"b": [1.0, 2], "a": 4.0})
    assert fc.config_hash({"a": 4}) != fc.config_hash({"a": 5})


def test_shot_groups_and_auto():
    assert fc.shot_groups(5, 2) == [[0, 1], [2, 3], [4]]
    assert fc.auto_shots_per_job(100, (50, 50), 50, min_groups=1) == 100
    assert fc.auto_shots_per_job(100, (50, 50), 50, min_groups=2) == 50
    assert fc.auto_shots_per_job(10, (2000, 2000), 5000) == 1


def test_auto_shots_per_job_at_least_threads():
    """Shot-per-thread execution needs at least as many shots per job as threads."""
    assert fc.auto_shots_per_job(10, (2000, 2000), 5000, threads=4) == 4   # 3 groups: 4, 4, 2 -> ceil(10/3)
    assert fc.auto_shots_per_job(8, (2000, 2000), 5000, threads=2) == 2
    assert fc.auto_shots_per_job(8, (50, 50), 50, min_groups=2, threads=8) == 8  # min_groups yields
    assert fc.auto_shots_per_job(3, (2000, 2000), 5000, threads=8) == 3
    for n, t in ((100, 3), (7, 2), (16, 16), (5, 1)):
        assert fc.auto_shots_per_job(n, (2000, 2000), 5000, min_groups=2, threads=t) >= min(t, n)


def test_band_chunks():
    """Consecutive bands share a job while their estimated sum fits; unknown costs stay alone."""
    assert fc.band_chunks([10, 10, 10], 60) == [[0, 1, 2]]
    assert fc.band_chunks([50, 20, 10], 60) == [[0], [1, 2]]
    assert fc.band_chunks([70, 1], 60) == [[0], [1]]
    assert fc.band_chunks([1, None, 1], 60) == [[0], [1], [2]]


def test_fuse_bands_auto(default):
    """Small problems run their bands in one job; large ones, or explicit shot groups, per stage."""
    plan = fc.plan(fc.validate(default, base_dir=ROOT), base_dir=ROOT, cores=2)
    assert plan["fuse_bands"] and plan["band_groups"] == {"default": [["0-7"]] * 3}
    assert 3 * plan["band_seconds"] < fc.FUSE_BAND_SECONDS_PER_TARGET * 20.0
    assert plan["band_chunks"] == {"default": [[0, 1, 2]]}     # the whole run: one start-up
    longer = copy.deepcopy(default)
    longer["inversion"]["bands"][2]["iterations"] = 30         # too long to share a job
    plan = fc.plan(fc.validate(longer, base_dir=ROOT), base_dir=ROOT, cores=2)
    assert plan["fuse_bands"] and plan["band_chunks"] == {"default": [[0, 1], [2]]}
    big = copy.deepcopy(default)
    big["true_model"]["shape"] = [176, 851]
    big["acquisition"]["n_shots"] = 48
    plan = fc.plan(fc.validate(big, base_dir=ROOT), base_dir=ROOT, cores=2)
    assert not plan["fuse_bands"] and all(len(g) >= 2 for g in plan["band_groups"]["default"])
    assert plan["band_chunks"] is None
    explicit = copy.deepcopy(default)
    explicit["execution"]["shots_per_job"] = 2
    plan = fc.plan(fc.validate(explicit, base_dir=ROOT), base_dir=ROOT, cores=2)
    assert not plan["fuse_bands"] and plan["band_groups"]["default"] == [["0-1", "2-3", "4-5", "6-7"]] * 3
    explicit["execution"]["fuse_bands"] = True
    assert fc.plan(fc.validate(explicit, base_dir=ROOT), base_dir=ROOT, cores=2)["fuse_bands"]
    explicit["execution"]["fuse_bands"] = "yes"
    with pytest.raises(fc.ConfigError, match="fuse_bands"):
        fc.validate(explicit, base_dir=ROOT)



def test_iteration_dir_follows_the_plan(default):
    """One rule for where iteration (b, i) lives: its own folder with one job
    per stage, inside its fused job's directory otherwise."""
    cfg = copy.deepcopy(default)
    cfg["inversion"]["bands"][2]["iterations"] = 30
    fused = fc.plan(fc.validate(cfg, base_dir=ROOT), base_dir=ROOT, cores=2)
    assert fc.iteration_dir(fused, "res", "default", 1, 4) == "res/default/bands0-1/band1/iter4"
    assert fc.iteration_dir(fused, "res", "default", 2, 0) == "res/default/bands2-2/band2/iter0"
    assert fc.chunk_dir(fused, "res", "default", 0) == "res/default/bands0-1"
    with pytest.raises(KeyError, match="no band 3"):
        fc.chunk_dir(fused, "res", "default", 3)
    cfg["execution"]["fuse_bands"] = False
    staged = fc.plan(fc.validate(cfg, base_dir=ROOT), base_dir=ROOT, cores=2)
    assert fc.iteration_dir(staged, "res", "default", 1, 4) == "res/default/band1/iter4"
    assert fc.chunk_dir(staged, "res", "default", 1) is None

def test_band_groups_follow_band_cost(default):
    """With per-band grids, a cheap low band gets fewer, larger shot groups."""
    big = copy.deepcopy(default)
    big["true_model"]["shape"] = [176, 851]
    big["acquisition"]["n_shots"] = 48
    big["inversion"]["bounds"] = [1000.0, 4800.0]
    big["inversion"]["bands"] = [{"fmax": f, "iterations": 10} for f in (4.0, 6.0, 9.0)]
    sizes = [len(g) for g in fc.plan(fc.validate(big, base_dir=ROOT), base_dir=ROOT, cores=2)["band_groups"]["default"]]
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[0] < sizes[2] and sizes[0] >= 2, sizes  # number of groups
    big["simulation"]["band_grids"] = False
    sizes = [len(g) for g in fc.plan(fc.validate(big, base_dir=ROOT), base_dir=ROOT, cores=2)["band_groups"]["default"]]
    assert sizes[0] == sizes[1] == sizes[2], sizes
    assert fc.band_cost_factor((20.0, 20.0), 1000.0, 4.0) == pytest.approx(1 / (2.5 ** 2 * 2))
    assert fc.band_cost_factor((20.0, 20.0), 1000.0, 30.0) == 1.0


def _resources(cfg: dict, **kw) -> dict:
    cfg = fc.validate(cfg, base_dir=ROOT)
    return fc.job_resources(cfg, fc.plan(cfg, base_dir=ROOT, cores=2), base_dir=ROOT, **kw)


def test_job_resources_cover_every_rule_and_follow_the_plan(default):
    """Cluster requests (cpus_per_task, mem_mb, runtime) for every rule of the
    workflow, from the plan: threads, model size, nt, shots per job."""
    import re

    rules = {m for f in (ROOT / "workflow" / "rules").glob("*.smk")
             for m in re.findall(r"^rule (\w+):", f.read_text(), re.M)}
    res = _resources(default)
    assert set(res) == rules, set(res) ^ rules
    for r, v in res.items():
        assert set(v) == {"cpus_per_task", "mem_mb", "runtime"}
        assert v["mem_mb"] >= fc.JOB_BASE_MB and v["runtime"] >= fc.MIN_RUNTIME_MINUTES, (r, v)
    # threads: the shot jobs' execution.threads; observed/invert_band as the workflow says; 1 for the rest
    cfg = copy.deepcopy(default)
    cfg["execution"] = {"threads": 4}
    res = _resources(cfg, whole_job_threads=8)
    assert res["shot_gradient"]["cpus_per_task"] == res["trial"]["cpus_per_task"] == 4
    assert res["observed"]["cpus_per_task"] == res["invert_band"]["cpus_per_task"] == 8
    assert res["gradient_sum"]["cpus_per_task"] == res["band_data"]["cpus_per_task"] == 1

    big = copy.deepcopy(default)                       # Marmousi2-sized, one job per stage
    big["true_model"]["shape"] = [176, 851]
    big["acquisition"].update(n_shots=48, n_receivers=170)
    big["simulation"].update(t_max=5.0, band_grids=False)   # compute on the model grid: the estimate exactly
    big["inversion"]["bounds"] = [1000.0, 4800.0]
    big["inversion"]["bands"] = [{"fmin": 1.5, "fmax": 9.0, "iterations": 10}]
    big["execution"] = {"shots_per_job": 6}
    r6 = _resources(big)
    big["execution"] = {"shots_per_job": 48}
    r48 = _resources(big)
    assert r48["shot_gradient"]["runtime"] > r6["shot_gradient"]["runtime"] == fc.MIN_RUNTIME_MINUTES
    assert r48["shot_gradient"]["runtime"] == pytest.approx(
        fc.RUNTIME_SAFETY * (48 * fc.shot_seconds((176, 851), 2705) + fc.JOB_START_SECONDS) / 60, abs=1)
    longer = copy.deepcopy(big)
    longer["simulation"]["t_max"] = 10.0               # more samples: more data, more compute
    r = _resources(longer)
    assert r["band_data"]["mem_mb"] > r48["band_data"]["mem_mb"] and r["trial"]["mem_mb"] > r48["trial"]["mem_mb"]
    assert r["shot_gradient"]["runtime"] > r48["shot_gradient"]["runtime"]
    # a gradient keeps at most the memory budget for its reverse sweep, however long the record
    store = (r["shot_gradient"]["mem_mb"] - r["trial"]["mem_mb"]) / fc.MEMORY_SAFETY
    assert store <= fc.GRADIENT_MEMORY_BUDGET / 1e6 + 100
    # above the peak memory measured on this machine: each job's "peak memory" log line for this
    # config's first iteration with --cores 1 (the shot job that compiled the kernels: 942 MB, the
    # others 690-696), docs/pipeline.md "Running on a cluster"
    for rule, peak in (("observed", 428), ("band_data", 2290), ("shot_gradient", 942), ("gradient_sum", 208),
                       ("direction", 192), ("trial", 351)):
        assert r6[rule]["mem_mb"] >= 1.2 * peak, (rule, r6[rule])


def test_cluster_estimates_match_the_engine():
    """The planner's copies of engine facts (it does not import the engine)."""
    from fwi_core import engine
    from fwi_core.traces.signal import butterworth_padding

    assert fc.GRADIENT_MEMORY_BUDGET == engine.DEFAULT_MEMORY_BUDGET
    for dt, f, order, highpass in [(0.00185, 1.5, 4, True), (0.00185, 3.0, 4, False), (0.001, 5.0, 6, False),
                                   (0.002, 2.0, 2, True)]:
        kw = {"fmin": f} if highpass else {"fmax": f}
        assert fc.filter_padding(dt, f, order) == butterworth_padding(dt, order=order, **kw)


def test_localrules_are_the_light_rules():
    """The Snakefile's `localrules` (jobs run by the driver on a cluster) are
    the rules the resource planner counts as light, and nothing else."""
    import re

    block = re.search(r"^localrules:\n((?:    \w+,?\n)+)", (ROOT / "Snakefile").read_text(), re.M)
    assert block, "no localrules block in the Snakefile"
    assert set(re.findall(r"\w+", block.group(1))) == set(fc.LOCAL_RULES) | {"all"}
    assert not set(fc.LOCAL_RULES) & set(fc.SHOT_RULES + fc.WHOLE_RULES)


def test_driver_memory_warning_and_failure_hints(default):
    res = _resources(default)
    need = max(res[r]["mem_mb"] for r in fc.LOCAL_RULES)
    assert fc.driver_memory_warning(res, {}) is None                      # not in an allocation
    assert fc.driver_memory_warning(res, {"FWI_DRIVER_MEM_MB": str(need)}) is None
    w = fc.driver_memory_warning(res, {"FWI_DRIVER_MEM_MB": str(need - 1)})
    assert w and f"--mem={need}" in w and f"{need - 1} MB" in w
    assert fc.failure_hints("all jobs finished") == []
    refused = fc.failure_hints("SLURM sbatch failed. The error message was 'sbatch: error: Memory "
                               "specification can not be satisfied'")
    assert len(refused) == 1 and "refused a job at submission" in refused[0] and "--set-resources" in refused[0]
    assert len(fc.failure_hints("status is: 'OUT_OF_MEMORY' ... status is: 'TIMEOUT'")) == 2


def test_snakemake_rejects_bad_config_cleanly(tmp_path, default):
    default["inversion"]["optimizer"]["method"] = "bfgs"
    default["inversion"]["precondition"]["smothing"] = 1
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(default))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                        "--configfile", str(p), "--cores", "1"], capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "inversion.optimizer.method" in out and "'lbfgs'" in out
    assert "unknown key 'inversion.precondition.smothing'" in out
    assert "Traceback" not in out


def test_wavelet_delay_checked(default):
    d = copy.deepcopy(default)
    d["wavelet"]["delay"] = "late"
    assert "wavelet.delay" in _errors(d)
    d["wavelet"]["delay"] = 5.0
    msg = _errors(d)
    assert "wavelet.delay" in msg and "null" in msg and "t_max" in msg
    d["wavelet"]["delay"] = 0.5
    assert fc.validate(d)["wavelet"]["delay"] == 0.5
    assert fc.validate(default)["wavelet"]["delay"] is None


def test_lowest_band_sets_the_automatic_delay(default):
    cfg = fc.validate(default)
    cfg["runs"]["other"] = copy.deepcopy(cfg["runs"]["default"])
    cfg["runs"]["other"]["bands"] = [{"fmin": 2.0, "fmax": 6.0, "iterations": 1, "order": 6}]
    assert fc.lowest_band(cfg) == {"fmin": 2.0, "fmax": 6.0, "order": 6}
    del cfg["runs"]["other"]
    low = min(b["fmax"] for b in cfg["runs"]["default"]["bands"])
    assert fc.lowest_band(cfg) == {"fmin": None, "fmax": low, "order": cfg["runs"]["default"]["filter_order"]}


def test_conditioning_validated(default):
    d = copy.deepcopy(default)
    d["inversion"]["conditioning"] = {"normalize": "rms", "mute_before_arrival": {"t0": 0.1},
                                      "time_window": {"tmin": 1.0, "tmax": 0.5}, "offset": {}}
    d["inversion"]["bands"][0]["max_offset"] = -5
    msg = _errors(d)
    assert "inversion.conditioning.normalize" in msg and "'none'" in msg and "'max'" in msg and "'l2'" in msg
    assert "inversion.conditioning.mute_before_arrival" in msg and "velocity" in msg
    assert "unknown key 'inversion.conditioning.offset'" in msg and "offsets" in msg
    assert "max_offset" in msg
    d = copy.deepcopy(default)
    d["inversion"]["conditioning"] = {"time_window": {"tmin": 1.0, "tmax": 0.5}, "offsets": {"min": 500, "max": 100}}
    msg = _errors(d)
    assert "conditioning.time_window.tmin" in msg and "conditioning.offsets.max" in msg
    d["inversion"]["conditioning"] = {"mute_before_arrival": {"velocity": 1500.0}, "normalize": "l2"}
    cfg = fc.validate(d)
    c = cfg["runs"]["default"]["conditioning"]
    assert c["mute_before_arrival"] == {"velocity": 1500.0, "t0": 0.0, "taper": 0.0} and c["normalize"] == "l2"
    assert cfg["runs"]["default"]["bands"][0]["max_offset"] is None
