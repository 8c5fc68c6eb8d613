from _common import Job, acquisition
from fwi_core import artifacts, inversion

job = Job(snakemake, "gradient_sum")
precond, fmax = job.spec
vp = artifacts.read(snakemake.input.model, "vp")
parts = [artifacts.open_dataset(p) for p in snakemake.input.parts]  # fixed (shot) order
ds = inversion.combine_gradients(vp, parts, acquisition(snakemake.input.acq), {"fmax": fmax}, precond)
job.log.info(f"misfit {ds.attrs['J']:.6g} ({len(parts)} shot groups); cycle-skip risk: "
             f"{ds.attrs['n_skipped']}/{ds.attrs['n_live']} live traces beyond T/2 = "
             f"{1e3 * ds.attrs['half_period']:.0f} ms ({100 * ds.attrs['cycle_skip_fraction']:.1f}%)")
job.write(ds, snakemake.output[0], J=ds.attrs["J"])
