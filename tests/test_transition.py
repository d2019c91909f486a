"""K-section of retrieval transitions (kernels/transition.py).

The search itself is checked on planted retrieval sets (a step at a known
location, sets with holes) through its injectable ``evaluate``; the real solver
is checked on real samples against the replica-symmetric theory (kernels.rs)
within the finite-size spread measured in physics.md g.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels import patterns, rs, tap, transition
from kernels.status import (
    TRANSITION_LOCATED,
    TRANSITION_LOWER_BOUND,
    TRANSITION_NOT_MONOTONE,
    TRANSITION_UPPER_BOUND,
)

#: alpha_c(T = 0.1) at N = 1000 minus RS, physics.md g (0.1445 against 0.1350).
FINITE_SIZE_SHIFT_1000 = 0.01


def planted(retrieving, calls=None):
    """``evaluate`` of :func:`kernels.transition.k_section` for a planted retrieval set.

    ``retrieving(x) -> bool array``; each point costs one iteration; ``calls``
    (a list) records the points of each round.
    """

    def evaluate(x):
        if calls is not None:
            calls.append(np.array(x))
        return retrieving(np.asarray(x)), np.ones(len(x), dtype=np.int64)

    return evaluate


def points_per_round(lo, hi, precision, points):
    """Points of each round of a K-section: the first spans [lo, hi] with K points,
    each later one shrinks the bracket (K + 1)-fold with K points, the last one
    with the fewest k <= K points that reach the precision."""
    width, counts = (hi - lo) / (points - 1), [points]
    while width > precision:
        k = min(points, int(np.ceil(width / precision)) - 1)
        width /= k + 1
        counts.append(k)
    return counts


@pytest.mark.parametrize("points", [2, 3, 8])
def test_k_section_finds_a_planted_step_to_the_asked_precision(points):
    rng = np.random.default_rng(15)
    lo, hi, precision = 0.05, 1.3, 1e-3
    for step in rng.uniform(lo, hi, size=40):
        calls = []
        found = transition.k_section(
            planted(lambda x, s=step: x < s, calls), lo, hi, precision=precision, points=points
        )
        assert found.status == TRANSITION_LOCATED
        assert found.lo < step <= found.hi
        assert found.hi - found.lo <= precision
        assert abs(found.estimate - step) <= precision / 2
        assert found.estimate == pytest.approx(0.5 * (found.lo + found.hi))
        # K points per round, the bracket shrinking (K + 1)-fold, fewer in the last
        counts = [len(c) for c in calls]
        assert counts == points_per_round(lo, hi, precision, points)
        assert counts[-1] < points or points == 2, "precision 1e-3 needs a short last round"
        assert found.evaluations == found.iterations == sum(counts)
        # each round's points lie in one gap of the round before, equally spaced
        for before, after in zip(calls, calls[1:], strict=False):
            gap = np.searchsorted(before, after)
            assert (gap == gap[0]).all()
            if after.size > 1:
                assert np.diff(after) == pytest.approx(np.diff(after).mean(), rel=1e-9)


def test_a_non_monotone_sample_is_reported_and_followed_to_its_largest_retrieving_point():
    # retrieval on [0, 0.3) and [0.5, 0.7): the first round (0, 1/7, ..., 1) sees the hole
    found = transition.k_section(
        planted(lambda x: (x < 0.3) | ((x >= 0.5) & (x < 0.7))), 0.0, 1.0, precision=1e-3
    )
    assert found.status == TRANSITION_NOT_MONOTONE
    assert found.lo < 0.7 <= found.hi and found.hi - found.lo <= 1e-3


def test_a_hole_seen_only_by_a_later_round_is_reported():
    # round 1 brackets [4/7, 5/7]; round 2 (spacing 1/63) puts a point in the hole
    # (0.600, 0.610) below the step at 0.65
    def retrieving(x):
        return (x < 0.65) & ~((x > 0.600) & (x < 0.610))

    calls = []
    found = transition.k_section(planted(retrieving, calls), 0.0, 1.0, precision=1e-3)
    first_round = calls[0]
    assert not ((first_round > 0.600) & (first_round < 0.610)).any(), (
        "the first round must not see the hole, or this tests nothing new"
    )
    assert found.status == TRANSITION_NOT_MONOTONE
    assert found.lo < 0.65 <= found.hi
    # the same step without the hole is a located, monotone sample
    clean = transition.k_section(planted(lambda x: x < 0.65), 0.0, 1.0, precision=1e-3)
    assert clean.status == TRANSITION_LOCATED and clean.lo == found.lo


def test_a_transition_outside_the_bracket_is_a_bound_not_an_estimate():
    above = transition.k_section(planted(lambda x: x < 5.0), 0.1, 1.0, precision=1e-3)
    assert above.status == TRANSITION_LOWER_BOUND
    assert np.isnan(above.estimate) and above.lo == 1.0 and np.isnan(above.hi)
    below = transition.k_section(planted(lambda x: x < 0.0), 0.1, 1.0, precision=1e-3)
    assert below.status == TRANSITION_UPPER_BOUND
    assert np.isnan(below.estimate) and below.hi == 0.1 and np.isnan(below.lo)
    assert above.evaluations == below.evaluations == transition.DEFAULT_POINTS


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"lo": 1.0, "hi": 0.5}, "bracket"),
        ({"lo": 0.1, "hi": np.nan}, "bracket"),
        ({"precision": 0.0}, "precision"),
        ({"precision": -1e-3}, "precision"),
        ({"points": 1}, "points"),
        ({"points": 2.5}, "points"),
    ],
)
def test_bad_search_arguments_raise_naming_the_key(kwargs, key):
    args = {"lo": 0.1, "hi": 1.0, "precision": 1e-3, "points": 4} | kwargs
    with pytest.raises(ValueError, match=key):
        transition.k_section(
            planted(lambda x: x < 0.5), args["lo"], args["hi"],
            precision=args["precision"], points=args["points"],
        )


def test_bad_solver_arguments_raise_naming_the_key():
    xi = patterns.iid(100, 0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="algorithm"):
        transition.retrieval_temperature(xi, 0.1, 1.0, precision=0.01, algorithm="tapp")
    with pytest.raises(ValueError, match="T_lo"):
        transition.retrieval_temperature(xi, 0.0, 1.0, precision=0.01)
    with pytest.raises(ValueError, match="alpha_hi"):
        transition.critical_load(xi, 0.1, 0.05, 0.2, precision=0.01)
    with pytest.raises(ValueError, match="alpha_lo"):
        transition.critical_load(xi, 0.1, 0.001, 0.1, precision=0.01)


def test_nested_loads_are_the_first_rows_of_one_sample():
    """The iid generator fills row by row, so a larger load extends a smaller one
    drawn from the same stream: nested samples need only the largest load."""
    small = patterns.iid(500, 0.05, np.random.default_rng(4)).xi
    large = patterns.iid(500, 0.2, np.random.default_rng(4))
    assert np.array_equal(small, large.xi[:25])
    first = transition.first_patterns(large, 25)
    assert np.shares_memory(first.xi, large.xi) and first.P == 25


def test_retrieval_temperature_of_real_samples_matches_rs_within_the_finite_size_spread():
    """T_M(alpha = 0.06), N = 1000, 12 samples: physics.md g measured 0.499 +- 0.015
    (8 samples) with this estimator; RS 0.494. A wrong temperature convention
    (beta for T) or predicate would miss by far more than the 0.03 allowed."""
    N, alpha, precision = 1000, 0.06, 0.002
    estimates = []
    for seed in range(12):
        xi = patterns.iid(N, alpha, patterns.point_rng(2017, N, alpha, seed))
        found = transition.retrieval_temperature(xi, 0.05, 1.3, precision=precision)
        assert found.status in (TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE)
        assert found.hi - found.lo <= precision
        # the final bracket, checked by the solver directly: retrieval at lo, none at hi
        ends = tap.solve(xi.xi, 1.0 / np.array([found.lo, found.hi]), max_iter=2000)
        assert list(transition.retrieved(ends)) == [True, False]
        estimates.append(found.estimate)
    assert abs(np.mean(estimates) - rs.retrieval_temperature(alpha)) < 0.03
    assert np.std(estimates) > precision, "samples differ: the spread is real, not rounding"


def test_critical_load_of_real_samples_matches_rs_within_the_finite_size_spread():
    """alpha_c(T = 0.1), nested patterns, N = 1000, 12 samples: physics.md g measured
    0.1445 +- 0.003 at N = 1000, a finite-size shift of +0.01 over RS 0.1350, with
    +-0.01 between samples. The RS value at T = 0.3 is 0.10, and there is no
    retrieval at T = 10 (beta passed for T)."""
    N, T, precision = 1000, 0.1, 0.002
    estimates = []
    for seed in range(12):
        xi = patterns.iid(N, 0.2, patterns.point_rng(2017, N, 0.0, seed))
        found = transition.critical_load(xi, T, 0.08, 0.2, precision=precision, points=6)
        assert found.status in (TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE)
        assert found.hi - found.lo <= precision
        P_lo, P_hi = patterns.n_patterns(N, found.lo), patterns.n_patterns(N, found.hi)
        for P, expected in ((P_lo, True), (P_hi, False)):
            end = tap.solve(xi.xi[:P], np.array([1.0 / T]), max_iter=2000)
            assert bool(transition.retrieved(end)[0]) is expected
        assert found.evaluations <= found.iterations
        estimates.append(found.estimate)
    # the finite-size shift at N = 1000 (physics.md g) plus three standard errors
    error = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - rs.critical_load(T)) < FINITE_SIZE_SHIFT_1000 + 3 * error
