from _common import Job
from fwi_core import artifacts, inversion

job = Job(snakemake, "direction")
opt, ls = job.spec["optimizer"], job.spec["line_search"]
vp = artifacts.read(snakemake.input.model, "vp")
grad = artifacts.open_dataset(snakemake.input.gradient)
prev = artifacts.open_dataset(snakemake.input.prev[0]) if snakemake.input.prev else None
# step scale / reset come from the previous update (model attrs) within a band
step_scale = vp.attrs.get("step_scale") if prev is not None else None
reset = bool(vp.attrs.get("reset", False)) if prev is not None else False
ds = inversion.compute_direction(vp, grad, prev, opt, ls, step_scale, reset)
job.log.info(inversion.direction_message(ds))
job.write(ds, snakemake.output[0])
