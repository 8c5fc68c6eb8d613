"""What a cluster run needs from the config: each rule's request to the
scheduler (CPUs, memory, wall time) estimated from the plan, which rules run
in the driver instead, and the driver's messages (its own allocation too
small, a job the cluster refused or ended). No scheduler is imported: the
workflow hands these to Snakemake's SLURM executor (``workflow/rules/cluster.smk``,
docs/pipeline.md "Running on a cluster")."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping

from .checks import DATA_COPIES_PER_JOB, n_steps, run_dt, survey_counts
from .plan import FORWARDS_PER_SHOT, JOB_START_SECONDS, band_cost_factor, run_grid, shot_seconds

#: Peak memory (MB) of a job that holds (almost) nothing: the interpreter,
#: numpy, xarray, zarr, numba and the cached kernels; 145-280 MB measured on
#: the default model (peak RSS of every rule's job), with a margin.
JOB_BASE_MB = 400
#: Bytes per padded grid point of one shot being propagated: the wavefields,
#: CPML memory variables and the float64 gradient/illumination accumulators.
WAVEFIELD_BYTES_PER_POINT = 128
#: Memory (bytes) a gradient may keep for its reverse sweep (boundary records
#: or checkpoints), shared by the shots a job runs at once:
#: ``fwi_core.engine.DEFAULT_MEMORY_BUDGET`` (the config does not import the
#: engine; a test keeps the two equal).
GRADIENT_MEMORY_BUDGET = 512 * 2 ** 20
#: The estimated memory above :data:`JOB_BASE_MB` is multiplied by this.
MEMORY_SAFETY = 1.5
#: The estimated compute (this machine's single-thread speed,
#: :data:`fwi_core.config.CELL_UPDATES_PER_SECOND`) is multiplied by this for
#: the wall-time limit, and no limit is below :data:`MIN_RUNTIME_MINUTES`: a
#: node slower than the estimate, or shared, must not hit the limit.
RUNTIME_SAFETY = 4.0
MIN_RUNTIME_MINUTES = 10
#: Rules whose jobs compute shots: one job per shot group and stage.
SHOT_RULES = ("shot_gradient", "trial")
#: Rules whose jobs model every shot (the observed data, fused bands).
WHOLE_RULES = ("observed", "invert_band", "export")
#: Rules that run in the driver on a cluster (the Snakefile's `localrules`):
#: seconds of light work each, where a cluster job would add a queue round
#: trip per level of the DAG.
LOCAL_RULES = ("true_model", "initial_model", "acquisition", "wavelet", "band_data", "gradient_sum",
               "direction", "update", "final_model", "report_run", "compare")


def job_resources(cfg: dict, plan: dict, base_dir=None, whole_job_threads: int | None = None) -> dict:
    """Cluster resources of every rule's job, from the plan: ``{rule:
    {cpus_per_task, mem_mb, runtime}}`` (CPUs, MB, minutes), the same for all
    jobs of a rule (a SLURM job array takes one request for all its jobs).

    - ``cpus_per_task``: the job's threads: ``execution.threads`` for the shot
      rules, ``whole_job_threads`` (default ``execution.threads``) for the
      ``observed`` and fused ``invert_band`` jobs, 1 for the others.
    - ``mem_mb``: :data:`JOB_BASE_MB` plus, times :data:`MEMORY_SAFETY`, what
      the job holds: copies of the observed data (shots x receivers x nt,
      float32; one per shot running at once and one more; ``band_data``:
      float64 copies padded for the filter, :func:`filter_padding`), the
      wavefields of the shots running at once (:data:`WAVEFIELD_BYTES_PER_POINT`
      per padded grid point), a gradient's reverse-sweep store (at most
      :data:`GRADIENT_MEMORY_BUDGET`, less when the whole wavefield is
      smaller), model-sized float64 arrays (optimiser state, the report's
      iterations).
    - ``runtime``: :data:`RUNTIME_SAFETY` times the estimated compute of the
      largest job of the rule (shots per job, the band's cost on its own grid,
      :func:`fwi_core.config.shot_seconds` per shot, divided by the threads)
      plus its start-up, at least :data:`MIN_RUNTIME_MINUTES`.

    Estimates on the model grid and the run's time step, so upper bounds for
    bands on coarser grids. Plain numbers: the workflow scales ``mem_mb`` and
    ``runtime`` with Snakemake's ``attempt`` (a retried job asks for more).
    """
    ex, sim = cfg["execution"], cfg["simulation"]
    threads = int(ex["threads"])
    whole = int(whole_job_threads or threads)
    cpus = {r: 1 for r in LOCAL_RULES} | {r: threads for r in SHOT_RULES} | {r: whole for r in WHOLE_RULES}
    info = run_grid(cfg, base_dir)
    if info is None:  # no model known before the jobs run: generous fixed requests
        return {r: {"cpus_per_task": c, "mem_mb": 4000, "runtime": 60} for r, c in cpus.items()}
    shape, spacing = tuple(info["shape"]), tuple(info["spacing"])
    n_shots, n_rec = survey_counts(cfg, base_dir, len(shape))   # the acquisition block's, or the SEG-Y headers'
    pml = int(sim["pml_width"])
    dt = run_dt(cfg, info)
    nt = n_steps(float(sim["t_max"]), dt)
    cells = math.prod(shape)
    padded = math.prod(n + 2 * pml for n in shape)
    data = 4.0 * n_shots * n_rec * nt
    wave = float(WAVEFIELD_BYTES_PER_POINT * padded)
    one_shot = shot_seconds(shape, nt, pml)
    runs = list(cfg["runs"].values())
    lbfgs = max(int(inv["optimizer"].get("memory", 5)) for inv in runs)
    n_iter = max(sum(int(b["iterations"]) for b in inv["bands"]) for inv in runs)

    def factor(inv, band):
        return band_cost_factor(spacing, inv["bounds"][0], band["fmax"], sim["space_order"]) \
            if sim["band_grids"] else 1.0

    # the largest shot job: shots of its group times the cost of its band
    groups = [(_group_size(g), factor(inv, band))
              for inv, per_band in zip(runs, plan["band_groups"].values())
              for band, gs in zip(inv["bands"], per_band) for g in gs]
    per_job = max(n for n, _ in groups)
    shot_job_seconds = max(n * f for n, f in groups) * one_shot / threads
    workers = min(per_job, threads)
    whole_workers = min(n_shots, whole)
    # a fused job: its longest chunk of bands, all shots, every iteration
    chunk_seconds = max((sum(int(inv["bands"][b]["iterations"]) * factor(inv, inv["bands"][b]) for b in chunk)
                         for inv, chunks in zip(runs, (plan.get("band_chunks") or {}).values()) for chunk in chunks),
                        default=0.0) * n_shots * one_shot / whole
    optimizer = (2 * lbfgs + 8) * 8.0 * cells
    pad = max(filter_padding(dt, b.get("fmin") or b["fmax"], int(b.get("order") or inv["filter_order"]))
              for inv in runs for b in inv["bands"])

    def grad_store(w):
        return min(float(GRADIENT_MEMORY_BUDGET), w * 4.0 * nt * padded)

    need = {  # bytes above the base, per rule
        "shot_gradient": (1 + workers) * data + workers * wave + grad_store(workers),
        "trial": (1 + workers) * data + workers * wave,
        "observed": DATA_COPIES_PER_JOB * data + whole_workers * wave,
        # the last band's observed, synthetic and residual data, and the models it writes
        "export": DATA_COPIES_PER_JOB * data + whole_workers * wave,
        "invert_band": (1 + whole_workers) * data + whole_workers * wave + grad_store(whole_workers) + optimizer,
        # float32 in and out, and about four float64 copies of the data padded for the filter
        "band_data": 2 * data + 4 * 2 * data * (nt + 2 * pad) / nt,
        "gradient_sum": optimizer, "direction": optimizer, "update": optimizer,
        "report_run": 2 * data + 3 * n_iter * 8.0 * cells,
    }
    seconds = {
        **{r: shot_job_seconds for r in SHOT_RULES},
        "observed": n_shots * one_shot / FORWARDS_PER_SHOT / whole,
        "export": n_shots * one_shot / FORWARDS_PER_SHOT / whole,
        "invert_band": chunk_seconds,
    }
    out = {}
    for rule, c in cpus.items():
        extra = need.get(rule, 8 * 8.0 * cells)
        mem = JOB_BASE_MB + MEMORY_SAFETY * extra / 1e6
        sec = JOB_START_SECONDS + seconds.get(rule, 0.0)
        out[rule] = {"cpus_per_task": int(c), "mem_mb": int(math.ceil(mem / 100.0) * 100),
                     "runtime": int(max(MIN_RUNTIME_MINUTES, math.ceil(RUNTIME_SAFETY * sec / 60.0)))}
    return out


def filter_padding(dt: float, f_corner: float, order: int, tol: float = 1e-8) -> int:
    """About the number of samples the zero-phase Butterworth pads each end of
    a trace with (:func:`fwi_core.traces.signal.butterworth_padding`, without
    scipy, for planning): until its slowest pole, decaying by ``2 pi f_corner
    dt sin(pi / (2 order))`` per sample (the analog prototype), is down to
    ``tol``; about ``7.7 / (f_corner dt)`` for order 4. ``dt``: s;
    ``f_corner``: Hz, the band's ``fmin``, or ``fmax`` for a low-pass."""
    decay = 2.0 * math.pi * float(f_corner) * float(dt) * math.sin(math.pi / (2.0 * int(order)))
    return int(math.ceil(math.log(1.0 / tol) / decay)) + 1


def _group_size(name: str) -> int:
    """Shots of a group named "first-last" (inclusive)."""
    a, b = (int(x) for x in name.split("-"))
    return b - a + 1


def driver_memory_warning(resources: dict, env: Mapping[str, str] | None = None) -> str | None:
    """A warning when the driver runs in a SLURM allocation with less memory
    than the largest of its local jobs (:data:`LOCAL_RULES`) asks for in
    ``resources`` (:func:`job_resources`); None otherwise. The allocation's
    memory (MB) is ``FWI_DRIVER_MEM_MB`` in ``env`` (default ``os.environ``),
    which ``workflow/slurm/driver.sbatch`` sets: the executor removes every
    ``SLURM_*`` variable from the driver's environment before the run starts."""
    env = os.environ if env is None else env
    have = env.get("FWI_DRIVER_MEM_MB")
    need, rule = max((resources[r]["mem_mb"], r) for r in LOCAL_RULES if r in resources)
    if not have or int(have) >= need:
        return None
    return (f"this driver's allocation has {int(have)} MB; its local job {rule} needs about {need} MB: "
            f"submit the driver with --mem={need} or more (workflow/slurm/driver.sbatch)")


def requests_summary(resources: dict) -> str:
    """One line: what each submitted rule's job asks for (CPUs, MB, minutes)."""
    return "; ".join(f"{r} {resources[r]['cpus_per_task']} CPU, {resources[r]['mem_mb']} MB, "
                     f"{resources[r]['runtime']} min" for r in (*WHOLE_RULES, *SHOT_RULES) if r in resources)


#: What Snakemake's log says when the cluster refused or ended a job, and what to do.
_FAILURE_HINTS = (
    ("SLURM sbatch failed", "the cluster refused a job at submission (the sbatch call and SLURM's reason are "
     "above). Usually a request above what the partition allows (memory, CPUs, time): send the rule to a "
     "partition that has it (--set-resources RULE:slurm_partition=NAME), make the jobs smaller "
     "(execution.shots_per_job, execution.threads), or set the request yourself "
     "(--set-resources RULE:mem_mb=N)."),
    ("OUT_OF_MEMORY", "a job went over its memory request (each retry asks for 50 % more): raise it "
     "with --set-resources RULE:mem_mb=N, or lower execution.shots_per_job / execution.threads."),
    ("'TIMEOUT'", "a job hit its time limit (each retry asks for the limit times the attempt): raise it "
     "with --set-resources RULE:runtime=MINUTES."),
)


def failure_hints(log_text: str) -> list[str]:
    """What to do about the cluster failures that Snakemake's log of a failed
    run (``log_text``) shows, one hint per kind (docs/pipeline.md, "Running on
    a cluster")."""
    return [hint for key, hint in _FAILURE_HINTS if key in log_text]
