"""Running shots on the machine's threads: whole shots per thread when there
are enough of them, else one shot at a time with the grid split across threads."""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numba

#: Below this many grid points per step a single thread is faster: the cost of
#: starting a parallel region (and, on a busy machine, of waiting for the other
#: core) exceeds the work it shares.
SERIAL_BELOW_POINTS = 40_000


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
