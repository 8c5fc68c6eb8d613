from _common import ROOT, Job
from fwi_core import artifacts, inversion
from fwi_core.config import resolve_path

job = Job(snakemake, "observed")
obs, sim = job.spec
acq = artifacts.acquisition_from_dataset(artifacts.open_dataset(snakemake.input.acq))
w = artifacts.read(snakemake.input.wavelet, "wavelet")
if obs["source"] == "synthetic":
    vp = artifacts.read(snakemake.input.true[0], "vp")
    job.log.info(f"modelling {acq.n_shots} shots in the true model")
    d = inversion.model_data(vp, acq, w, sim, job.threads)
else:
    d = artifacts.load_observed(resolve_path(obs["path"], ROOT), w.time.values, acq.n_shots, obs.get("variable"))
job.write(d.rename("data"), snakemake.output[0])
