from _common import Job
from fwi_core import artifacts, inversion
from fwi_core.config import ConfigError, record_errors

job = Job(snakemake, "wavelet")
wav, sim, vmax, lowest = (job.spec[k] for k in ("wavelet", "simulation", "vmax", "lowest_band"))
vp = artifacts.read(snakemake.input.grid, "vp")
dt = sim["dt"] or inversion.choose_dt(vp, vmax, sim["space_order"], sim["cfl_safety"])
t = inversion.time_axis(dt, sim["t_max"])
delay = wav["delay"] if wav["delay"] is not None else inversion.wavelet_delay(wav["freq"], dt, lowest)
errs = record_errors(sim["t_max"], dt, delay, wav["freq"])
if errs:  # before any data are modelled
    raise ConfigError(errs)
w = inversion.source_wavelet(wav["freq"], dt, len(t), delay)
job.log.info(f"dt={dt:.6g} s, nt={len(t)}, ricker {wav['freq']} Hz peaking at {delay:.3f} s")
job.write(w, snakemake.output[0], dt=dt, nt=len(t))
