from _common import ROOT, Job
from fwi_core.survey import models

job = Job(snakemake, "true_model")
spec = job.spec["source"]
vp = models.from_source(spec, base_dir=ROOT)
models.check_entry(vp, "true_model", models.source_description(spec))
job.log.info(f"true model {vp.shape}, {float(vp.min()):.0f}-{float(vp.max()):.0f} m/s")
job.write(vp, snakemake.output[0])
