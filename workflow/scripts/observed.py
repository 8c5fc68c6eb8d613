from _common import ROOT, Job
from fwi_core import artifacts, inversion
from fwi_core.config import ConfigError, resolve_path
from fwi_core.survey import segy as survey_segy
from fwi_core.traces import segy

job = Job(snakemake, "observed")
obs, sim = job.spec["observed"], job.spec["simulation"]
acq = artifacts.acquisition_from_dataset(artifacts.open_dataset(snakemake.input.acq))
w = artifacts.read(snakemake.input.wavelet, "wavelet")
if obs["source"] == "synthetic":
    vp = artifacts.read(snakemake.input.true[0], "vp")
    job.uses_engine(vp.ndim)
    job.log.info(f"modelling {acq.n_shots} shots in the true model")
    out = d = artifacts.with_trace_mask(inversion.model_data(vp, acq, w, sim, job.threads),
                                        acq.mask if acq.masked else None)
else:
    path = resolve_path(obs["path"], ROOT)
    try:   # the user's data: say what is wrong with them (file, key), no traceback
        if obs["source"] == "zarr":
            out = d = artifacts.load_observed(path, w.time.values, acq.n_shots, obs.get("variable"),
                                              n_receivers=acq.n_receivers)
        else:
            g = segy.read_geometry(path, acq.ndim, obs["segy"])
            survey_segy.check_counts(g, acq)
            out = survey_segy.observed(g, w.time.values)
            d = out["data"]
            job.log.info(f"{len(g.table.files)} SEG-Y file(s), {g.table.n_traces} traces in {acq.n_shots} shots; "
                         f"{d.attrs['n_flagged_dead']} trace(s) flagged dead in their headers (trace "
                         f"identification code in {obs['segy']['dead_trace_ids']}), left out of the misfit")
    except ValueError as err:
        raise ConfigError([str(err)]) from None
    dt, n_t = float(w.time[1] - w.time[0]), w.sizes["time"]
    size = f"{d.sizes['shot']} shots x {d.sizes['receiver']} receivers"
    if d.attrs["resampled"]:
        job.log.info(f"read {obs['path']}: {size}, resampled (anti-alias low-pass where coarser, band-limited "
                     f"interpolation) from dt {d.attrs['source_dt']:.6g} s (first sample {d.attrs['source_t0']:.6g} "
                     f"s) to the modelling dt {dt:.6g} s ({n_t} samples from {float(w.time[0]):.6g} s)")
    else:
        job.log.info(f"read {obs['path']}: {size}, already on the modelling axis (dt {dt:.6g} s, {n_t} samples)")
    n_dead = d.attrs["n_dead_traces"]
    if n_dead:
        which = ", ".join(f"shot {s} receiver {r}" for s, r in d.attrs["dead_traces"][:10]) + \
            (", ..." if n_dead > 10 else "")
        job.log.warning(f"{n_dead} all-zero trace(s) in {obs['path']}, left out of the misfit: {which}")
job.write(out, snakemake.output[0])
