from _common import ROOT, Job
from fwi_core import artifacts, models

job = Job(snakemake, "initial_model")
true = artifacts.read(snakemake.input.true[0], "vp") if snakemake.input.true else None
vp = models.from_source(job.spec[0], base_dir=ROOT, true_model=true)
job.write(vp, snakemake.output[0])
