"""Forward modelling and its exact adjoint, over the kernel backend that the
model's dimension and :class:`~fwi_core.engine.options.Options` select.

Time stepping: ``u^{-1} = u^0 = 0``; step n (n = 0..nt-2) makes u^{n+1} from
u^n, u^{n-1} and the source sample f^n; sample n of a trace is ``R u^n``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType

import numba
import numpy as np
import xarray as xr

from . import backends
from .acquisition import Acquisition, point_operators
from .boundaries import cpml_coefficients
from .grid import HALO, Layout, check_model
from .options import Options
from .shots import run_shots
from .stability import check_cfl, check_dispersion
from ..stencils import first_derivative, second_derivative
from .wavelets import as_wavelets, dominant_frequency, max_frequency

#: Default memory for the boundary records or checkpoints of one gradient
#: (bytes): keeps a Marmousi-size gradient (a few thousand steps) under 1 GB in all.
DEFAULT_MEMORY_BUDGET = 512 * 2 ** 20


@dataclass(frozen=True, eq=False)
class Setup:
    """Everything fixed for one (model, geometry, dt) run: the discrete operator."""

    layout: Layout
    dtype: np.dtype
    dt: float
    nt: int
    kernels: ModuleType      # the backend module (fwi_core.engine.backends)
    s: np.ndarray            # dt^2 vp^2 on the padded grid
    bounds: np.ndarray       # region bounds of the backend (kernels.regions)
    op: tuple                # the operator packed for the backend's loops (kernels.pack)
    src: tuple               # (idx (n_shots, 1, K), w / cell volume (n_shots, 1, K))
    rec: tuple               # (idx (n_shots, n_rec, K), w (n_shots, n_rec, K))

    def shot_points(self, shot: int) -> tuple[tuple, tuple]:
        """``(src, rec)`` = ((idx, w), (idx, w)) of one shot, as the loops take them."""
        return (self.src[0][shot], self.src[1][shot]), (self.rec[0][shot], self.rec[1][shot])

    def snapshot_bytes(self) -> int:
        """Bytes of one checkpoint snapshot at most (:func:`fwi_core.engine.gradient`)."""
        return self.dtype.itemsize * self.kernels.snapshot_cells(self.layout)


def setup(vp: xr.DataArray, acq: Acquisition, dt: float, nt: int, options: Options | None = None,
          fmax: float | None = None) -> Setup:
    """Validate the arguments of a run and build its discrete operator.

    ``options.vmax`` (m/s) and ``options.freq`` (Hz) set the CPML damping and
    default to the model maximum and to 1/(20 dt); ``fmax`` (Hz), the
    wavelet's useful maximum frequency, is used for the dispersion warning
    when given.
    """
    opt = Options.build(options)
    v, spacing = check_model(vp)
    if not isinstance(acq, Acquisition):
        raise ValueError("acq must be a fwi_core.Acquisition")
    acq.check_inside(vp)
    if isinstance(nt, bool) or int(nt) != nt or nt < 2:
        raise ValueError(f"nt must be an integer >= 2, got {nt!r}")
    kernels = backends.get(v.ndim, opt.backend)
    dtype = np.dtype(opt.dtype)
    vmax_ = float(v.max()) if opt.vmax is None else float(opt.vmax)
    check_cfl(dt, max(vmax_, float(v.max())), spacing, opt.space_order)
    if fmax is not None:
        check_dispersion(float(v.min()), fmax, spacing, opt.space_order)
    layout = Layout(tuple(v.shape), opt.pml_width, opt.free_surface)
    s = np.ascontiguousarray((dt * layout.pad(v)) ** 2, dtype=dtype)
    c2 = second_derivative(opt.space_order)
    c1 = first_derivative(opt.space_order)

    def tup(c, h):
        full = np.zeros(HALO + 1)
        full[:len(c)] = c / h
        return tuple(dtype.type(x) for x in full)

    coefs = [(tup(c2, h * h), tup(c1, h)) for h in spacing]
    f_ref = float(opt.freq) if opt.freq is not None else 1.0 / (20.0 * dt)
    cpml = [tuple(np.ascontiguousarray(a, dtype=dtype) for a in ab)
            for ab in cpml_coefficients(layout, spacing, dt, vmax_, f_ref)]
    bounds = kernels.regions(layout)
    rec_idx, rec_w = point_operators(acq.receivers.reshape(-1, acq.ndim), vp, layout)
    if acq.masked:  # a masked receiver records nothing and injects nothing (Acquisition.mask)
        rec_w = rec_w * acq.mask.reshape(-1, 1)
    src_idx, src_w = point_operators(acq.sources, vp, layout)
    n_shots, n_rec = acq.n_shots, acq.n_receivers
    return Setup(
        layout=layout, dtype=dtype, dt=float(dt), nt=int(nt), kernels=kernels, s=s,
        bounds=bounds, op=kernels.pack(s, coefs, cpml, bounds, layout.free_surface),
        src=(src_idx.reshape(n_shots, 1, -1),
             (src_w / math.prod(spacing)).astype(dtype).reshape(n_shots, 1, -1)),
        rec=(rec_idx.reshape(n_shots, n_rec, -1), rec_w.astype(dtype).reshape(n_shots, n_rec, -1)))


# ---------------------------------------------------------------- drivers

def _shot_forward(st: Setup, shot: int, wav: np.ndarray) -> np.ndarray:
    """Traces ``(n_rec, nt)`` of one shot."""
    K = st.kernels
    u, um, spare = K.fields(st.layout, st.dtype, 3)
    src, rec = st.shot_points(shot)
    syn = np.zeros((st.nt, rec[0].shape[0]), dtype=st.dtype)   # time-major while stepping
    u, um, spare = K.advance(st.nt - 1, 0, u, um, spare, K.cpml_fields(st.layout, st.dtype), st.op,
                             src, wav, rec, syn, True)
    K.gather(u, rec[0], rec[1], syn[-1])
    return syn.T


def _data_array(data: np.ndarray, acq: Acquisition, dt: float, dims: tuple[str, ...]) -> xr.DataArray:
    n_shots, n_rec, nt = data.shape
    coords = {"shot": np.arange(n_shots), "receiver": np.arange(n_rec), "time": np.arange(nt) * dt}
    for k, d in enumerate(dims):
        coords[f"src_{d}"] = ("shot", acq.sources[:, k])
    for k, d in enumerate(dims):
        coords[f"rec_{d}"] = (("shot", "receiver"), acq.receivers[..., k])
    return xr.DataArray(data, dims=("shot", "receiver", "time"), name="data", coords=coords,
                        attrs={"units": "pressure (source units)", "dt": dt})


def _prepare(vp, acq, w, dt, nt, options: Options):
    """Validate a run, build its operator and return it with the ``(n_shots, nt)`` wavelets."""
    if not isinstance(acq, Acquisition):
        raise ValueError("acq must be a fwi_core.Acquisition")
    if isinstance(nt, bool) or int(nt) != nt or nt < 2:
        raise ValueError(f"nt must be an integer >= 2, got {nt!r}")
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    wav = as_wavelets(w, acq.n_shots, int(nt), np.float64)
    if options.freq is None:
        options = Options.build(options, freq=max(dominant_frequency(wav, dt), 1e-6))
    st = setup(vp, acq, dt, int(nt), options, fmax=max_frequency(wav, dt))
    return st, wav.astype(st.dtype)


def forward(vp: xr.DataArray, acq: Acquisition, w: np.ndarray, dt: float, nt: int,
            options: Options | None = None, **engine) -> xr.DataArray:
    """Model shot records.

    ``vp``: model (m/s), dims ("z", "x") or ("z", "y", "x"); ``acq``:
    geometry; ``w``: wavelet ``(nt,)`` or ``(n_shots, nt)``, sample k at
    time k*dt; ``dt`` s; ``nt`` samples. Returns a DataArray
    ``("shot", "receiver", "time")``. ``options`` and/or the keywords of
    :class:`~fwi_core.engine.options.Options` (``space_order=8,
    pml_width=20, free_surface=False, dtype=np.float32, vmax=None,
    freq=None, num_threads=None, backend="cpu"``) set the discretisation:
    ``vmax``/``freq`` override the CPML reference velocity and frequency
    (default: model maximum, wavelet peak frequency); with at least
    ``num_threads`` shots each thread models whole shots, else the grid is
    split across threads (one on small grids).
    """
    opt = Options.build(options, **engine)
    st, wav = _prepare(vp, acq, w, dt, nt, opt)
    data = np.stack(run_shots(lambda shot, _: _shot_forward(st, shot, wav[shot]),
                              acq.n_shots, st.layout.n_points, opt.num_threads))
    return _data_array(data, acq, st.dt, vp.dims)


def adjoint(vp: xr.DataArray, acq: Acquisition, residual: np.ndarray, dt: float, nt: int,
            options: Options | None = None, **engine) -> np.ndarray:
    """Transpose of :func:`forward` as a linear map from wavelets to traces.

    ``residual``: ``(n_shots, n_rec, nt)``; returns ``(n_shots, nt)`` such that
    ``<forward(w), d> = <w, adjoint(d)>`` to rounding. Options as in
    :func:`forward`; ``freq`` must match the one the forward run used (pass
    it explicitly for a dot-product test).
    """
    opt = Options.build(options, **engine)
    r = np.asarray(residual)
    if r.shape != (acq.n_shots, acq.n_receivers, nt):
        raise ValueError(f"residual: shape {r.shape}, expected {(acq.n_shots, acq.n_receivers, nt)}")
    if opt.freq is None:
        raise ValueError("freq: pass the CPML reference frequency used by the forward run")
    st = setup(vp, acq, dt, nt, opt)
    r = np.ascontiguousarray(r, dtype=st.dtype)
    out = np.zeros((acq.n_shots, nt), dtype=st.dtype)
    run_shots(lambda shot, _: _shot_adjoint(st, shot, r[shot], out[shot]),
              acq.n_shots, st.layout.n_points, opt.num_threads)
    return out


def _shot_adjoint(st: Setup, shot: int, r: np.ndarray, out: np.ndarray) -> None:
    """Source-side adjoint ``out (nt,)`` of one shot's residual ``r (n_rec, nt)``."""
    K = st.kernels
    w, wp = K.fields(st.layout, st.dtype, 2)
    *adj_aux, t = K.adjoint_fields(st.layout, st.dtype, numba.get_num_threads())
    src, rec = st.shot_points(shot)
    K.inject(w, st.s, rec[0], rec[1], r[:, st.nt - 1])
    K.adjoint_sweep(w, wp, t, tuple(adj_aux), st.op, src, rec, r, out)
