import numpy as np

from _common import ROOT, Job
from fwi_core import artifacts, inversion
from fwi_core.config import ConfigError, resolve_path

job = Job(snakemake, "observed")
obs, sim = job.spec["observed"], job.spec["simulation"]
acq = artifacts.acquisition_from_dataset(artifacts.open_dataset(snakemake.input.acq))
w = artifacts.read(snakemake.input.wavelet, "wavelet")
if obs["source"] == "synthetic":
    vp = artifacts.read(snakemake.input.true[0], "vp")
    job.uses_engine(vp.ndim)
    job.log.info(f"modelling {acq.n_shots} shots in the true model")
    d = inversion.model_data(vp, acq, w, sim, job.threads)
else:
    try:
        d = artifacts.load_observed(resolve_path(obs["path"], ROOT), w.time.values, acq.n_shots,
                                    obs.get("variable"), n_receivers=acq.n_receivers)
    except ValueError as err:  # the user's data: say what is wrong with it, no traceback
        raise ConfigError([str(err)]) from None
    dt, n_t = float(w.time[1] - w.time[0]), w.sizes["time"]
    size = f"{d.sizes['shot']} shots x {d.sizes['receiver']} receivers"
    if d.attrs["resampled"]:
        job.log.info(f"read {obs['path']}: {size}, resampled (linear interpolation) from dt "
                     f"{d.attrs['source_dt']:.6g} s (first sample {d.attrs['source_t0']:.6g} s) to the modelling "
                     f"dt {dt:.6g} s ({n_t} samples from {float(w.time[0]):.6g} s)")
    else:
        job.log.info(f"read {obs['path']}: {size}, already on the modelling axis (dt {dt:.6g} s, {n_t} samples)")
    n_dead = d.attrs["n_dead_traces"]
    if n_dead:
        dead = np.argwhere(~(d.values != 0).any(axis=-1))
        which = ", ".join(f"shot {s} receiver {r}" for s, r in dead[:10]) + (", ..." if n_dead > 10 else "")
        job.log.warning(f"{n_dead} dead (all-zero) trace(s) of {d.sizes['shot'] * d.sizes['receiver']} in "
                        f"{obs['path']}, kept: {which}")
job.write(d.rename("data"), snakemake.output[0])
