"""Disorder generation: shapes, statistics and the determinism contract."""

import numpy as np
import pytest

from kernels.initial import initial_state
from kernels.patterns import iid, n_patterns, point_rng


def test_iid_patterns_are_unbiased_pm1_with_round_alpha_n_rows():
    pats = iid(2000, 0.0517, point_rng(1, 2000, 0.0517, 0))
    assert pats.xi.shape == (round(0.0517 * 2000), 2000)
    assert set(np.unique(pats.xi)) == {-1.0, 1.0}
    # mean of P*N = 206_000 fair signs: standard deviation 1/sqrt(206000) ~ 0.0022
    assert abs(pats.xi.mean()) < 5 / np.sqrt(pats.xi.size)
    # off-diagonal pattern overlaps are O(1/sqrt(N))
    C = pats.xi @ pats.xi.T / 2000
    off = C[~np.eye(len(C), dtype=bool)]
    assert np.allclose(np.diag(C), 1.0)
    assert np.std(off) == pytest.approx(1 / np.sqrt(2000), rel=0.1)


def test_point_disorder_depends_only_on_its_coordinates():
    a = iid(300, 0.1, point_rng(7, 300, 0.1, 4)).xi
    # same coordinates drawn again, after unrelated draws, in another order
    point_rng(7, 300, 0.1, 5).standard_normal(1000)
    b = iid(300, 0.1, point_rng(7, 300, 0.1, 4)).xi
    np.testing.assert_array_equal(a, b)
    # alpha from a linspace (0.1 + 1e-17 rounding noise) names the same sample
    c = iid(300, 0.1, point_rng(7, 300, np.linspace(0.05, 0.1, 2)[1], 4)).xi
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "other",
    [(8, 300, 0.1, 4), (7, 301, 0.1, 4), (7, 300, 0.11, 4), (7, 300, 0.1, 5)],
)
def test_each_coordinate_changes_the_disorder(other):
    a = iid(300, 0.1, point_rng(7, 300, 0.1, 4)).xi
    b = iid(other[1], other[2], point_rng(*other)).xi
    n = min(a.shape[1], b.shape[1])
    assert not np.array_equal(a[:, :n], b[: a.shape[0], :n])


def test_streams_are_independent_of_each_other():
    pats = point_rng(3, 100, 0.05, 0, "patterns").standard_normal(5)
    init = point_rng(3, 100, 0.05, 0, "init").standard_normal(5)
    assert not np.array_equal(pats, init)


def test_too_few_patterns_is_a_clear_error():
    with pytest.raises(ValueError, match="P = 0"):
        iid(10, 0.01, point_rng(0, 10, 0.01, 0))
    assert n_patterns(10, 0.05) == 0  # Python rounds half to even: 0.5 -> 0


def test_initial_states():
    xi = iid(50, 0.1, point_rng(0, 50, 0.1, 0)).xi
    rng = point_rng(0, 50, 0.1, 0, "init")
    np.testing.assert_array_equal(initial_state(xi, "retrieval", rng), xi[0])
    r = initial_state(xi, "random", rng)
    assert r.shape == (50,) and np.all(np.abs(r) <= 1) and np.std(r) > 0.3
    p = initial_state(xi, "paramagnetic", rng)
    assert 0 < np.max(np.abs(p)) < 1e-2
    with pytest.raises(ValueError, match="init must be one of"):
        initial_state(xi, "pattern", rng)
