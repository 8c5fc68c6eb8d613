from _common import Job
from fwi_core import artifacts

job = Job(snakemake, "final_model")
vp = artifacts.read(snakemake.params.model, "vp")
job.write(vp, snakemake.output[0], source=str(snakemake.params.model))
