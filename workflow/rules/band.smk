# Stages 3-7 fused (execution.fuse_bands): one job per run and chunk of
# consecutive bands b0..b1 (PLAN["band_chunks"]) runs all of their iterations in
# one process, in the same order and with the same fwi_core functions as the
# per-stage jobs. It writes the same stores (gradient, direction and model of
# every iteration) into one directory, RESULTS/RUN/bands{b0}-{b1}/band{b}/iter{i}
# (it_dir), made whole or not at all, so a killed job is redone from the start
# of its first band. For small problems, where job start-ups would take most of
# an iteration. The rule exists whatever the plan; only fused plans request it.


rule invert_band:
    input:
        model=lambda w: model_in(w.run, w.b0, 0, track=True),
        data=lambda w: [f"{R}/{w.run}/band{b}/data.zarr" for b in chunk_bands(w)],
        acq=f"{D}/acquisition.zarr",
    output:
        directory(f"{R}/{{run}}/bands{{b0}}-{{b1}}"),
    params:
        model=lambda w: model_in(w.run, w.b0, 0),
        spec=lambda w: spec(misfit=run_cfg(w.run)["misfit"], simulation=CFG["simulation"],
                            bounds=run_cfg(w.run)["bounds"], precondition=run_cfg(w.run)["precondition"],
                            optimizer=run_cfg(w.run)["optimizer"], line_search=run_cfg(w.run)["line_search"],
                            bands=[{"b": b, "band": band_cfg(w.run, b), **conditioning_cfg(w.run, b)}
                                   for b in chunk_bands(w)]),
    threads: WHOLE_THREADS
    resources:
        **cluster("invert_band"),
    log:
        f"{R}/logs/{{run}}/bands{{b0}}-{{b1}}.log",
    script:
        "../scripts/invert_band.py"
