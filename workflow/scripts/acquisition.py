import numpy as np

import fwi_core as fwi
from _common import Job
from fwi_core import artifacts

job = Job(snakemake, "acquisition")
cfg = job.spec["acquisition"]
vp = artifacts.read(snakemake.input.grid, "vp")
if "n_shots" in cfg:
    acq = fwi.Acquisition.surface(vp, n_shots=cfg["n_shots"], n_receivers=cfg["n_receivers"],
                                  source_depth=cfg["source_depth"], receiver_depth=cfg["receiver_depth"],
                                  source_margin=cfg.get("source_margin", 0.0),
                                  receiver_margin=cfg.get("receiver_margin", 0.0))
else:
    acq = fwi.Acquisition(sources=np.asarray(cfg["sources"]), receivers=np.asarray(cfg["receivers"]))
acq.check_inside(vp)
job.log.info(f"{acq.n_shots} shots, {acq.n_receivers} receivers")
job.write(artifacts.acquisition_to_dataset(acq), snakemake.output[0])
