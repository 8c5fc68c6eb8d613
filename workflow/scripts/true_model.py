from _common import ROOT, Job
from fwi_core import models

job = Job(snakemake, "true_model")
vp = models.from_source(job.spec[0], base_dir=ROOT)
job.log.info(f"true model {vp.shape}, {float(vp.min()):.0f}-{float(vp.max()):.0f} m/s")
job.write(vp, snakemake.output[0])
