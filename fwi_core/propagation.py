"""Forward modelling, its exact adjoint, and the checkpointed adjoint-state
gradient, over the kernels in :mod:`fwi_core.kernels`.

Time stepping: ``u^{-1} = u^0 = 0``; step n (n = 0..nt-2) makes u^{n+1} from
u^n, u^{n-1} and the source sample f^n; sample n of a trace is ``R u^n``.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numba
import xarray as xr

from . import kernels as K
from .acquisition import Acquisition, point_operators
from .boundaries import cpml_coefficients
from .grid import HALO, Layout, check_model
from .stability import check_cfl, check_dispersion
from .stencils import check_space_order, first_derivative, second_derivative
from .wavelets import as_wavelets, dominant_frequency, max_frequency

#: Default memory for the boundary records or checkpoints of one gradient
#: (bytes): keeps a Marmousi-size gradient (a few thousand steps) under 1 GB in all.
DEFAULT_MEMORY_BUDGET = 512 * 2 ** 20
#: Below this many grid points per step a single thread is faster: the cost of
#: starting a parallel region (and, on a busy machine, of waiting for the other
#: core) exceeds the work it shares.
SERIAL_BELOW_POINTS = 40_000
#: Width multiple (cells) of the x absorbing strips: one AVX-512 float32 vector.
STRIP_ALIGN = 16


def _threadsafe_layer() -> bool:
    """True when numba can launch parallel kernels from several threads at
    once (OpenMP or TBB layer); selects OpenMP if the user chose nothing."""
    if numba.config.THREADING_LAYER not in ("default", "omp", "tbb", "threadsafe"):
        return False
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:
        try:
            from numba.np.ufunc import tbbpool  # noqa: F401
        except ImportError:
            return False
        layer = "tbb"
    else:
        layer = "omp"
    if numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = layer
    return True


def check_threads(num_threads: int | None) -> int:
    """Validate ``num_threads``; None means all numba threads."""
    if num_threads is None:
        return numba.config.NUMBA_NUM_THREADS
    if (isinstance(num_threads, bool) or int(num_threads) != num_threads
            or not 1 <= num_threads <= numba.config.NUMBA_NUM_THREADS):
        raise ValueError(f"num_threads must be an integer in [1, {numba.config.NUMBA_NUM_THREADS}], "
                         f"got {num_threads!r}")
    return int(num_threads)


@contextlib.contextmanager
def _kernel_threads(n: int):
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def shot_workers(n_shots: int, num_threads: int | None) -> int:
    """How many shots run at once: one per thread when there are at least as
    many shots as threads (no synchronisation per time step, robust on a busy
    machine), else 1 (the grid is split across threads instead)."""
    n = check_threads(num_threads)
    return n if n > 1 and n_shots >= n and _threadsafe_layer() else 1


def run_shots(task, n_shots: int, n_points: int, num_threads: int | None) -> list:
    """``[task(shot, worker) for shot in range(n_shots)]`` on the available threads.

    With several workers, worker k runs shots k, k + W, k + 2W, ... on one
    thread each; the assignment is fixed, so per-worker sums are reproducible
    bitwise for a given thread count. With one worker the kernels split the
    grid across ``num_threads`` threads (one on grids under
    ``SERIAL_BELOW_POINTS``)."""
    n = check_threads(num_threads)
    workers = shot_workers(n_shots, num_threads)
    if workers == 1:
        threads = n if (num_threads is not None or n_points >= SERIAL_BELOW_POINTS) else 1
        with _kernel_threads(threads):
            return [task(shot, 0) for shot in range(n_shots)]

    def work(k: int) -> list:
        with _kernel_threads(1):
            return [(shot, task(shot, k)) for shot in range(k, n_shots, workers)]

    out = [None] * n_shots
    with ThreadPoolExecutor(workers) as pool:
        for part in pool.map(work, range(workers)):
            for shot, result in part:
                out[shot] = result
    return out


@dataclass(frozen=True, eq=False)
class Setup:
    """Everything fixed for one (model, geometry, dt) run: the discrete operator."""

    layout: Layout
    dtype: np.dtype
    dt: float
    nt: int
    s: np.ndarray            # dt^2 vp^2 on the padded grid
    vp_pad: np.ndarray       # padded velocity (float64), for the chain rule
    coefs: tuple             # (c2x, c2z, c1x, c1z) 5-tuples scaled by the spacing
    cpml: tuple              # (ax, bx, az, bz)
    bounds: tuple            # (fz, ze, xs, xe, zc0, zc1, xc0, xc1)
    src: tuple               # (idx (n_shots, 1, K), w/(dz*dx) (n_shots, 1, K))
    rec: tuple               # (idx (n_shots, n_rec, K), w (n_shots, n_rec, K))
    xcols: np.ndarray        # padded columns of the x absorbing strips
    zrows: np.ndarray        # padded rows of the z absorbing strips


def _bounds(layout: Layout) -> tuple[int, ...]:
    NZ, NX = layout.shape
    fz = HALO + (1 if layout.free_surface else 0)
    ze, xs, xe = NZ - HALO, HALO, NX - HALO
    reach = HALO  # stencil radius: the core starts this far from the layer
    zc0 = HALO + layout.top + reach if layout.top else fz
    zc1 = ze - layout.pml - reach if layout.pml else ze
    # x strips widened to whole 16-float vectors (the CPML terms are exactly 0
    # beyond the layer): a scalar loop tail would cost more than the extra lanes
    strip = -(-(layout.pml + reach) // STRIP_ALIGN) * STRIP_ALIGN
    xc0 = xs + strip if layout.pml else xs
    xc1 = xe - strip if layout.pml else xe
    if zc1 <= zc0:  # short grid: every row is a band row
        zc0 = zc1 = fz
    if xc1 <= xc0:  # narrow grid: one strip spans every column
        xc0 = xc1 = xs
    return fz, ze, xs, xe, zc0, zc1, xc0, xc1


def setup(vp: xr.DataArray, acq: Acquisition, dt: float, nt: int, space_order: int = 8,
          pml_width: int = 20, free_surface: bool = False, dtype=np.float32,
          vmax: float | None = None, freq: float | None = None,
          fmax: float | None = None) -> Setup:
    """Validate the arguments of a run and build its discrete operator.

    ``vmax`` (m/s) and ``freq`` (Hz) set the CPML damping and default to the
    model maximum and to 1/(20 dt); ``fmax`` (Hz), the wavelet's useful maximum
    frequency, is used for the dispersion warning when given.
    """
    v, dz, dx = check_model(vp)
    check_space_order(space_order)
    if not isinstance(acq, Acquisition):
        raise ValueError("acq must be a fwi_core.Acquisition")
    acq.check_inside(vp)
    if isinstance(pml_width, bool) or int(pml_width) != pml_width or pml_width < 0:
        raise ValueError(f"pml_width must be a non-negative integer, got {pml_width!r}")
    if isinstance(nt, bool) or int(nt) != nt or nt < 2:
        raise ValueError(f"nt must be an integer >= 2, got {nt!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    vmax_ = float(v.max()) if vmax is None else float(vmax)
    check_cfl(dt, max(vmax_, float(v.max())), dz, dx, space_order)
    if fmax is not None:
        check_dispersion(float(v.min()), fmax, dz, dx, space_order)
    layout = Layout(v.shape[0], v.shape[1], int(pml_width), bool(free_surface))
    vp_pad = layout.pad(v)
    s = np.ascontiguousarray((dt * vp_pad) ** 2, dtype=dtype)
    c2 = second_derivative(space_order)
    c1 = first_derivative(space_order)

    def tup(c, h):
        full = np.zeros(HALO + 1)
        full[:len(c)] = c / h
        return tuple(dtype.type(x) for x in full)

    coefs = (tup(c2, dx * dx), tup(c2, dz * dz), tup(c1, dx), tup(c1, dz))
    f_ref = float(freq) if freq is not None else 1.0 / (20.0 * dt)
    az, bz, ax, bx = (np.ascontiguousarray(a, dtype=dtype)
                      for a in cpml_coefficients(layout, dz, dx, dt, vmax_, f_ref))
    rec_idx, rec_w = point_operators(acq.receivers.reshape(-1, 2), vp, layout)
    src_idx, src_w = point_operators(acq.sources, vp, layout)
    n_shots, n_rec = acq.n_shots, acq.n_receivers
    NZ, NX = layout.shape
    xcols = np.r_[HALO:HALO + layout.pml, NX - HALO - layout.pml:NX - HALO].astype(np.int64)
    zrows = np.r_[HALO:HALO + layout.top, NZ - HALO - layout.pml:NZ - HALO].astype(np.int64)
    return Setup(
        layout=layout, dtype=dtype, dt=float(dt), nt=int(nt), s=s, vp_pad=vp_pad,
        coefs=coefs, cpml=(ax, bx, az, bz), bounds=_bounds(layout),
        src=(src_idx.reshape(n_shots, 1, -1), (src_w / (dz * dx)).astype(dtype).reshape(n_shots, 1, -1)),
        rec=(rec_idx.reshape(n_shots, n_rec, -1), rec_w.astype(dtype).reshape(n_shots, n_rec, -1)),
        xcols=xcols, zrows=zrows)


# ---------------------------------------------------------------- drivers

def _zeros(setup: Setup, n: int = 1) -> list[np.ndarray]:
    return [np.zeros(setup.layout.shape, dtype=setup.dtype) for _ in range(n)]


def _adjoint_scratch(setup: Setup) -> np.ndarray:
    """Scratch rows of ``kernels.adjoint_step``: two padded rows per thread,
    shape ``(2 * threads, nx_padded)`` (the step splits its rows in as many chunks)."""
    return np.zeros((2 * numba.get_num_threads(), setup.layout.shape[1]), dtype=setup.dtype)


def _op_args(st: Setup) -> tuple:
    c2x, c2z, c1x, c1z = st.coefs
    ax, bx, az, bz = st.cpml
    return (st.s, c2x, c2z, c1x, c1z, ax, bx, az, bz,
            np.array(st.bounds, dtype=np.int64), st.layout.free_surface)


def _shot_forward(st: Setup, shot: int, wav: np.ndarray) -> np.ndarray:
    """Traces ``(n_rec, nt)`` of one shot."""
    u, um, spare, psx, psz, zex, zez = _zeros(st, 7)
    rec_idx, rec_w = st.rec[0][shot], st.rec[1][shot]
    syn = np.zeros((st.nt, rec_idx.shape[0]), dtype=st.dtype)   # time-major while stepping
    u, um, spare = K.advance(st.nt - 1, 0, u, um, spare, psx, psz, zex, zez, *_op_args(st),
                             st.src[0][shot], st.src[1][shot], wav, rec_idx, rec_w, syn, True)
    K.gather(u, rec_idx, rec_w, syn[-1])
    return syn.T


def _data_array(data: np.ndarray, acq: Acquisition, dt: float) -> xr.DataArray:
    n_shots, n_rec, nt = data.shape
    return xr.DataArray(
        data, dims=("shot", "receiver", "time"), name="data",
        coords={"shot": np.arange(n_shots), "receiver": np.arange(n_rec),
                "time": np.arange(nt) * dt,
                "src_z": ("shot", acq.sources[:, 0]), "src_x": ("shot", acq.sources[:, 1]),
                "rec_z": (("shot", "receiver"), acq.receivers[..., 0]),
                "rec_x": (("shot", "receiver"), acq.receivers[..., 1])},
        attrs={"units": "pressure (source units)", "dt": dt})


def _prepare(vp, acq, w, dt, nt, space_order, pml_width, free_surface, dtype, vmax, freq):
    """Validate a run, build its operator and return it with the ``(n_shots, nt)`` wavelets."""
    if not isinstance(acq, Acquisition):
        raise ValueError("acq must be a fwi_core.Acquisition")
    if isinstance(nt, bool) or int(nt) != nt or nt < 2:
        raise ValueError(f"nt must be an integer >= 2, got {nt!r}")
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    wav = as_wavelets(w, acq.n_shots, int(nt), np.float64)
    f_ref = freq if freq is not None else max(dominant_frequency(wav, dt), 1e-6)
    st = setup(vp, acq, dt, int(nt), space_order, pml_width, free_surface, dtype, vmax, f_ref,
               fmax=max_frequency(wav, dt))
    return st, wav.astype(st.dtype)


def forward(vp: xr.DataArray, acq: Acquisition, w: np.ndarray, dt: float, nt: int,
            space_order: int = 8, pml_width: int = 20, free_surface: bool = False,
            dtype=np.float32, vmax: float | None = None, freq: float | None = None,
            num_threads: int | None = None) -> xr.DataArray:
    """Model shot records.

    ``vp``: model (m/s), dims ("z", "x"); ``acq``: geometry; ``w``: wavelet
    ``(nt,)`` or ``(n_shots, nt)``, sample k at time k*dt; ``dt`` s; ``nt``
    samples. Returns a DataArray ``("shot", "receiver", "time")``.
    ``vmax``/``freq`` override the CPML reference velocity and frequency
    (default: model maximum, wavelet peak frequency); ``num_threads`` the
    threads (default: all): with at least that many shots each thread models
    whole shots, else the grid is split across threads (one on small grids).
    """
    st, wav = _prepare(vp, acq, w, dt, nt, space_order, pml_width, free_surface, dtype, vmax, freq)
    data = np.stack(run_shots(lambda shot, _: _shot_forward(st, shot, wav[shot]),
                              acq.n_shots, st.layout.n_points, num_threads))
    return _data_array(data, acq, st.dt)


def adjoint(vp: xr.DataArray, acq: Acquisition, residual: np.ndarray, dt: float, nt: int,
            space_order: int = 8, pml_width: int = 20, free_surface: bool = False,
            dtype=np.float32, vmax: float | None = None, freq: float | None = None,
            num_threads: int | None = None) -> np.ndarray:
    """Transpose of :func:`forward` as a linear map from wavelets to traces.

    ``residual``: ``(n_shots, n_rec, nt)``; returns ``(n_shots, nt)`` such that
    ``<forward(w), d> = <w, adjoint(d)>`` to rounding. ``freq`` must match the
    one the forward run used (pass it explicitly for a dot-product test).
    """
    r = np.asarray(residual)
    if r.shape != (acq.n_shots, acq.n_receivers, nt):
        raise ValueError(f"residual: shape {r.shape}, expected {(acq.n_shots, acq.n_receivers, nt)}")
    if freq is None:
        raise ValueError("freq: pass the CPML reference frequency used by the forward run")
    st = setup(vp, acq, dt, nt, space_order, pml_width, free_surface, dtype, vmax, freq)
    r = np.ascontiguousarray(r, dtype=st.dtype)
    out = np.zeros((acq.n_shots, nt), dtype=st.dtype)
    run_shots(lambda shot, _: _shot_adjoint(st, shot, r[shot], out[shot]),
              acq.n_shots, st.layout.n_points, num_threads)
    return out


def _shot_adjoint(st: Setup, shot: int, r: np.ndarray, out: np.ndarray) -> None:
    """Source-side adjoint ``out (nt,)`` of one shot's residual ``r (n_rec, nt)``."""
    nt = st.nt
    c2x, c2z, c1x, c1z = st.coefs
    ax, bx, az, bz = st.cpml
    fs = st.layout.free_surface
    buf = np.empty(1, dtype=st.dtype)
    w, wp, zx, zz, px, pz = _zeros(st, 6)
    t = _adjoint_scratch(st)
    rec_idx, rec_w = st.rec[0][shot], st.rec[1][shot]
    src_idx, src_w = st.src[0][shot], st.src[1][shot]
    K.inject(w, st.s, rec_idx, rec_w, r[:, nt - 1])
    for n in range(nt - 2, -1, -1):
        K.gather(w, src_idx, src_w, buf)     # f^n sees W^{n+1}
        out[n] = buf[0]
        K.adjoint_step(w, wp, t, w, w, False, st.s, c2x, c2z, c1x, c1z, ax, bx, az, bz, zx, zz, px, pz,
                       *st.bounds, fs, w, w, t[0], False)
        K.inject(wp, st.s, rec_idx, rec_w, r[:, n])
        w, wp = wp, w


def _snapshot_bytes(st: Setup) -> int:
    """Bytes of one snapshot at most: two time levels and the CPML strips
    (consecutive snapshots share a time level, :func:`fwi_core.kernels.execute`)."""
    NZ, NX = st.layout.shape
    return st.dtype.itemsize * (2 * NZ * NX + 2 * NZ * len(st.xcols) + 2 * NX * len(st.zrows))
