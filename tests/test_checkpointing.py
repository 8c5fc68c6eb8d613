"""Tests for fwi_core.checkpointing: a toy state machine (state = step index)
driven by the schedule, the closed formula vs brute force, and optimality vs an
exhaustive search over all action sequences for small n, s."""
from __future__ import annotations

import heapq
import random
import time
from functools import lru_cache

import pytest

from fwi_core.engine.checkpointing import (
    forward_steps,
    recompute_factor,
    schedule,
    snapshots_for_budget,
)


def simulate(n: int, s: int) -> int:
    """Run schedule(n, s) on a toy engine; return the number of advanced steps."""
    cur: int | None = 0  # current state index (None = consumed)
    slots: dict[int, int] = {}
    expect = n - 1  # next adjoint step
    advanced = 0
    log = []
    for act in schedule(n, s):
        log.append(act)
        kind, arg = act
        if kind == "advance":
            assert cur is not None and arg >= 1, log[-3:]
            cur += arg
            assert cur <= n - 1, log[-3:]
            advanced += arg
        elif kind == "save":
            assert cur is not None and 0 <= arg < s, log[-3:]
            slots[arg] = cur
        elif kind == "restore":
            assert 0 <= arg < s and arg in slots, log[-3:]
            cur = slots[arg]
        elif kind == "reverse":
            assert arg == expect and cur == arg, log[-3:]
            expect -= 1
            cur = None
        else:
            raise AssertionError(f"unknown action {act}")
    assert expect == -1, "not every step was reversed"
    return advanced


@lru_cache(maxsize=None)
def split_dp(l: int, s: int) -> float:
    """Recursive-split optimum (S_0 held in a slot, s slots in total)."""
    if l == 1:
        return 0
    if s == 0:
        return float("inf")
    return min(m + split_dp(l - m, s - 1) + split_dp(m, s) for m in range(1, l))


def exhaustive_optimum(n: int, s: int) -> int:
    """Dijkstra over every action sequence: state = (stored set, current,
    next step to reverse), cost = advanced steps. Slots are interchangeable, and
    stored states past the next step to reverse are useless, so drop them."""
    start = (frozenset(), 0, n - 1)
    dist = {start: 0}
    heap = [(0, 0, n - 1, start)]
    while heap:
        d, _, _, st = heapq.heappop(heap)
        if d > dist[st]:
            continue
        stored, cur, k = st
        if k < 0:
            return d
        nxt = []
        if cur is not None:
            if cur < k:
                nxt.append((1, (stored, cur + 1, k)))
            if cur == k:
                nxt.append((0, (frozenset(x for x in stored if x < k), None, k - 1)))
            if cur not in stored:
                if len(stored) < s:
                    nxt.append((0, (stored | {cur}, cur, k)))
                for x in stored:  # overwrite a slot
                    nxt.append((0, ((stored - {x}) | {cur}, cur, k)))
        for x in stored:
            nxt.append((0, (stored, x, k)))
        for c, ns in nxt:
            if d + c < dist.get(ns, float("inf")):
                dist[ns] = d + c
                heapq.heappush(heap, (d + c, -ns[2], id(ns), ns))
    raise AssertionError("unreachable")


CASES = (
    [(1, 0), (1, 1), (1, 5), (2, 1), (2, 2), (2, 10), (3, 1), (3, 2), (5, 1), (10, 1)]
    + [(n, s) for n in range(2, 40) for s in (1, 2, 3, 5, n - 2, n - 1, n, n + 3) if s >= 1]
    + [(3000, 50), (3000, 140), (2999, 200), (500, 1), (2000, 2), (1000, 999)]
)


@pytest.mark.parametrize("n,s", CASES)
def test_schedule_valid_and_count(n, s):
    adv = simulate(n, s)
    assert adv == forward_steps(n, s)
    if n >= 2 and s >= n - 1:
        assert adv == n - 1  # store everything: no recomputation
        assert recompute_factor(n, s) == 1.0


def test_random_cases():
    rng = random.Random(1234)
    for _ in range(150):
        n = rng.randint(1, 400)
        s = rng.randint(1, 40)
        assert simulate(n, s) == forward_steps(n, s)


def test_closed_formula_matches_split_dp():
    for n in range(1, 61):
        for s in range(1, 8):
            assert forward_steps(n, s) == split_dp(n, s), (n, s)


def test_optimal_vs_exhaustive_search():
    for n in range(1, 9):
        for s in range(1, 5):
            assert forward_steps(n, s) == exhaustive_optimum(n, s), (n, s)


def test_known_values():
    # Closed formula r*n - C(s+r, s+1), r least with C(s+r, s) >= n:
    # n=3000, s=50:  C(52,2)=1326 < 3000 <= C(53,3)=23426 -> r=3,
    #                3*3000 - C(53,51) = 9000 - 1378 = 7622
    # n=3000, s=140: C(141,1)=141 < 3000 <= C(142,2)=10011 -> r=2,
    #                2*3000 - C(142,141) = 6000 - 142 = 5858
    # n=2999, s=200: 201 < 2999 <= C(202,2)=20301 -> r=2, 5998 - 202 = 5796
    assert forward_steps(3000, 50) == 7622
    assert forward_steps(3000, 140) == 5858
    assert forward_steps(2999, 200) == 5796
    assert forward_steps(1, 0) == 0
    assert forward_steps(10, 1) == 45  # n(n-1)/2
    assert recompute_factor(3000, 140) == pytest.approx(5858 / 2999)
    assert recompute_factor(1, 1) == 1.0


def test_speed():
    t = time.perf_counter()
    n_act = sum(1 for _ in schedule(20000, 100))
    assert n_act > 0
    assert time.perf_counter() - t < 0.5  # typically ~0.05 s


def test_errors():
    with pytest.raises(ValueError, match="checkpoints: .*snapshots"):
        schedule(2, 0)
    with pytest.raises(ValueError, match="checkpoints: .*snapshots"):
        forward_steps(5, 0)
    with pytest.raises(ValueError, match="checkpoints: n"):
        schedule(0, 3)
    with pytest.raises(ValueError, match="checkpoints: .*memory_budget"):
        snapshots_for_budget(10, 100, 99)


def test_snapshots_for_budget():
    assert snapshots_for_budget(10, 100, 100) == 1
    assert snapshots_for_budget(10, 100, 450) == 4
    assert snapshots_for_budget(10, 100, 10**6) == 10
    assert snapshots_for_budget(3000, 8 * 10**6, 4 * 10**9) == 500
