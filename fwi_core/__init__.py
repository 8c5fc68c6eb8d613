"""fwi_core: an exactly-adjoint 2-D acoustic wave engine and the pieces of a
multi-scale full-waveform inversion (FWI). No Snakemake import anywhere."""
