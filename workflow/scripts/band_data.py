import xarray as xr

from _common import Job
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
job.write(xr.Dataset({"data": d_b, "wavelet": w_b}), snakemake.output[0], fmin=band.get("fmin"),
          fmax=band["fmax"])
