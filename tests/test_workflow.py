"""The workflow as Snakemake sees it, for every config shipped in config/:
it plans (a dry run) both with the plan's own choice of jobs and with one job
per stage forced, and `snakemake --lint` finds nothing but the findings that
docs/pipeline.md ("Lint") justifies."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMK = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def _skip_without_input(cfg: Path) -> None:
    """The SEG-Y example configs read shot files that `python
    benchmarks/segy_example.py make` writes (from ../shared/data, minutes of
    modelling): without them Snakemake cannot plan those configs."""
    import glob

    import yaml

    obs = (yaml.safe_load(cfg.read_text()) or {}).get("observed") or {}
    if obs.get("source") == "segy" and not glob.glob(str(ROOT / obs["path"])):
        pytest.skip(f"{cfg.name} reads {obs['path']}, made by `python benchmarks/segy_example.py make`")


#: Lint titles with a reason in docs/pipeline.md not to follow them.
JUSTIFIED = {"Specify a conda environment or container for each rule."}


def _smk(tmp_path, cfg, *args):
    _skip_without_input(cfg)
    return subprocess.run(SMK + ["-d", str(tmp_path), "--configfile", str(cfg), *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fuse", ["plan", "stages"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_shipped_configs_plan_in_both_execution_modes(tmp_path, cfg, fuse):
    extra = [] if fuse == "plan" else ["--config", "execution={fuse_bands: false}"]
    r = _smk(tmp_path, cfg, "-n", "--quiet", "rules", "--cores", "2", *extra)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert jobs.get("all") == "1" and int(jobs["compare"]) == 1, out[-2000:]
    assert int(jobs["final_model"]) == int(jobs["report_run"]) >= 1
    if fuse == "stages":
        assert "invert_band" not in jobs and int(jobs["shot_gradient"]) >= int(jobs["update"]) >= 1
    else:  # whatever the plan chose, one of the two families makes the models
        assert ("invert_band" in jobs) != ("update" in jobs)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_lint_finds_only_justified_findings(tmp_path, cfg):
    r = _smk(tmp_path, cfg, "--lint")
    out = r.stdout + r.stderr
    titles = set(re.findall(r"^\s+\* (.+?):$", out, re.M))
    assert titles or r.returncode == 0, f"lint failed and named no finding:\n{out[-3000:]}"
    assert titles <= JUSTIFIED, f"unjustified lint findings: {sorted(titles - JUSTIFIED)}\n{out[-3000:]}"
    assert "Lints for snakefile" not in out, out[-3000:]
    assert "Traceback" not in out and "Error" not in out, out[-3000:]
