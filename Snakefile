# Multi-scale full-waveform inversion. Run:  snakemake --cores all
# Config: config/config.yaml unless --configfile is given (a complete config then);
# validated against workflow/schemas/config.schema.yaml before any job runs.
import os
import sys

sys.path.insert(0, workflow.basedir)
from fwi_core import config as fwicfg

if not workflow.overwrite_configfiles:
    configfile: os.path.join(workflow.basedir, "config", "config.yaml")

try:
    CFG = fwicfg.validate(config, base_dir=workflow.basedir)
except fwicfg.ConfigError as err:
    sys.stderr.write(f"\nFWI workflow: {err}\n\n")
    sys.exit(1)

PLAN = fwicfg.plan(CFG, base_dir=workflow.basedir, cores=workflow.cores or 1)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gradient.smk"
include: "workflow/rules/update.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        final_targets(),
    default_target: True
