# Stage 3 (per shot group: forward + adjoint -> misfit per shot, gradient,
# illumination) and stage 4 (sum in fixed order + preconditioning).
# Shot groups are named by their inclusive shot range, so changing
# execution.shots_per_job changes file names rather than needing a params trigger.


rule shot_gradient:
    input:
        model=lambda w: model_in(w.run, w.b, w.i),
        data=f"{R}/{{run}}/band{{b}}/data.zarr",
        acq=f"{D}/acquisition.zarr",
    output:
        directory(f"{R}/{{run}}/band{{b}}/iter{{i}}/grad_{{s0}}-{{s1}}.zarr"),
    params:
        spec=lambda w: spec(misfit=run_cfg(w.run)["misfit"], simulation=CFG["simulation"],
                            vmax=run_cfg(w.run)["bounds"][1], **conditioning_cfg(w.run, w.b)),
    threads: THREADS
    resources:
        **cluster("shot_gradient"),
    log:
        f"{R}/logs/{{run}}/band{{b}}/iter{{i}}/grad_{{s0}}-{{s1}}.log",
    script:
        "../scripts/shot_gradient.py"


rule gradient_sum:
    input:
        model=lambda w: model_in(w.run, w.b, w.i),
        acq=f"{D}/acquisition.zarr",
        parts=lambda w: [f"{it_dir(w.run, w.b, w.i)}/grad_{g}.zarr" for g in groups(w.run, w.b)],
    output:
        directory(f"{R}/{{run}}/band{{b}}/iter{{i}}/gradient.zarr"),
    params:
        spec=lambda w: spec(precondition=run_cfg(w.run)["precondition"], fmax=band_cfg(w.run, w.b)["fmax"]),
    resources:
        **cluster("gradient_sum"),
    log:
        f"{R}/logs/{{run}}/band{{b}}/iter{{i}}/gradient.log",
    script:
        "../scripts/gradient_sum.py"
