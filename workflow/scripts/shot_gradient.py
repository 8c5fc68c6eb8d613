from _common import Job, acquisition, band_data
from fwi_core import artifacts, conditioning, inversion

job = Job(snakemake, "shot_gradient")
misfit, sim, vmax, (cond, max_offset) = job.spec
vp = artifacts.read(snakemake.input.model, "vp")
d, w = band_data(snakemake.input.data)
acq = acquisition(snakemake.input.acq)
ds = inversion.shot_gradients(vp, acq, w, d, job.shots, sim,
                              inversion.make_misfit(misfit["name"], misfit.get("params")), log=job.log.info,
                              vmax=vmax, num_threads=job.threads,
                              conditioning=conditioning.band_spec(cond, {"max_offset": max_offset}))
job.write(ds, snakemake.output[0])
