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

# Snakemake finds a workflow profile only in profiles/default next to the Snakefile
# or the working directory; ours lives in workflow/profiles/default (fixed layout).
# Apply its two settings that matter for resume when it was not loaded (a CLI
# --workflow-profile or explicit flags still win because they change the defaults).
_PROFILE = fwicfg.load_yaml(os.path.join(workflow.basedir, "workflow", "profiles", "default", "config.yaml"))


def _dag_settings():
    # Snakemake 9 parses the Snakefile from DAGApi.__post_init__ and only then
    # attaches that DAGApi's settings to the workflow: find them on the stack.
    import inspect

    for fr in inspect.stack(0):
        ds = getattr(fr.frame.f_locals.get("self"), "dag_settings", None)
        if type(ds).__name__ == "DAGSettings":
            return ds
    return getattr(workflow, "dag_settings", None)


try:
    from snakemake.settings.types import RerunTrigger as _RT

    _ds = _dag_settings()
    if _PROFILE.get("rerun-incomplete") and not _ds.force_incomplete:
        _ds.force_incomplete = True
    if set(_ds.rerun_triggers) == set(_RT.all()) and _PROFILE.get("rerun-triggers"):
        _ds.rerun_triggers = frozenset(_RT.parse_choices_set(_PROFILE["rerun-triggers"]))
except Exception:  # other Snakemake versions: pass --workflow-profile workflow/profiles/default
    pass

try:
    _CORES = workflow.cores or 1
except Exception:  # --unlock, --report, ... without --cores
    _CORES = 1
# shot groups must not depend on --cores (file names, bitwise sums): plan with 2
PLAN = fwicfg.plan(CFG, base_dir=workflow.basedir, cores=2)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
if PLAN["fuse_bands"]:  # execution.fuse_bands: one job per band (small problems)
    include: "workflow/rules/band.smk"
else:                   # one job per shot group and stage
    include: "workflow/rules/gradient.smk"
    include: "workflow/rules/update.smk"
include: "workflow/rules/report.smk"


onstart:
    # temporary stores that jobs killed in an earlier run left behind
    from fwi_core.artifacts import remove_stale

    for _p in remove_stale(CFG["results"]):
        sys.stderr.write(f"removed {_p} (left by a killed job)\n")


rule all:
    input:
        final_targets(),
    default_target: True
