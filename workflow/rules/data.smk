# Stage 1 (inputs: models, acquisition, wavelet, observed data) and
# stage 2 (per-band zero-phase filtering of observed data and wavelet, and the
# band's own grid and time step: fwi_core.inversion.bandgrid).


rule true_model:
    output:
        directory(f"{D}/true_model.zarr"),
    params:
        spec=spec(source=CFG.get("true_model"), file=fwicfg.source_fingerprint(CFG.get("true_model"), PROJECT)),
    resources:
        **cluster("true_model"),
    log:
        f"{R}/logs/data/{KEY}/true_model.log",
    script:
        "../scripts/true_model.py"


rule initial_model:
    input:
        true=[f"{D}/true_model.zarr"] if "true_model" in CFG else [],
    output:
        directory(f"{R}/{{run}}/initial_model.zarr"),
    params:
        spec=lambda w: spec(source=run_cfg(w.run)["initial"], bounds=run_cfg(w.run)["bounds"],
                            file=fwicfg.source_fingerprint(run_cfg(w.run)["initial"], PROJECT)),
    resources:
        **cluster("initial_model"),
    log:
        f"{R}/logs/{{run}}/initial_model.log",
    script:
        "../scripts/initial_model.py"


rule acquisition:
    input:
        grid=grid_model(),
    output:
        directory(f"{D}/acquisition.zarr"),
    params:
        # without an acquisition block, the geometry of the SEG-Y headers (and their fingerprint)
        spec=spec(acquisition=CFG["acquisition"]) if "acquisition" in CFG else
        spec(acquisition=None, observed=CFG["observed"], file=fwicfg.observed_fingerprint(CFG, PROJECT)),
    resources:
        **cluster("acquisition"),
    log:
        f"{R}/logs/data/{KEY}/acquisition.log",
    script:
        "../scripts/acquisition.py"


rule wavelet:
    input:
        grid=grid_model(),
    output:
        directory(f"{D}/wavelet.zarr"),
    params:
        spec=spec(wavelet=CFG["wavelet"], simulation=CFG["simulation"], vmax=vmax_all(),
                  lowest_band=fwicfg.lowest_band(CFG) if CFG["wavelet"]["delay"] is None else None,
                  **({"file": fwicfg.file_fingerprint(fwicfg.resolve_path(CFG["wavelet"]["path"], PROJECT))}
                     if CFG["wavelet"]["type"] == "file" else {})),
    resources:
        **cluster("wavelet"),
    log:
        f"{R}/logs/data/{KEY}/wavelet.log",
    script:
        "../scripts/wavelet.py"


rule observed:
    input:
        true=[f"{D}/true_model.zarr"] if CFG["observed"]["source"] == "synthetic" else [],
        acq=f"{D}/acquisition.zarr",
        wavelet=f"{D}/wavelet.zarr",
    output:
        directory(f"{D}/observed.zarr"),
    params:
        # the store's fingerprint: rewriting it reruns this job and what was built from it
        spec=spec(observed=CFG["observed"], simulation=CFG["simulation"],
                  file=fwicfg.observed_fingerprint(CFG, PROJECT)),
    threads: WHOLE_THREADS
    resources:
        **cluster("observed"),
    log:
        f"{R}/logs/data/{KEY}/observed.log",
    script:
        "../scripts/observed.py"


rule band_data:
    input:
        observed=f"{D}/observed.zarr",
        wavelet=f"{D}/wavelet.zarr",
        grid=grid_model(),
        # wavelet.type estimate: the band's signature from its starting model (and the geometry)
        start=lambda w: [model_in(w.run, w.b, 0, track=True), f"{D}/acquisition.zarr"] if ESTIMATE else [],
    output:
        directory(f"{R}/{{run}}/band{{b}}/data.zarr"),
    params:
        spec=lambda w: spec(band=band_filter(w.run, w.b), filter_order=run_cfg(w.run)["filter_order"],
                            simulation=CFG["simulation"], bounds=run_cfg(w.run)["bounds"],
                            **({"estimate": CFG["wavelet"]["estimate"]} if ESTIMATE else {})),
        start=lambda w: model_in(w.run, w.b, 0) if ESTIMATE else None,
        acq=f"{D}/acquisition.zarr",
    resources:
        **cluster("band_data"),
    log:
        f"{R}/logs/{{run}}/band{{b}}/data.log",
    script:
        "../scripts/band_data.py"
