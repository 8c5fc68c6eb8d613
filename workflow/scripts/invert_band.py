import time
from pathlib import Path

from _common import Job, acquisition, band_data
from fwi_core import artifacts, inversion, report
from fwi_core.config import iteration_subdir
from fwi_core.inversion import conditioning

job = Job(snakemake, "invert_band")
sim, misfit = job.spec["simulation"], job.spec["misfit"]
cfg = {k: job.spec[k] for k in ("bounds", "precondition", "optimizer", "line_search")}
vp = artifacts.read(snakemake.params.model, "vp")
job.uses_engine(vp.ndim)
acq = acquisition(snakemake.input.acq)
fn = inversion.make_misfit(misfit["name"], misfit.get("params"))
out = Path(snakemake.output[0])
per_band = job.band_iterations()   # of every band of the run
first = job.spec["bands"][0]["b"]
took, t_job = [], time.perf_counter()   # seconds per iteration
# every store goes into a temporary sibling of the job's directory, renamed into
# place when all bands are done: the directory is whole or absent
with artifacts.replacing(out) as tmp:
    for part, data in zip(job.spec["bands"], snakemake.input.data):
        b, band = part["b"], part["band"]
        job.band = b
        if b != job.spec["bands"][0]["b"]:   # a later band starts from the stored model, as its own job would
            vp = artifacts.read(here / "model.zarr", "vp")
        d, w = band_data(data)
        cspec = conditioning.band_spec(part["conditioning"], {"max_offset": part["max_offset"]})
        state, step_scale, reset = None, None, False   # the optimiser history starts anew each band
        for i in range(int(band["iterations"])):
            job.iteration = i
            here, final = tmp / iteration_subdir(b, i), out / iteration_subdir(b, i)
            t_it = time.perf_counter()
            grad, state, vp, info = inversion.iteration(vp, state, acq, w, d, band, cfg, [list(range(acq.n_shots))],
                                                        sim, fn, cspec, step_scale, reset, job.threads)
            job.log.info(f"band {b} iteration {i}: {inversion.gradient_message(grad)}")
            job.write(grad, here / "gradient.zarr", shown=final / "gradient.zarr", J=grad.attrs["J"])
            job.log.info(inversion.direction_message(state))
            job.write(state, here / "direction.zarr", shown=final / "direction.zarr")
            (job.log.warning if info["status"] != "armijo" else job.log.info)(info["message"])
            took.append(time.perf_counter() - t_it)
            job.write(vp, here / "model.zarr", shown=final / "model.zarr", iteration_s=round(took[-1], 3), **info)
            done = len(took)
            pace = sum(took[1:]) / (done - 1) if done > 1 else took[0]   # the first may hold the compilation
            job.log.info(report.progress_message(per_band, b, i, time.perf_counter() - t_job, done, pace))
            step_scale, reset = info["step_scale"], info["reset"]
job.log.info(f"wrote {out}")
