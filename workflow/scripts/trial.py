from _common import Job, acquisition, band_data
from fwi_core import artifacts, conditioning, inversion

job = Job(snakemake, "trial")
misfit, bounds, sim, (cond, max_offset) = job.spec
vp = artifacts.read(snakemake.input.model, "vp")
state = artifacts.open_dataset(snakemake.input.direction)
d, w = band_data(snakemake.input.data)
ds = inversion.shot_trials(vp, state, acquisition(snakemake.input.acq), w, d, job.shots, bounds, sim,
                           inversion.make_misfit(misfit["name"], misfit.get("params")), job.threads,
                           conditioning.band_spec(cond, {"max_offset": max_offset}))
job.write(ds, snakemake.output[0])
