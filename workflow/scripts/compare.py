import json

from _common import Job
from fwi_core.report import plotting
from fwi_core import report

job = Job(snakemake, "compare")
rows = []
for p in snakemake.input.summaries:
    with open(p) as f:
        rows.append(json.load(f))
keys = ["run", "model_error_initial", "model_error_final", "model_error_reduction", "misfit_reduction",
        "misfit_decreased_in_every_band", "line_search_failures", "iterations", "compute_s"]
report.write_csv(rows, snakemake.output.table, [k for k in keys if any(k in r for r in rows)])
plotting.plot_comparison(rows, snakemake.output.plot)
for r in rows:
    job.log.info(json.dumps(r))
