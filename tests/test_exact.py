"""Exact enumeration against brute-force Boltzmann sums and closed forms.

``kernels.exact`` streams the 2^N states in Gray-code order through the pattern
sums; the reference (tests/naive_exact.py) builds every state and the coupling
matrix explicitly. Both are exact, so they must agree to rounding: sums of at
most 2^13 terms of size <= 1 in float64 leave errors near 1e-15, and we allow
ABS_TOL = 1e-11.
"""

import numpy as np
import pytest
from naive_exact import thermal

from kernels import exact
from kernels.solution import CONVERGED

#: Agreement of two exact float64 computations (rounding only, see module docstring).
ABS_TOL = 1e-11

BETAS = np.array([0.0, 0.3, 1.0, 2.5, 8.0])


def _patterns(kind: str, P: int, N: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], size=(P, N))
    return rng.standard_normal((P, N))


@pytest.mark.parametrize("N", [9, 13])
@pytest.mark.parametrize("kind", ["pm1", "real"])
@pytest.mark.parametrize("with_field", [False, True])
def test_solve_matches_brute_force_sum(N, kind, with_field):
    rng = np.random.default_rng(100 * N + 10 * (kind == "real") + with_field)
    xi = _patterns(kind, 3, N, rng)
    # a field along pattern 0 plus a random part, so no symmetry hides errors
    field = 0.2 * xi[0] + 0.1 * rng.standard_normal(N) if with_field else None
    sol = exact.solve(xi, BETAS[1:], field)
    second = exact.overlap_second_moment(xi, BETAS[1:], field)
    assert sol.m.shape == (len(BETAS) - 1, N) and sol.overlap.shape == (len(BETAS) - 1, 3)
    for k, beta in enumerate(BETAS[1:]):
        ref = thermal(xi, beta, field)
        np.testing.assert_allclose(sol.m[k], ref["m"], rtol=0, atol=ABS_TOL)
        np.testing.assert_allclose(sol.overlap[k], ref["overlap"], rtol=0, atol=ABS_TOL)
        assert sol.q[k] == pytest.approx(ref["q"], abs=ABS_TOL)
        assert sol.free_energy[k] == pytest.approx(ref["free_energy"], abs=ABS_TOL)
        np.testing.assert_allclose(second[k], ref["overlap_sq"], rtol=0, atol=ABS_TOL)
    # the field-free model is Z2 symmetric: every <s_i> vanishes exactly
    if field is None:
        assert np.max(np.abs(sol.m)) < ABS_TOL
    else:
        assert np.max(np.abs(sol.m)) > 0.1  # the field polarises: the check above is not vacuous
    np.testing.assert_array_equal(sol.status, CONVERGED)
    np.testing.assert_array_equal(sol.iterations, 0)
    np.testing.assert_array_equal(sol.residual, 0.0)


def test_magnetizations_equal_solve_m_and_accept_scalar_beta():
    rng = np.random.default_rng(3)
    xi = rng.choice([-1.0, 1.0], size=(2, 8))
    field = 0.3 * xi[0]
    m = exact.magnetizations(xi, 1.5, field)
    assert m.shape == (1, 8)
    np.testing.assert_allclose(m[0], thermal(xi, 1.5, field)["m"], rtol=0, atol=ABS_TOL)


def test_single_spin_sees_only_its_field():
    # N = 1: J_11 = 0 by convention, so H = -h s whatever the pattern values:
    # <s> = tanh(beta h), f = -T ln(2 cosh(beta h)). This pins the constant of
    # the J_ii = 0 convention, sum_mu (xi^mu_i)^2 / (2N), for real-valued xi.
    xi = np.array([[0.7], [-1.9], [2.3]])
    h = 0.4
    beta = np.array([0.5, 2.0, 10.0])
    sol = exact.solve(xi, beta, np.array([h]))
    np.testing.assert_allclose(sol.m[:, 0], np.tanh(beta * h), rtol=0, atol=ABS_TOL)
    np.testing.assert_allclose(
        sol.free_energy, -np.log(2 * np.cosh(beta * h)) / beta, rtol=0, atol=ABS_TOL
    )


def test_single_pattern_with_field_is_finite_size_curie_weiss():
    # P = 1 with a field h along the pattern: gauge-transform s_i -> xi_i s_i,
    # the model is Curie-Weiss, H = -(N/2) m^2 + 1/2 - h N m, whose exact
    # magnetization at N spins is a one-dimensional sum over the number of up spins.
    from math import comb

    N, h = 18, 0.05
    rng = np.random.default_rng(11)
    xi = rng.choice([-1.0, 1.0], size=(1, N))
    beta = np.array([0.5, 1.2, 3.0])
    sol = exact.solve(xi, beta, h * xi[0])
    n_up = np.arange(N + 1)
    m_levels = (2 * n_up - N) / N
    E = -(N / 2) * m_levels**2 + 0.5 - h * N * m_levels
    degeneracy = np.array([comb(N, n) for n in n_up], dtype=float)
    for k, b in enumerate(beta):
        w = degeneracy * np.exp(-b * (E - E.min()))
        m_ref = np.sum(w * m_levels) / w.sum()
        f_ref = (E.min() - np.log(w.sum()) / b) / N
        assert sol.overlap[k, 0] == pytest.approx(m_ref, abs=ABS_TOL)
        assert sol.free_energy[k] == pytest.approx(f_ref, abs=ABS_TOL)
        # gauge symmetry: <s_i> = xi_i <m>, the same for every site
        np.testing.assert_allclose(sol.m[k] * xi[0], m_ref, rtol=0, atol=ABS_TOL)


def test_zero_field_overlap_size_is_finite_size_curie_weiss():
    # P = 1, h = 0: <m> = 0 by symmetry, but <m^2> is the Curie-Weiss sum over
    # the number of up spins; below T = 1 it approaches the mean-field m^2 (m =
    # tanh(beta m), 0.9575 at T = 0.5 from physics.md) up to O(1/N).
    from math import comb

    N = 20
    xi = np.random.default_rng(12).choice([-1.0, 1.0], size=(1, N))
    beta = np.array([0.5, 2.0])
    second = exact.overlap_second_moment(xi, beta)[:, 0]
    assert np.max(np.abs(exact.solve(xi, beta).overlap)) < ABS_TOL
    n_up = np.arange(N + 1)
    m_levels = (2 * n_up - N) / N
    E = -(N / 2) * m_levels**2
    degeneracy = np.array([comb(N, n) for n in n_up], dtype=float)
    for k, b in enumerate(beta):
        w = degeneracy * np.exp(-b * (E - E.min()))
        assert second[k] == pytest.approx(np.sum(w * m_levels**2) / w.sum(), abs=ABS_TOL)
    # T = 0.5: within 1/N of the thermodynamic value 0.9575 (fluctuations add
    # O(1/N) to <m^2>); T = 2: paramagnet, <m^2> = O(1/N) (about 2/N here)
    assert np.sqrt(second[1]) == pytest.approx(0.9575, abs=1 / N)
    assert second[0] < 3 / N


def test_infinite_temperature_is_uncorrelated():
    xi = np.random.default_rng(5).choice([-1.0, 1.0], size=(2, 6))
    sol = exact.solve(xi, 0.0, 0.5 * xi[0])
    np.testing.assert_allclose(sol.m, 0.0, atol=ABS_TOL)  # tanh(beta h) = 0 at beta = 0
    assert sol.free_energy[0] == -np.inf  # -T ln Z with T = inf and Z = 2^N


def test_more_than_24_spins_is_refused_with_the_limit_named():
    with pytest.raises(ValueError, match=r"N <= 24.*N = 25"):
        exact.solve(np.ones((1, 25)), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"xi": np.ones(5), "beta": 1.0}, "xi"),
        ({"xi": np.full((1, 4), np.nan), "beta": 1.0}, "xi"),
        ({"xi": np.ones((1, 4)), "beta": -1.0}, "beta"),
        ({"xi": np.ones((1, 4)), "beta": np.ones((2, 2))}, "beta"),
        ({"xi": np.ones((1, 4)), "beta": 1.0, "field": np.ones(3)}, "field"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        exact.solve(**kwargs)
