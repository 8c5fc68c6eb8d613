# Cluster runs (Snakemake's SLURM executor, workflow/profiles/slurm): what each
# rule's job asks the cluster for, and the driver's messages. A run on one
# machine (`snakemake --cores N`) passes the same resources to its jobs and
# never looks at them.


def cluster(rule):
    """A rule's `resources:`: fwi_core.config.job_resources for the plan
    (cpus_per_task, mem_mb in MB, runtime in minutes). A retried job asks for
    half as much memory again per attempt and the runtime times the attempt."""
    r = RESOURCES[rule]
    return {
        "cpus_per_task": r["cpus_per_task"],
        "mem_mb": lambda wildcards, attempt: int(r["mem_mb"] * (1 + 0.5 * (attempt - 1))),
        "runtime": lambda wildcards, attempt: r["runtime"] * attempt,
    }


def cluster_onstart():
    """The driver logs the submitted jobs' requests, and warns when it runs in
    a SLURM allocation smaller than its local jobs (localrules) need."""
    sys.stderr.write(f"cluster requests per job (retries ask for more): {fwicfg.requests_summary(RESOURCES)}\n")
    warning = fwicfg.driver_memory_warning(RESOURCES)
    if warning:
        sys.stderr.write(f"WARNING: {warning}\n")


def cluster_onerror(log):
    """A cluster run that failed: name what the cluster said and what to do.
    ``log``: Snakemake's log file of this run."""
    text = ""
    for path in [log] if isinstance(log, (str, os.PathLike)) else list(log or []):
        try:
            with open(path) as f:
                text += f.read()
        except OSError:
            pass
    for hint in fwicfg.failure_hints(text):
        sys.stderr.write(f"\nFWI workflow on a cluster: {hint} (docs/pipeline.md, \"Running on a cluster\")\n\n")
