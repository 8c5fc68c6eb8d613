from _common import Job, acquisition, band_data
from fwi_core import artifacts, conditioning, inversion

job = Job(snakemake, "invert_band")
misfit, sim, bounds, precond, opt, ls, bands = job.spec
cfg = {"bounds": bounds, "precondition": precond, "optimizer": opt, "line_search": ls}
vp = artifacts.read(snakemake.input.model, "vp")
acq = acquisition(snakemake.input.acq)
fn = inversion.make_misfit(misfit["name"], misfit.get("params"))
out = snakemake.output
k = 0                                    # index into the outputs, all bands' iterations in order
for (b, (cond, max_offset), band), data in zip(bands, snakemake.input.data):
    job.band = b
    if k:   # a later band starts from the stored model, as its own job would
        vp = artifacts.read(out.model[k - 1], "vp")
    d, w = band_data(data)
    cspec = conditioning.band_spec(cond, {"max_offset": max_offset})
    state, step_scale, reset = None, None, False   # the optimiser history starts anew each band
    for i in range(int(band["iterations"])):
        job.iteration = i
        grad, state, vp, info = inversion.iteration(vp, state, acq, w, d, band, cfg, [list(range(acq.n_shots))],
                                                    sim, fn, cspec, step_scale, reset, job.threads)
        job.log.info(f"band {b} iteration {i}: {inversion.gradient_message(grad)}")
        job.write(grad, out.gradient[k], J=grad.attrs["J"])
        job.log.info(inversion.direction_message(state))
        job.write(state, out.direction[k])
        (job.log.warning if info["status"] != "armijo" else job.log.info)(info["message"])
        job.write(vp, out.model[k], **info)
        step_scale, reset = info["step_scale"], info["reset"]
        k += 1
