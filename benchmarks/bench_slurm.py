#!/usr/bin/env python
"""What localrules and job arrays save on SLURM: submissions and wall time.

Runs one small inversion (the default model, 4 shots in 2 shot jobs per stage,
one band of 2 iterations: 24 jobs) on this machine and then through
Snakemake's SLURM executor in several ways, each in a fresh directory, with
the driver on the "login node" (``workflow/slurm/driver.sbatch`` run
directly):

- ``local``: ``snakemake --cores 2``, the reference;
- ``shipped``: the SLURM profile as shipped (light jobs as localrules, the shot
  jobs of a stage as one job array, first status check after 4 s);
- ``first check 10 s``: the same with ``slurm-init-seconds-before-status-checks: 10``;
- ``no arrays``: localrules, every cluster job its own sbatch;
- ``no localrules``: one cluster job per job (shot jobs still in arrays), from a
  copy of the Snakefile without its ``localrules`` (removed afterwards);
- ``no localrules, no arrays``: one cluster job and one sbatch per job.

Prints a markdown table: sbatch calls, cluster jobs, wall time, and whether the
final model is bitwise equal to the local run's. Needs a running SLURM whose
partition holds this machine, without accounting (squeue for job states),
e.g. the CI's one-node cluster::

    .ci/slurm_test.sh start && python benchmarks/bench_slurm.py; .ci/slurm_test.sh stop

About 17 min on 2 cores. One run per variant: timings on a shared machine are
noisy by ~10 s.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "workflow" / "slurm" / "driver.sbatch"
NO_ACCOUNTING = ["--slurm-no-account", "--slurm-status-command", "squeue"]


def config(d: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["acquisition"]["n_shots"] = 4
    cfg["inversion"]["bands"] = [{"fmax": 3.0, "iterations": 2}]
    cfg["execution"] = {"shots_per_job": 2, "fuse_bands": False, "threads": 1}
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    return d / "config.yaml"


def final(d: Path) -> np.ndarray:
    from fwi_core import artifacts

    return artifacts.read(d / "results" / "default" / "final_model.zarr", "vp").values


def run(d: Path, cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    out = r.stdout + r.stderr
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed in {d}:\n{out[-4000:]}")
    return wall, out


def counts(out: str) -> tuple[int, int, int]:
    """(sbatch calls, cluster jobs, local jobs) from a driver's output."""
    single = len(re.findall(r"has been submitted with SLURM jobid", out))
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+)", out)
    local = len(re.findall(r"^localrule (?!all:)", out, re.M))
    return single + len(arrays), single + sum(len(a.split(",")) for a in arrays), local


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    if subprocess.run(["scontrol", "ping"], capture_output=True).returncode:
        sys.exit("no SLURM answers here: start one with .ci/slurm_test.sh start")
    tmp = Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    no_local = ROOT / ".Snakefile.no-localrules"
    no_local.write_text(re.sub(r"^localrules:\n(?:    \w+,?\n)+", "", (ROOT / "Snakefile").read_text(),
                               flags=re.M))
    rows = []
    try:
        d = tmp / "local"
        cfg = config(d)
        wall, out = run(d, [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
                            str(cfg), "--cores", "2"])
        reference = final(d)
        n = len(re.findall(r"^(?:local)?rule (?!all:)", out, re.M))
        rows.append(("local (`--cores 2`)", "-", "-", n, wall, True))
        variants = [
            ("shipped", []),
            ("first check 10 s", ["--slurm-init-seconds-before-status-checks", "10"]),
            ("no arrays", ["--slurm-array-jobs="]),
            ("no localrules", []),
            ("no localrules, no arrays", ["--slurm-array-jobs="]),
        ]
        for i, (name, extra) in enumerate(variants):
            d = tmp / f"v{i}"
            cfg = config(d)
            env = {"FWI_PROJECT": str(ROOT)}
            cmd = ["bash", str(DRIVER), "--configfile", str(cfg), *NO_ACCOUNTING, *extra]
            if name.startswith("no localrules"):
                # driver.sbatch runs $FWI_PROJECT/Snakefile: point it at the copy via -s (the last wins)
                cmd += ["-s", str(no_local)]
            wall, out = run(d, cmd, env)
            sb, jobs, local = counts(out)
            rows.append((name, sb, jobs, local, wall, bool(np.array_equal(final(d), reference))))
            print(f"{name}: {wall:.0f} s", file=sys.stderr)
    finally:
        no_local.unlink(missing_ok=True)
    print("| run | sbatch calls | cluster jobs | local jobs | wall (s) | final model = local |")
    print("|---|---|---|---|---|---|")
    for name, sb, jobs, local, wall, same in rows:
        print(f"| {name} | {sb} | {jobs} | {local} | {wall:.0f} | {'bitwise' if same else 'DIFFERS'} |")


if __name__ == "__main__":
    main()
