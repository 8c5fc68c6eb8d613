from _common import Job, acquisition, band_data
from fwi_core import artifacts, inversion
from fwi_core.inversion import conditioning

job = Job(snakemake, "trial")
misfit, bounds, sim = job.spec["misfit"], job.spec["bounds"], job.spec["simulation"]
vp = artifacts.read(snakemake.input.model, "vp")
job.uses_engine(vp.ndim)
state = artifacts.open_dataset(snakemake.input.direction)
d, w = band_data(snakemake.input.data)
ds = inversion.shot_trials(vp, state, acquisition(snakemake.input.acq), w, d, job.shots, bounds, sim,
                           inversion.make_misfit(misfit["name"], misfit.get("params")), job.threads,
                           conditioning.band_spec(job.spec["conditioning"], {"max_offset": job.spec["max_offset"]}))
job.write(ds, snakemake.output[0])
