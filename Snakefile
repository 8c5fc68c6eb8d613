# Multi-scale full-waveform inversion. Run:  snakemake --cores all
# Config: config/config.yaml unless --configfile is given (a complete config then);
# validated against fwi_core/config/schema.yaml before any job runs.
import os
import sys

# fwi_core loads its engine (numba, scipy, xarray) on first use only, so
# validation and planning cost about 0.1 s on every `snakemake` call.
if workflow.basedir not in sys.path:
    sys.path.insert(0, workflow.basedir)
import fwi_core.config as fwicfg

if not workflow.overwrite_configfiles:
    configfile: os.path.join(workflow.basedir, "config", "config.yaml")

try:
    for _f in workflow.configfiles:  # Snakemake's loader keeps the last of duplicate keys
        fwicfg.load_yaml(_f)
    CFG = fwicfg.validate(config, base_dir=workflow.basedir)
except fwicfg.ConfigError as err:
    sys.stderr.write(f"\nFWI workflow: {err}\n\n")
    sys.exit(1)

try:
    _CORES = workflow.cores or 1
    _ONE_MACHINE = not workflow.remote_exec
except Exception:  # no --cores: a cluster executor's run (or --unlock, --report, ...)
    _CORES, _ONE_MACHINE = 1, False
# shot groups must not depend on --cores (file names, bitwise sums): plan with 2
PLAN = fwicfg.plan(CFG, base_dir=workflow.basedir, cores=2)
# Threads of the jobs that take a whole machine (observed, invert_band): all of
# --cores on one machine; on a cluster (no --cores where Snakemake submits, a
# job's own Snakemake inside its allocation) execution.threads, like the shot
# jobs, so that both sides agree on the job's CPUs.
WHOLE_THREADS = _CORES if _ONE_MACHINE else CFG["execution"]["threads"]
# Cluster requests per rule (cpus_per_task, mem_mb, runtime), from the plan
# (fwi_core.config.job_resources); not used by a run on one machine.
RESOURCES = fwicfg.job_resources(CFG, PLAN, base_dir=workflow.basedir, whole_job_threads=WHOLE_THREADS)


# Every rule family exists whatever the plan; the paths (common.smk: it_dir)
# decide which of them a run asks for: one job per shot group and stage
# (gradient.smk, update.smk), or consecutive bands fused into one job
# (band.smk, execution.fuse_bands) for small problems.
include: "workflow/rules/common.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gradient.smk"
include: "workflow/rules/update.smk"
include: "workflow/rules/band.smk"
include: "workflow/rules/report.smk"


# With a cluster executor these run where Snakemake runs (the driver), not as
# cluster jobs: each is seconds of light work, and a cluster job would cost a
# queue round trip per DAG level (docs/pipeline.md, "Running on a cluster").
# The shot jobs (shot_gradient, trial), observed and invert_band are submitted.
localrules:
    all,
    true_model,
    initial_model,
    acquisition,
    wavelet,
    band_data,
    gradient_sum,
    direction,
    update,
    final_model,
    report_run,
    compare,


onstart:
    # temporary stores that jobs killed in an earlier run left behind
    from fwi_core.artifacts import remove_stale

    for _p in remove_stale(CFG["results"]):
        sys.stderr.write(f"removed {_p} (left by a killed job)\n")
    if not _ONE_MACHINE:
        cluster_onstart()


onerror:
    if not _ONE_MACHINE:
        cluster_onerror(log)


rule all:
    input:
        final_targets(),
    default_target: True
