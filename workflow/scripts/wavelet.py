from _common import ROOT, Job
from fwi_core import artifacts, inversion
from fwi_core.engine.wavelets import dominant_frequency
from fwi_core.config import ConfigError, record_errors, resolve_path
from fwi_core.survey import segy

job = Job(snakemake, "wavelet")
wav, sim, vmax, lowest = (job.spec[k] for k in ("wavelet", "simulation", "vmax", "lowest_band"))
vp = artifacts.read(snakemake.input.grid, "vp")
dt = sim["dt"] or inversion.choose_dt(vp, vmax, sim["space_order"], sim["cfl_safety"])
t = inversion.time_axis(dt, sim["t_max"])
if wav["type"] == "file":
    try:
        x, dt_in, t0 = segy.read_wavelet(resolve_path(wav["path"], ROOT), wav.get("trace", 0), wav.get("dt"),
                                         wav.get("t0"))
        w = inversion.file_wavelet(x, dt_in, t0, dt, len(t))
    except ValueError as err:
        raise ConfigError([str(err)]) from None
    delay, freq = float(t[abs(w.values).argmax()]), dominant_frequency(w.values, dt)
    what = f"{wav['path']} (dt {dt_in:g} s from {t0:g} s), peak at {delay:.3f} s, dominant {freq:.3g} Hz"
elif wav["type"] == "estimate":   # a spike: the broadband reference of each band's estimate
    delay = wav["delay"] if wav["delay"] is not None else inversion.band_precursor(dt, lowest)
    w, freq = inversion.spike_wavelet(dt, len(t), delay), wav["freq"]
    what = (f"estimated per band (water level {wav['estimate']['water_level']:g}, "
            f"{'per shot' if wav['estimate']['per_shot'] else 'shared'}) from a reference spike at {delay:.3f} s")
else:
    delay = wav["delay"] if wav["delay"] is not None else inversion.wavelet_delay(wav["freq"], dt, lowest)
    w, freq = inversion.source_wavelet(wav["freq"], dt, len(t), delay), wav["freq"]
    what = f"ricker {wav['freq']} Hz peaking at {delay:.3f} s"
errs = record_errors(sim["t_max"], dt, delay, freq)
if errs:  # before any data are modelled
    raise ConfigError(errs)
job.log.info(f"dt={dt:.6g} s, nt={len(t)}, {what}")
job.write(w, snakemake.output[0], dt=dt, nt=len(t))
