from _common import ROOT, Job
from fwi_core import artifacts, inversion
from fwi_core.config import ConfigError, resolve_path

job = Job(snakemake, "observed")
obs, sim = job.spec["observed"], job.spec["simulation"]
acq = artifacts.acquisition_from_dataset(artifacts.open_dataset(snakemake.input.acq))
w = artifacts.read(snakemake.input.wavelet, "wavelet")
if obs["source"] == "synthetic":
    vp = artifacts.read(snakemake.input.true[0], "vp")
    job.log.info(f"modelling {acq.n_shots} shots in the true model")
    d = inversion.model_data(vp, acq, w, sim, job.threads)
else:
    try:
        d = artifacts.load_observed(resolve_path(obs["path"], ROOT), w.time.values, acq.n_shots,
                                    obs.get("variable"), n_receivers=acq.n_receivers)
    except ValueError as err:  # the user's data: say what is wrong with it, no traceback
        raise ConfigError([str(err)]) from None
    dt = float(w.time[1] - w.time[0])
    job.log.info(f"read {obs['path']}: {d.sizes['shot']} shots x {d.sizes['receiver']} receivers, "
                 f"resampled from dt {d.attrs['source_dt']:.6g} s to {dt:.6g} s" if abs(d.attrs["source_dt"] - dt) > 1e-9
                 else f"read {obs['path']} at the modelling dt {dt:.6g} s")
    if d.attrs["n_dead_traces"]:
        job.log.warning(f"{d.attrs['n_dead_traces']} dead (all-zero) trace(s) in {obs['path']}")
job.write(d.rename("data"), snakemake.output[0])
