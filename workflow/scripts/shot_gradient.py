from _common import Job, acquisition, band_data
from fwi_core import artifacts, inversion
from fwi_core.inversion import conditioning

job = Job(snakemake, "shot_gradient")
misfit, sim, vmax = job.spec["misfit"], job.spec["simulation"], job.spec["vmax"]
vp = artifacts.read(snakemake.input.model, "vp")
job.uses_engine(vp.ndim)
d, w = band_data(snakemake.input.data)
acq = acquisition(snakemake.input.acq)
ds = inversion.shot_gradients(vp, acq, w, d, job.shots, sim,
                              inversion.make_misfit(misfit["name"], misfit.get("params")), log=job.log.info,
                              vmax=vmax, num_threads=job.threads,
                              conditioning=conditioning.band_spec(job.spec["conditioning"],
                                                                           {"max_offset": job.spec["max_offset"]}))
job.write(ds, snakemake.output[0])
