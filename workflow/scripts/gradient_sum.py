from _common import Job, acquisition
from fwi_core import artifacts, inversion

job = Job(snakemake, "gradient_sum")
precond, fmax = job.spec["precondition"], job.spec["fmax"]
vp = artifacts.read(snakemake.input.model, "vp")
parts = [artifacts.open_dataset(p) for p in snakemake.input.parts]  # fixed (shot) order
ds = inversion.combine_gradients(vp, parts, acquisition(snakemake.input.acq), {"fmax": fmax}, precond)
job.log.info(inversion.gradient_message(ds))
job.write(ds, snakemake.output[0], J=ds.attrs["J"])
