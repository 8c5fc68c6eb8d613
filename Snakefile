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
except Exception:  # --unlock, --report, ... without --cores
    _CORES = 1
# shot groups must not depend on --cores (file names, bitwise sums): plan with 2
PLAN = fwicfg.plan(CFG, base_dir=workflow.basedir, cores=2)


# Every rule family exists whatever the plan; the paths (common.smk: it_dir)
# decide which of them a run asks for: one job per shot group and stage
# (gradient.smk, update.smk), or consecutive bands fused into one job
# (band.smk, execution.fuse_bands) for small problems.
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gradient.smk"
include: "workflow/rules/update.smk"
include: "workflow/rules/band.smk"
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
