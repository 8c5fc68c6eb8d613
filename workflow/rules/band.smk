# Stages 3-7 fused (execution.fuse_bands): one job per run and band runs all
# of the band's iterations in one process, in the same order and with the same
# fwi_core functions as the per-stage jobs, and writes the same artifacts
# (gradient, direction and model of every iteration), so the report and the
# next band read them as usual. For small problems, where job start-ups would
# take most of an iteration. A killed band is redone from its start.
import re


def band_outputs(run, b):
    its = range(n_iter(run, b))
    return {k: [directory(f"{it_dir(run, b, i)}/{k}.zarr") for i in its]
            for k in ("gradient", "direction", "model")}


for _run in RUNS:
    for _b in range(len(run_cfg(_run)["bands"])):
        _inv = run_cfg(_run)

        rule:
            name:
                f"invert_band_{re.sub(r'[^A-Za-z0-9_]', '_', _run)}_{_b}"
            input:
                model=model_in(_run, _b, 0),
                data=f"{R}/{_run}/band{_b}/data.zarr",
                acq=f"{R}/data/acquisition.zarr",
            output:
                **band_outputs(_run, _b),
            params:
                run=_run,
                b=_b,
                spec=spec(_inv["misfit"], CFG["simulation"], _inv["bounds"], conditioning_cfg(_run, _b),
                          _inv["precondition"], band_cfg(_run, _b), _inv["optimizer"], _inv["line_search"]),
            threads: _CORES
            log:
                f"{R}/logs/{_run}/band{_b}/band.log",
            script:
                "../scripts/invert_band.py"
