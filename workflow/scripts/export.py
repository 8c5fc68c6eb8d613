from _common import Job, acquisition, band_data
from fwi_core import artifacts, inversion
from fwi_core.survey import segy

job = Job(snakemake, "export")
ex, obs = job.spec["export"], job.spec["observed"]
models = {"final_model": artifacts.read(snakemake.input.final, "vp")}
for name, path in snakemake.params.models.items():
    if name != "final_model":
        models[name] = artifacts.read(path, "gradient" if name.endswith("gradient") else "vp")
data, acq, headers = {}, None, None
if ex["data"]:   # observed (as read), and the last band's data, synthetics of the final model and residual
    acq = acquisition(snakemake.input.acq)
    ds = artifacts.open_dataset(snakemake.input.observed)
    headers = ds.get(segy.HEADERS_VAR)
    d, w = band_data(snakemake.input.band)
    job.uses_engine(models["final_model"].ndim)
    syn = inversion.band_forward(models["final_model"], acq.restrict(inversion.live_traces(acq, d)), w,
                                 job.spec["simulation"], job.spec["vmax"], job.threads).values
    data = {"observed": ds["data"], "observed_last_band": d, "synthetic_last_band": d.copy(data=syn),
            "residual_last_band": d.copy(data=syn - d.values)}
with artifacts.replacing(snakemake.output[0]) as tmp:
    paths = segy.export(tmp, models, ex["formats"], data, acq, headers, segy.field_settings(obs))
job.log.info(f"wrote {len(paths)} files to {snakemake.output[0]}: "
             + ", ".join(p.rsplit('/', 1)[-1] for p in paths))
