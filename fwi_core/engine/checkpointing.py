"""Optimal binomial (Revolve) checkpointing for reversing a time-stepping loop.

Griewank & Walther (2000), "Algorithm 799: revolve". Pure Python.

Conventions (the contract the adjoint engine is written against)
-----------------------------------------------------------------
- ``n`` forward steps; forward step ``i`` maps state ``S_i -> S_{i+1}``,
  ``i = 0..n-1``. The engine starts with ``S_0`` as its *current state*.
- Adjoint steps run ``i = n-1`` down to ``0``. Reversing step ``i`` needs the
  current state to be exactly ``S_i`` (the adjoint step images against u^i
  only, :func:`fwi_core.engine.backends.cpu2d.adjoint_step`); afterwards the
  current state is consumed, so the next action is a ``restore`` (or the
  schedule ends).
- :func:`schedule` yields action tuples:

  ``("advance", k)``   apply ``k >= 1`` forward steps to the current state;
  ``("save", slot)``    copy the current state into ``slot`` (overwrite);
  ``("restore", slot)`` current state := copy of ``slot`` (slot is kept);
  ``("reverse", i)``    adjoint step ``i`` (current state must be ``S_i``).

  Slots are ``0 <= slot < snapshots``; slot 0 holds ``S_0`` throughout.
- Cost = total ``k`` over all ``advance`` actions: the initial sweep
  ``S_0 -> S_{n-1}`` (``n-1`` steps) plus every recomputation.

Minimum cost (:func:`forward_steps`). With ``beta(s, r) = C(s + r, s)`` (the
most steps reversible with ``s`` slots when each step is advanced at most
``r`` times) and ``r`` the least integer with ``beta(s, r) >= n``::

    forward_steps(n, s) = r * n - C(s + r, s + 1)        (n >= 2)

which is ``n - 1`` when ``s >= n - 1`` (store everything, no recomputation),
``n (n - 1) / 2`` when ``s = 1``, and ``0`` when ``n = 1``.
"""
from __future__ import annotations

from math import comb
from typing import Iterator

Action = tuple[str, int]

__all__ = [
    "Action",
    "schedule",
    "forward_steps",
    "recompute_factor",
    "snapshots_for_budget",
]


def _check(n: int, snapshots: int) -> None:
    if n < 1:
        raise ValueError(f"checkpoints: n (number of steps) must be >= 1, got {n}")
    if n >= 2 and snapshots < 1:
        raise ValueError(
            f"checkpoints: snapshots must be >= 1 when n >= 2 (one slot holds S_0), got {snapshots}"
        )


def _reps(l: int, s: int, hint: int = 0) -> int:
    """Least ``r >= 0`` with ``C(s + r, s) >= l`` (``l >= 1``, ``s >= 1``),
    searched from ``hint`` (exact or off by a few: O(1) in the schedule)."""
    if s == 1:
        return l - 1
    r = max(hint, 0)
    while r > 0 and comb(s + r - 1, s) >= l:
        r -= 1
    while comb(s + r, s) < l:
        r += 1
    return r


def forward_steps(n: int, snapshots: int) -> int:
    """Total steps of all ``advance`` actions of the optimal schedule (which is
    the minimum over all schedules under the module's conventions)."""
    _check(n, snapshots)
    if n == 1:
        return 0
    s = min(snapshots, n - 1)
    r = _reps(n, s, 1)
    return r * n - comb(s + r, s + 1)


def recompute_factor(n: int, snapshots: int) -> float:
    """``forward_steps(n, snapshots) / (n - 1)``: total advanced steps relative
    to one plain forward sweep ``S_0 -> S_{n-1}`` (the cost when every state is
    stored). 1.0 means no recomputation; the step re-done inside each reverse
    is excluded from both numerator and denominator. Returns 1.0 for ``n == 1``.
    """
    fs = forward_steps(n, snapshots)
    return 1.0 if n == 1 else fs / (n - 1)


def schedule(n: int, snapshots: int) -> Iterator[Action]:
    """Generator of the optimal binomial checkpointing schedule (see module
    docstring for the action semantics). Arguments are validated eagerly.

    Uses at most ``min(snapshots, n - 1)`` slots; with ``snapshots >= n - 1``
    every state ``S_0..S_{n-2}`` is saved once and nothing is recomputed.
    """
    _check(n, snapshots)
    return _schedule(n, min(snapshots, max(n - 1, 1)))


def _schedule(n: int, s: int) -> Iterator[Action]:
    if n >= 2:
        yield ("save", 0)
    # Pending sub-problems: reverse steps a..a+l-1 with c slots starting at
    # `slot`, S_a held in `slot`; r = repetition number (hint).
    stack: list[tuple[int, int, int, int, int]] = []
    a, l, c, slot, r = 0, n, s, 0, _reps(n, s, 1) if n >= 2 else 0
    while True:
        while l > 1:
            # Optimal split: m in [beta(c, r-2), beta(c, r-1)] and
            # l - m in [beta(c-1, r-1), beta(c-1, r)]; take the largest m.
            r = _reps(l, c, r)
            b = comb(c + r - 1, c)  # beta(c, r-1)
            m = min(b, l - b * c // (c + r - 1))  # beta(c-1, r-1) = b c/(c+r-1)
            yield ("advance", m)
            stack.append((a, m, c, slot, r - 1))
            a, l, c, slot = a + m, l - m, c - 1, slot + 1
            if l > 1:
                yield ("save", slot)
        yield ("reverse", a)
        if not stack:
            return
        a, l, c, slot, r = stack.pop()
        yield ("restore", slot)


def snapshots_for_budget(n: int, bytes_per_snapshot: int, budget_bytes: int) -> int:
    """Number of snapshot slots that fit in ``budget_bytes`` (slots only; the
    engine's current state and scratch copy are not included), clipped to
    ``[1, n]``; ``n`` means "store everything"."""
    if n < 1:
        raise ValueError(f"checkpoints: n (number of steps) must be >= 1, got {n}")
    if bytes_per_snapshot <= 0:
        raise ValueError(f"checkpoints: bytes_per_snapshot must be > 0, got {bytes_per_snapshot}")
    fit = budget_bytes // bytes_per_snapshot
    if fit < 1:
        raise ValueError(
            f"checkpoints: memory_budget of {budget_bytes} bytes holds no snapshot "
            f"of {bytes_per_snapshot} bytes"
        )
    return min(fit, n)
