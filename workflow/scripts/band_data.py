import xarray as xr

from _common import Job, acquisition
from fwi_core import artifacts, inversion
from fwi_core.inversion import bandgrid

job = Job(snakemake, "band_data")
band, order, sim, bounds = (job.spec[k] for k in ("band", "filter_order", "simulation", "bounds"))
d = artifacts.read(snakemake.input.observed, "data")
w = artifacts.read(snakemake.input.wavelet, "wavelet")
grid_model = artifacts.read(snakemake.input.grid, "vp")
d_b, w_b = inversion.prepare_band(d, w, band, order, grid_model, sim, bounds)
job.log.info(f"filter fmin={band.get('fmin')} fmax={band['fmax']} order={band.get('order') or order}")
grid = bandgrid.BandGrid.from_attrs(w_b.attrs)
if grid is not None:
    job.log.info(f"band grid {' x '.join(map(str, grid.shape))} at {' x '.join(f'{h:.4g}' for h in grid.spacing)} m "
                 f"(model grid {' x '.join(map(str, grid_model.shape))}), dt x {grid.time_factor}")
if "estimate" in job.spec:   # wavelet.type estimate: the band's signature from its starting model
    est = job.spec["estimate"]
    start = artifacts.read(snakemake.params.start, "vp")
    job.uses_engine(start.ndim)
    w_b = inversion.estimate_wavelet(start, acquisition(snakemake.params.acq), w_b, d_b, sim, bounds[1],
                                     est["water_level"], est["per_shot"], job.threads)
    job.log.info(f"source signature estimated ({'per shot' if est['per_shot'] else 'shared'}, water level "
                 f"{est['water_level']:g}) in {snakemake.params.start}: relative data residual "
                 f"{w_b.attrs['residual_estimate']:.3g} with it")
job.write(xr.Dataset({"data": d_b, "wavelet": w_b}), snakemake.output[0], fmin=band.get("fmin"),
          fmax=band["fmax"])
