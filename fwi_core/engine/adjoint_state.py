"""The adjoint-state gradient dJ/dvp: the forward field rebuilt backwards from
its saved boundary, or optimal binomial checkpointing."""
from __future__ import annotations

import contextlib
import itertools
import threading

import numba
import numpy as np
import xarray as xr

from ..traces import misfits
from .acquisition import Acquisition
from .checkpointing import recompute_factor, schedule, snapshots_for_budget
from .options import Options
from .grid import check_model
from .propagation import DEFAULT_MEMORY_BUDGET, Setup, _prepare
from .shots import run_shots, shot_workers

_CODES = {"advance": 0, "save": 1, "restore": 2, "reverse": 3}


def choose_snapshots(st: Setup, checkpoints: int | None, memory_budget: int, workers: int = 1) -> int:
    """Number of snapshots per shot: ``checkpoints`` if given, else as many as
    fit the budget shared by ``workers`` shots running at once."""
    n = st.nt - 1
    if checkpoints is None:
        return snapshots_for_budget(n, st.snapshot_bytes(), int(memory_budget) // workers)
    if isinstance(checkpoints, bool) or int(checkpoints) != checkpoints or checkpoints < 1:
        raise ValueError(f"checkpoints must be a positive integer or None, got {checkpoints!r}")
    return min(int(checkpoints), n)


STRATEGIES = ("auto", "boundary", "checkpoint")


def boundary_bytes(st: Setup) -> int:
    """Bytes of the boundary records of one shot (strategy ``"boundary"``)."""
    return max(st.nt - 2, 1) * st.kernels.boundary_size(st.bounds) * st.dtype.itemsize


# Boundary records kept between calls: the strategy writes a few hundred MB
# per shot, and faulting in fresh pages (with huge-page compaction) costs from
# 0.05 s to 0.8 s a call. A call takes what fits from here and gives it back.
_RECORDS: list[np.ndarray] = []
_RECORDS_LOCK = threading.Lock()


@contextlib.contextmanager
def _boundary_records(st: Setup, count: int):
    """``count`` arrays ``(max(nt - 2, 1), boundary cells)`` for one call, from the pool."""
    shape = (max(st.nt - 2, 1), st.kernels.boundary_size(st.bounds))
    need = shape[0] * shape[1]
    with _RECORDS_LOCK:
        fit = [b for b in _RECORDS if b.dtype == st.dtype and b.size >= need][:count]
        _RECORDS.clear()          # what does not serve this call is freed before allocating
    bufs = fit + [np.empty(need, dtype=st.dtype) for _ in range(count - len(fit))]
    try:
        yield [b[:need].reshape(shape) for b in bufs]
    finally:
        with _RECORDS_LOCK:
            _RECORDS[:] = (_RECORDS + bufs)[-max(count, numba.config.NUMBA_NUM_THREADS):]


def release_workspace() -> None:
    """Free the boundary records that :func:`gradient` keeps between calls."""
    with _RECORDS_LOCK:
        _RECORDS.clear()


def choose_strategy(st: Setup, strategy: str, checkpoints: int | None, memory_budget: int,
                    workers: int = 1) -> str:
    """``"boundary"`` or ``"checkpoint"`` (see :func:`gradient`) for shots
    that share ``memory_budget`` bytes ``workers`` at a time."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    fits = boundary_bytes(st) <= int(memory_budget) // workers
    if strategy == "boundary":
        if checkpoints is not None:
            raise ValueError("checkpoints: the boundary strategy keeps no checkpoints; pass None")
        if not fits:
            raise ValueError(f"memory_budget: {int(memory_budget)} bytes for {workers} shot(s) at once "
                             f"hold no boundary records of {boundary_bytes(st)} bytes a shot")
        return strategy
    if strategy == "auto" and checkpoints is None and fits:
        return "boundary"
    return "checkpoint"


def _adjoint_start(st: Setup, rec: tuple, syn: np.ndarray, obs: np.ndarray, misfit_fn,
                   u_last: np.ndarray, w: np.ndarray, g: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Misfit of the time-major traces ``syn`` (last sample from ``u_last`` =
    u^{nt-1}) and the adjoint source; starts the adjoint sweep with
    W^{nt-1} = s R^T r^{nt-1} in ``w``, imaged against u^{nt-1}.
    Returns (J, traces (n_rec, nt), adjoint source time-major (nt, n_rec))."""
    K, nt = st.kernels, st.nt
    K.gather(u_last, rec[0], rec[1], syn[nt - 1])
    syn = np.ascontiguousarray(syn.T)
    J, adj = misfit_fn(syn, obs, st.dt)
    adj = np.ascontiguousarray(np.asarray(adj, dtype=st.dtype).T)   # time-major
    K.inject(w, st.s, rec[0], rec[1], adj[nt - 1])
    K.inject(g, u_last, rec[0], rec[1], adj[nt - 1])
    return float(J), syn, adj


def _shot_gradient(st: Setup, shot: int, wav: np.ndarray, obs: np.ndarray, misfit_fn,
                   actions: np.ndarray, n_snap: int, g: np.ndarray, h: np.ndarray,
                   illum: bool) -> tuple[float, np.ndarray]:
    """Accumulate one shot's ``sum_n W^{n+1} (L u^n + S f^n)`` into ``g`` (and
    its illumination ``sum_n (s L u^n)^2`` into ``h``) with the checkpoint
    schedule ``actions``; return (J, syn)."""
    K, nt = st.kernels, st.nt
    aux = K.cpml_fields(st.layout, st.dtype)
    store = K.snapshot_store(st.layout, st.dtype, n_snap)
    levels = store[0]
    cu, cm = 0, 1                                                   # u^0 = u^-1 = 0
    src, rec = st.shot_points(shot)
    syn = np.zeros((nt, rec[0].shape[0]), dtype=st.dtype)   # time-major while stepping
    w, wp = K.fields(st.layout, st.dtype, 2)
    *adj_aux, t = K.adjoint_fields(st.layout, st.dtype, numba.get_num_threads())
    adj_aux = tuple(adj_aux)
    first_rev = int(np.argmax(actions[:, 0] == _CODES["reverse"]))
    dummy_adj = np.zeros((1, 1), dtype=st.dtype)
    # 1. forward sweep to S_{nt-2}, recording, saving snapshots on the way, and
    #    one step more for the last sample u^{nt-1} (into a free level, so
    #    u^{nt-2} stays intact for the first reverse step, which needs only it)
    sweep = np.concatenate([actions[:first_rev], [[_CODES["advance"], 1]]])
    cur, cu, cm, w, wp = K.execute(sweep, 0, cu, cm, store, aux, st.op, src, wav, rec, syn, True,
                                   w, wp, t, adj_aux, g, h, illum, dummy_adj)
    # 2. misfit and adjoint source; W^{nt-1}, imaged against u^{nt-1}
    J, syn, adj = _adjoint_start(st, rec, syn, obs, misfit_fn, levels[cu], w, g)
    # 3. reverse sweep from S_{nt-2}: recompute from snapshots, step the adjoint field, image.
    #    The state is (u^{nt-2}, -): reversing step nt-2 reads u^{nt-2} only, then restores
    K.execute(actions[first_rev:], cur - 1, cm, cm, store, aux, st.op, src, wav, rec, syn, False,
              w, wp, t, adj_aux, g, h, False, adj)
    return J, syn


def _shot_gradient_saved(st: Setup, shot: int, wav: np.ndarray, obs: np.ndarray, misfit_fn,
                         store: np.ndarray, g: np.ndarray, h: np.ndarray,
                         illum: bool) -> tuple[float, np.ndarray]:
    """:func:`_shot_gradient` with the forward field rebuilt backwards from
    its saved boundary (``store``: ``(nt - 2, boundary_size)`` scratch) instead
    of checkpoints: no recomputation, three time levels."""
    K, nt = st.kernels, st.nt
    src, rec = st.shot_points(shot)
    syn = np.zeros((nt, rec[0].shape[0]), dtype=st.dtype)   # time-major while stepping
    u, um, spare, w, wp = K.fields(st.layout, st.dtype, 5)
    store[0] = 0                                               # u^0 = 0
    u, um, spare = K.sweep_saving(nt, u, um, spare, K.cpml_fields(st.layout, st.dtype), st.op, src, wav,
                                  rec, syn, store, h, illum)
    J, syn, adj = _adjoint_start(st, rec, syn, obs, misfit_fn, u, w, g)
    *adj_aux, t = K.adjoint_fields(st.layout, st.dtype, numba.get_num_threads())
    K.reverse_saved(nt, u, um, spare, store, st.op, src, wav, rec, w, wp, t, tuple(adj_aux), g, adj)
    return J, syn


def gradient(vp: xr.DataArray, acq: Acquisition, w: np.ndarray, d_obs, dt: float, nt: int,
             misfit="l2", checkpoints: int | None = None, options: Options | None = None,
             memory_budget: int = DEFAULT_MEMORY_BUDGET, illumination: bool = False,
             return_info: bool = False, strategy: str = "auto", **engine):
    """Misfit and its gradient with respect to vp, by the adjoint-state method.

    ``d_obs``: observed data, DataArray or array ``(n_shots, n_rec, nt)``.
    ``misfit``: a name from :mod:`fwi_core.misfits` or a callable
    ``(syn, obs, dt) -> (J, adjoint source)``; with masked receivers
    (``acq.mask``) it sees only each shot's live traces.

    How the reverse sweep gets the forward field (``strategy``):
    ``"boundary"`` saves the cells outside the interior core (absorbing
    layer plus the stencil radius) at every step and rebuilds the core
    backwards in time (no recomputation; needs ``nt x boundary cells`` of
    ``memory_budget``); ``"checkpoint"`` keeps ``checkpoints`` forward states
    (None: as many as ``memory_budget`` bytes hold, all of them when they fit)
    and recomputes from them (Revolve); ``"auto"`` is ``"boundary"`` when it
    fits the budget and ``checkpoints`` is None, else ``"checkpoint"``. Both
    give the gradient of the same discrete problem; the rebuilt field differs
    from the stored one by rounding only. Returns ``(J, g)`` with ``g`` a DataArray like
    ``vp`` (dJ/dvp, misfit units per m/s); with ``illumination=True`` also the
    pseudo-Hessian diagonal ``sum_t (d2u/dt2)^2 dt`` summed over shots (same
    grid); with ``return_info=True`` a dict (strategy, snapshots, recompute
    factor: forward steps of the reverse sweep per step, the boundary strategy
    counting its core rebuild as the core's share of a step; the bytes of one
    snapshot and of one shot's boundary records, what each strategy needs
    of the budget; synthetic data) last. ``options``
    and the engine keywords (``space_order``, ``pml_width``, ``free_surface``,
    ``dtype``, ``vmax``, ``freq``, ``num_threads``, ``backend``) as in
    :func:`fwi_core.forward`; shots running at once share ``memory_budget``.
    """
    fn = misfits.get(misfit)
    # masked traces (padding, dead traces) are left out of the misfit: each contributes exactly zero
    shot_fns = [misfits.masked(fn, acq.mask[s]) for s in range(acq.n_shots)] if acq.masked else None

    def misfit_fn(shot: int):
        return fn if shot_fns is None else shot_fns[shot]

    opt = Options.build(options, **engine)
    num_threads = opt.num_threads
    st, wav = _prepare(vp, acq, w, dt, nt, opt)
    obs = np.asarray(d_obs.values if isinstance(d_obs, xr.DataArray) else d_obs)
    if obs.shape != (acq.n_shots, acq.n_receivers, st.nt):
        raise ValueError(f"d_obs: shape {obs.shape}, expected (n_shots, n_receivers, nt) = "
                         f"{(acq.n_shots, acq.n_receivers, st.nt)}")
    if not np.all(np.isfinite(obs)):
        raise ValueError("d_obs contains NaN or inf")
    workers = shot_workers(acq.n_shots, num_threads)
    strategy = choose_strategy(st, strategy, checkpoints, memory_budget, workers)
    # one accumulator pair per worker, summed in worker order: reproducible bitwise
    acc = [(np.zeros(st.layout.shape, dtype=st.dtype), np.zeros(st.layout.shape, dtype=st.dtype))
           for _ in range(workers)]   # h is written only with illumination=True
    records = _boundary_records(st, workers if strategy == "boundary" else 0)
    if strategy == "boundary":
        n_snap, factor = 0, 1.0 + st.kernels.core_points(st.bounds) / st.layout.n_points

        def task(shot: int, worker: int):
            return _shot_gradient_saved(st, shot, wav[shot], obs[shot].astype(st.dtype, copy=False),
                                        misfit_fn(shot), stores[worker], *acc[worker], illumination)
    else:
        n_snap = choose_snapshots(st, checkpoints, memory_budget, workers)
        factor = recompute_factor(st.nt - 1, n_snap)
        actions = np.fromiter(itertools.chain.from_iterable((_CODES[a], k) for a, k in schedule(st.nt - 1, n_snap)),
                              dtype=np.int64).reshape(-1, 2)

        def task(shot: int, worker: int):
            return _shot_gradient(st, shot, wav[shot], obs[shot].astype(st.dtype, copy=False), misfit_fn(shot),
                                  actions, n_snap, *acc[worker], illumination)

    with records as stores:
        results = run_shots(task, acq.n_shots, st.layout.n_points, num_threads)
    J = float(sum(r[0] for r in results))
    syn = [r[1] for r in results]
    g, h = acc[0]
    for gk, hk in acc[1:]:
        g += gk
        h += hk
    # dJ/ds = g / s with s = dt^2 vp^2, so dJ/dvp = g * 2 / vp; then fold the padding back
    # (the padded model is built here, not kept through the sweeps: in 3-D it is two fields)
    gv = st.layout.pad_adjoint(g.astype(np.float64) * 2.0 / st.layout.pad(check_model(vp)[0]))
    grad = xr.DataArray(gv.astype(st.dtype), dims=vp.dims, coords=vp.coords, name="gradient",
                        attrs={"units": "misfit per m/s", "long_name": "dJ/dvp"})
    out = [J, grad]
    if illumination:
        # h = sum_n (s L u^n)^2 and d2u/dt2 = L u / m = s L u / dt^2
        hv = st.layout.crop(h.astype(np.float64) / st.dt ** 3)
        out.append(xr.DataArray(hv.astype(st.dtype), dims=vp.dims, coords=vp.coords,
                                name="illumination", attrs={"long_name": "sum_t (d2u/dt2)^2 dt"}))
    if return_info:
        out.append({"strategy": strategy, "snapshots": n_snap, "recompute_factor": factor,
                    "snapshot_bytes": st.snapshot_bytes(), "boundary_bytes": boundary_bytes(st),
                    "synthetic": np.stack(syn)})
    return tuple(out)
