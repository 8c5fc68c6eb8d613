"""The workflow on a real SLURM through Snakemake's executor plugin.

Needs a running SLURM whose partition holds this machine, the plugin
(`pip install -e ".[slurm]"`) and FWI_SLURM_TEST=1; `.ci/slurm_test.sh` starts a
one-node cluster on localhost and runs this file. Skipped otherwise, so the
plain `pytest` needs no SLURM.

A tiny inversion (the default model, 4 shots in 2 shot jobs per stage, one
band, one iteration: three levels of cluster jobs, observed, shot_gradient and
trial) runs on this machine and on the cluster. On the cluster the driver runs
as a batch job (workflow/slurm/driver.sbatch) and is killed with SIGKILL while
its shot jobs run; the same sbatch command resumes the run (it cancels the
jobs the dead driver left and removes its lock), and one shot job of the
resumed run is cancelled with scancel, which the profile's retries submit
again. The final models are bitwise equal. A job the cluster refuses ends the
run with the workflow's hint.
"""
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

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.environ.get("FWI_SLURM_TEST") != "1",
                       reason="needs a SLURM cluster: FWI_SLURM_TEST=1 (.ci/slurm_test.sh starts one)"),
]

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "workflow" / "slurm" / "driver.sbatch"
#: This cluster has no accounting database: job states from squeue, no account
#: (docs/pipeline.md, "Running on a cluster").
CLUSTER_ARGS = ["--slurm-no-account", "--slurm-status-command", "squeue"]
SUBMITTED = re.compile(r"has been submitted with SLURM jobid|Submitted array job")
ACTIVE = "PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED"


def _config(d: Path) -> Path:
    """The default model and config: 4 shots, 2 per job, one band of one iteration."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["acquisition"]["n_shots"] = 4
    cfg["inversion"]["bands"] = [{"fmax": 3.0, "iterations": 1}]
    cfg["execution"] = {"shots_per_job": 2, "fuse_bands": False, "threads": 1}
    d.mkdir(parents=True, exist_ok=True)
    p = d / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _final(d: Path) -> np.ndarray:
    from fwi_core import artifacts

    return artifacts.read(d / "results" / "default" / "final_model.zarr", "vp").values


def _jobs(d: Path, states: str = "RUNNING") -> list[tuple[str, str]]:
    """(job id, comment) of the cluster jobs working in ``d`` in these states
    (the executor comments its jobs ``rule_<rule>...``)."""
    r = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i|%Z|%k"], capture_output=True, text=True,
                       check=True)
    out = []
    for line in r.stdout.splitlines():
        jid, wd, comment = (line.split("|") + ["", ""])[:3]
        if Path(wd).resolve() == d.resolve():
            out.append((jid, comment))
    return out


def _submit_driver(d: Path) -> str:
    """The driver as a batch job, submitted from ``d``: one CPU and 2 GB (this
    tiny run's local jobs need 600 MB); its job id."""
    r = subprocess.run(["sbatch", "--parsable", "--cpus-per-task=1", "--mem=2G", str(DRIVER),
                        "--configfile", str(d / "config.yaml"), *CLUSTER_ARGS],
                       cwd=d, env={**os.environ, "FWI_PROJECT": str(ROOT)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split(";")[0]


def _state(jid: str) -> tuple[str, str]:
    """(JobState, ExitCode) of a job (finished jobs stay known for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", jid], capture_output=True, text=True).stdout
    state = re.search(r"JobState=(\S+)", out)
    code = re.search(r"ExitCode=(\S+)", out)
    return (state.group(1) if state else "UNKNOWN", code.group(1) if code else "")


def _wait(jid: str, timeout: float, on_poll=None) -> str:
    """Wait for job ``jid`` to end (calling ``on_poll()`` every 0.3 s); its final state."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state, _ = _state(jid)
        if state not in ACTIVE.split(","):
            return state
        if on_poll:
            on_poll()
        time.sleep(0.3)
    raise AssertionError(f"job {jid} still {state} after {timeout} s")


def _log(d: Path, jid: str) -> str:
    p = d / f"fwi-driver-{jid}.log"
    return p.read_text() if p.exists() else f"(no {p})"


def test_slurm_run_driver_killed_resumed_and_job_retried_equals_local_bitwise(tmp_path):
    # the reference: the same config on this machine, the same threads per job
    local = tmp_path / "local"
    _config(local)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
                        str(local / "config.yaml"), "--cores", "2"], cwd=local, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    t_local = time.perf_counter() - t0
    reference = _final(local)

    d = tmp_path / "cluster"
    _config(d)
    # 1. the driver as a batch job, killed while its shot jobs run: SIGKILL to
    # each of its processes (scancel would send SIGTERM first, and Snakemake would
    # wait for its jobs), as when its node dies or it runs out of memory
    t0 = time.perf_counter()
    first = _submit_driver(d)
    deadline = time.time() + 300
    while time.time() < deadline and _state(first)[0] in ACTIVE.split(","):
        if any(c.startswith("rule_shot_gradient") for _, c in _jobs(d)):
            break
        time.sleep(0.3)
    assert _state(first)[0] == "RUNNING", f"the driver ended before it could be killed:\n{_log(d, first)[-4000:]}"
    pids = subprocess.run(["scontrol", "listpids", first], capture_output=True, text=True, check=True).stdout
    for pid in re.findall(r"^(\d+)\s", pids, re.M):   # the batch script, Snakemake and its local jobs
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait(first, 60)
    t_first = time.perf_counter() - t0
    orphans = {j for j, c in _jobs(d, ACTIVE) if c.startswith("rule_")}
    assert orphans, "no cluster job outlived the driver (nothing for the resume to clean up)"
    assert not (d / "results" / "default" / "final_model.zarr").exists()

    # 2. resume: the same sbatch command; one shot job of the resumed run is
    # cancelled (a job killed on its node) and the profile's retries redo it
    t0 = time.perf_counter()
    second = _submit_driver(d)
    cancelled = []

    def cancel_one_shot_job():
        if not cancelled:
            for jid, comment in _jobs(d):
                if comment.startswith("rule_shot_gradient") and jid not in orphans:
                    subprocess.run(["scancel", jid], check=True)
                    cancelled.append(jid)
                    break

    state = _wait(second, 300, cancel_one_shot_job)
    t_resume = time.perf_counter() - t0
    out = _log(d, second)
    assert state == "COMPLETED", f"driver {second}: {state}\n{out[-6000:]}"
    assert "cancelling jobs a previous driver left running here" in out, out[:3000]
    assert cancelled, "no shot job of the resumed run was seen running to cancel"
    assert "Trying to restart job" in out, out[-6000:]
    assert not _jobs(d, ACTIVE), "cluster jobs still active after the driver finished"
    assert np.array_equal(_final(d), reference), "the cluster's final model differs from the local run's"
    n1, n2 = len(SUBMITTED.findall(_log(d, first))), len(SUBMITTED.findall(out))
    print(f"\nlocal run {t_local:.0f} s; cluster: driver killed after {t_first:.0f} s ({len(orphans)} jobs left "
          f"behind), resumed run {t_resume:.0f} s; sbatch calls {n1} + {n2} (driver jobs not counted); "
          f"shot job {cancelled[0]} cancelled and retried; final models bitwise equal")


def test_a_job_the_cluster_refuses_names_the_fix(tmp_path):
    """The driver on a login node (driver.sbatch run directly) asks for more
    memory than the node has for the observed data: sbatch refuses it and the
    run ends with what to do."""
    from fwi_core import config as fc

    node = subprocess.run(["scontrol", "show", "node"], capture_output=True, text=True, check=True).stdout
    too_much = int(re.search(r"RealMemory=(\d+)", node).group(1)) + 1000
    d = tmp_path / "refused"
    _config(d)
    key = fc.data_key(fc.validate(yaml.safe_load((d / "config.yaml").read_text()), base_dir=ROOT))
    r = subprocess.run(["bash", str(DRIVER), "--configfile", str(d / "config.yaml"), *CLUSTER_ARGS,
                        f"results/data/{key}/observed.zarr", "--set-resources", f"observed:mem_mb={too_much}"],
                       cwd=d, env={**os.environ, "FWI_PROJECT": str(ROOT)}, capture_output=True, text=True,
                       timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    assert "SLURM sbatch failed" in out, out[-3000:]
    assert "FWI workflow on a cluster: the cluster refused a job at submission" in out, out[-3000:]
    assert not _jobs(d, ACTIVE)
    print("\n" + "\n".join(line for line in out.splitlines()
                           if "sbatch failed" in line or "FWI workflow on a cluster" in line))
