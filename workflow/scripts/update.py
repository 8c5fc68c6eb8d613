from _common import Job
from fwi_core import artifacts, inversion

job = Job(snakemake, "update")
ls, bounds = job.spec["line_search"], job.spec["bounds"]
vp = artifacts.read(snakemake.input.model, "vp")
state = artifacts.open_dataset(snakemake.input.direction)
trials = [artifacts.open_dataset(p) for p in snakemake.input.trials]  # fixed (shot) order
new, info = inversion.finish_iteration(vp, state, trials, bounds, ls)
(job.log.warning if info["status"] != "armijo" else job.log.info)(info["message"])
job.write(new, snakemake.output[0], **info)
