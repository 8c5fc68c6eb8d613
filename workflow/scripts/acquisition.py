from _common import ROOT, Job
from fwi_core import artifacts
from fwi_core.config import ConfigError, resolve_path
from fwi_core.survey import acquisitions
from fwi_core.traces import segy

job = Job(snakemake, "acquisition")
cfg, obs = job.spec["acquisition"], job.spec.get("observed")   # observed: only without the block
vp = artifacts.read(snakemake.input.grid, "vp")
g = None
if cfg is None:   # the geometry of the SEG-Y trace headers
    try:
        g = segy.read_geometry(resolve_path(obs["path"], ROOT), vp.ndim, obs["segy"])
    except segy.SegyError as err:
        raise ConfigError([str(err)]) from None
    job.log.info(f"geometry from the headers of {len(g.table.files)} SEG-Y file(s), {g.table.n_traces} traces, "
                 f"shots grouped by {obs['segy']['shot_key']}, coordinates in {g.table.units}")
acq = acquisitions.from_config(cfg, vp, g)
counts = acq.mask.sum(axis=1)
spread = f"{counts.min()}-{counts.max()} receivers per shot" if acq.masked else f"{acq.n_receivers} receivers"
job.log.info(f"{acq.n_shots} shots, {spread}")
job.write(artifacts.acquisition_to_dataset(acq), snakemake.output[0])
