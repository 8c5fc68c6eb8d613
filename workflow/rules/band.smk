# Stages 3-7 fused (execution.fuse_bands): one job per run and chunk of
# consecutive bands (PLAN["band_chunks"]) runs all of their iterations in one
# process, in the same order and with the same fwi_core functions as the
# per-stage jobs, and writes the same artifacts (gradient, direction and model
# of every iteration), so the report and the next band read them as usual.
# For small problems, where job start-ups would take most of an iteration. A
# killed job is redone from the start of its first band.
import re


def chunk_outputs(run, bands):
    return {k: [directory(f"{it_dir(run, b, i)}/{k}.zarr") for b in bands for i in range(n_iter(run, b))]
            for k in ("gradient", "direction", "model")}


for _run in RUNS:
    for _bands in PLAN["band_chunks"][_run]:
        _inv = run_cfg(_run)
        _name = f"{_bands[0]}" if len(_bands) == 1 else f"{_bands[0]}_{_bands[-1]}"

        rule:
            name:
                f"invert_band_{re.sub(r'[^A-Za-z0-9_]', '_', _run)}_{_name}"
            input:
                model=model_in(_run, _bands[0], 0),
                data=[f"{R}/{_run}/band{b}/data.zarr" for b in _bands],
                acq=f"{R}/data/acquisition.zarr",
            output:
                **chunk_outputs(_run, _bands),
            params:
                run=_run,
                b=_bands[0],
                spec=spec(misfit=_inv["misfit"], simulation=CFG["simulation"], bounds=_inv["bounds"],
                          precondition=_inv["precondition"], optimizer=_inv["optimizer"],
                          line_search=_inv["line_search"],
                          bands=[{"b": b, "band": band_cfg(_run, b), **conditioning_cfg(_run, b)} for b in _bands]),
            threads: _CORES
            log:
                f"{R}/logs/{_run}/band{_bands[0]}/bands{_name}.log",
            script:
                "../scripts/invert_band.py"
