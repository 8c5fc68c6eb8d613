from _common import ROOT, Job
from fwi_core import artifacts
from fwi_core.survey import models

job = Job(snakemake, "initial_model")
spec, bounds = job.spec["source"], job.spec["bounds"]
true = artifacts.read(snakemake.input.true[0], "vp") if snakemake.input.true else None
vp = models.from_source(spec, base_dir=ROOT, true_model=true)
key = f"runs.{job.run}.initial"
models.check_entry(vp, key, models.source_description(spec), bounds, f"runs.{job.run}.bounds",
                   like=true, like_where="true_model")
job.log.info(f"initial model {vp.shape}, {float(vp.min()):.0f}-{float(vp.max()):.0f} m/s, "
             f"within the bounds [{bounds[0]:g}, {bounds[1]:g}] m/s")
job.write(vp, snakemake.output[0])
