# Stage 5 (search direction + optimiser state), stage 6 (fixed-trial line
# search: per-shot-group trial forwards, then step choice + projection) and
# stage 7 (the updated model starts the next iteration / band; see model_in).


rule direction:
    input:
        model=lambda w: model_in(w.run, w.b, w.i),
        gradient=f"{R}/{{run}}/band{{b}}/iter{{i}}/gradient.zarr",
        prev=prev_direction,
    output:
        directory(f"{R}/{{run}}/band{{b}}/iter{{i}}/direction.zarr"),
    params:
        spec=lambda w: spec(optimizer=run_cfg(w.run)["optimizer"], line_search=run_cfg(w.run)["line_search"]),
    resources:
        **cluster("direction"),
    log:
        f"{R}/logs/{{run}}/band{{b}}/iter{{i}}/direction.log",
    script:
        "../scripts/direction.py"


rule trial:
    input:
        model=lambda w: model_in(w.run, w.b, w.i),
        direction=f"{R}/{{run}}/band{{b}}/iter{{i}}/direction.zarr",
        data=f"{R}/{{run}}/band{{b}}/data.zarr",
        acq=f"{D}/acquisition.zarr",
    output:
        directory(f"{R}/{{run}}/band{{b}}/iter{{i}}/trial_{{s0}}-{{s1}}.zarr"),
    params:
        spec=lambda w: spec(misfit=run_cfg(w.run)["misfit"], bounds=run_cfg(w.run)["bounds"],
                            simulation=CFG["simulation"], **conditioning_cfg(w.run, w.b)),
    threads: THREADS
    resources:
        **cluster("trial"),
    log:
        f"{R}/logs/{{run}}/band{{b}}/iter{{i}}/trial_{{s0}}-{{s1}}.log",
    script:
        "../scripts/trial.py"


rule update:
    input:
        model=lambda w: model_in(w.run, w.b, w.i),
        direction=f"{R}/{{run}}/band{{b}}/iter{{i}}/direction.zarr",
        trials=lambda w: [f"{it_dir(w.run, w.b, w.i)}/trial_{g}.zarr" for g in groups(w.run, w.b)],
    output:
        directory(f"{R}/{{run}}/band{{b}}/iter{{i}}/model.zarr"),
    params:
        spec=lambda w: spec(line_search=run_cfg(w.run)["line_search"], bounds=run_cfg(w.run)["bounds"]),
    resources:
        **cluster("update"),
    log:
        f"{R}/logs/{{run}}/band{{b}}/iter{{i}}/update.log",
    script:
        "../scripts/update.py"
