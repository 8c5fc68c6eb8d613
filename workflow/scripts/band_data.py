import xarray as xr

from _common import Job
from fwi_core import artifacts, inversion

job = Job(snakemake, "band_data")
band, order = job.spec
d = artifacts.read(snakemake.input.observed, "data")
w = artifacts.read(snakemake.input.wavelet, "wavelet")
d_b, w_b = inversion.prepare_band(d, w, band, order)
job.log.info(f"filter fmin={band.get('fmin')} fmax={band['fmax']} order={band.get('order') or order}")
job.write(xr.Dataset({"data": d_b, "wavelet": w_b}), snakemake.output[0], fmin=band.get("fmin"),
          fmax=band["fmax"])
