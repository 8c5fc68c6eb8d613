from _common import Job, acquisition, band_data
from fwi_core import artifacts, conditioning, inversion

job = Job(snakemake, "invert_band")
misfit, sim, bounds, (cond, max_offset), precond, band, opt, ls = job.spec
cfg = {"bounds": bounds, "precondition": precond, "optimizer": opt, "line_search": ls}
vp = artifacts.read(snakemake.input.model, "vp")
d, w = band_data(snakemake.input.data)
acq = acquisition(snakemake.input.acq)
fn = inversion.make_misfit(misfit["name"], misfit.get("params"))
cspec = conditioning.band_spec(cond, {"max_offset": max_offset})
out = snakemake.output
state, step_scale, reset = None, None, False
for i in range(len(out.model)):
    job.iteration = i
    grad, state, vp, info = inversion.iteration(vp, state, acq, w, d, band, cfg, [list(range(acq.n_shots))],
                                                sim, fn, cspec, step_scale, reset, job.threads)
    job.log.info(f"iteration {i}: {inversion.gradient_message(grad)}")
    job.write(grad, out.gradient[i], J=grad.attrs["J"])
    job.log.info(inversion.direction_message(state))
    job.write(state, out.direction[i])
    (job.log.warning if info["status"] != "armijo" else job.log.info)(info["message"])
    job.write(vp, out.model[i], **info)
    step_scale, reset = info["step_scale"], info["reset"]
