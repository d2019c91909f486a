"""Heat-bath Monte Carlo against exact enumeration and the replica-symmetric theory.

Statistical checks use the error bars the sampler reports (spread over
independent chains) and require |MC - exact| < Z_MAX sigma. With 16 chains a
chain-spread error is itself uncertain by about 18 %, so Z_MAX = 4 keeps the
chance of a spurious failure per comparison near 1e-3 (Student t, 15 degrees of
freedom); the seeds are fixed, so every run is identical. Each check also
asserts that its sigma is small, so the comparison is not vacuous.
"""

import numpy as np
import pytest

from kernels import exact, montecarlo
from kernels.patterns import iid, point_rng

#: Allowed deviation from exact values, in units of the reported standard error.
Z_MAX = 4.0

#: Chains and sweeps of the small-N comparisons (N = 14: 65 ms per temperature set).
N_SMALL, CHAINS, SWEEPS = 14, 16, 4000

#: Largest acceptable error bar in those comparisons, so 4 sigma is a real test.
SIGMA_MAX = 0.02

BETAS = np.array([0.4, 1.0, 2.0])


def _assert_within_errors(estimate, error, reference, what):
    assert np.all(error < SIGMA_MAX), f"{what}: error bars too large to test anything: {error}"
    assert np.all(error > 0), f"{what}: zero error bar"
    z = np.abs(estimate - reference) / error
    assert np.all(z < Z_MAX), f"{what}: deviations of {z} standard errors"


@pytest.mark.parametrize("kind", ["pm1", "real"])
def test_matches_exact_enumeration_in_a_field_along_pattern_0(kind):
    rng = np.random.default_rng(2017 + (kind == "real"))
    xi = (
        rng.choice([-1.0, 1.0], size=(2, N_SMALL))
        if kind == "pm1"
        else rng.standard_normal((2, N_SMALL))
    )
    field = 0.3 * xi[0]
    ref = exact.solve(xi, BETAS, field)
    mc_rng = np.random.default_rng(7)
    halves = montecarlo.chain_averages(
        xi, BETAS, field=field, n_sweeps=SWEEPS, n_chains=CHAINS, rng=mc_rng
    )
    sol = montecarlo.solve(
        xi, BETAS, field=field, n_sweeps=SWEEPS, n_chains=CHAINS, rng=np.random.default_rng(7)
    )
    # per-site magnetizations, error from the spread of the per-chain averages
    per_chain = halves.mean(axis=2)  # equal halves: SWEEPS // 2 measurement sweeps is even
    m_err = per_chain.std(axis=1, ddof=1) / np.sqrt(CHAINS)
    np.testing.assert_allclose(sol.m, per_chain.mean(axis=1), rtol=0, atol=1e-15)
    _assert_within_errors(sol.m, m_err, ref.m, "m_i")
    _assert_within_errors(sol.overlap, sol.overlap_err, ref.overlap, "overlap")
    _assert_within_errors(sol.q, sol.q_err, ref.q, "q")
    # the field polarises: these are not checks of zeros against zeros
    assert np.all(ref.overlap[:, 0] > 0.1)


def test_split_half_q_is_unbiased_where_the_naive_estimator_is_not():
    # Zero field, high temperature: the exact <s_i> vanish, so q = 0. The naive
    # (1/N) sum_i <s_i>^2 of one time average is positive, of order 2 tau / n;
    # the split-half estimator must be compatible with zero.
    rng = np.random.default_rng(3)
    xi = rng.choice([-1.0, 1.0], size=(2, N_SMALL))
    betas = np.array([0.3, 0.7])
    assert np.max(np.abs(exact.solve(xi, betas).q)) < 1e-20
    kwargs = {"n_sweeps": 400, "n_chains": CHAINS}
    sol = montecarlo.solve(xi, betas, rng=np.random.default_rng(4), **kwargs)
    _assert_within_errors(sol.q, sol.q_err, 0.0, "q at zero field")
    # the same test applied to the naive estimator, with its own error bars, fails
    halves = montecarlo.chain_averages(xi, betas, rng=np.random.default_rng(4), **kwargs)
    naive = np.mean(halves.mean(axis=2) ** 2, axis=-1)  # (K, chains)
    naive_err = naive.std(axis=1, ddof=1) / np.sqrt(CHAINS)
    assert np.all(naive.mean(axis=1) > Z_MAX * naive_err)


def test_same_generator_seed_gives_identical_results():
    xi = np.random.default_rng(1).choice([-1.0, 1.0], size=(3, 40))
    kwargs = {"field": 0.1 * xi[0], "n_sweeps": 50, "n_chains": 3}
    a = montecarlo.solve(xi, BETAS, xi[0], rng=np.random.default_rng(99), **kwargs)
    b = montecarlo.solve(xi, BETAS, xi[0], rng=np.random.default_rng(99), **kwargs)
    c = montecarlo.solve(xi, BETAS, xi[0], rng=np.random.default_rng(100), **kwargs)
    for name in ("m", "overlap", "q", "overlap_err", "q_err"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.m, c.m)


def test_retrieval_at_large_n_stays_at_the_replica_symmetric_overlap():
    # physics.md: RS theory at alpha = 0.05, T = 0.3 gives m = 0.99116. At
    # N = 2000 the overlap of a retrieval state varies from sample to sample by
    # about 0.0015 (four disorder samples measured: 0.9903-0.9931), so we allow
    # 0.005. Non-condensed overlaps are O(1/sqrt(N)) ~ 0.02; we allow 0.1.
    N, alpha, T = 2000, 0.05, 0.3
    # Row 1 starts on -xi^0: by the symmetry s -> -s it must retrieve -xi^0
    # with the same |m| (this also exercises a (K, N) start).
    xi = iid(N, alpha, point_rng(2017, N, alpha, 0)).xi
    sol = montecarlo.solve(xi, np.full(2, 1 / T), np.stack([xi[0], -xi[0]]), n_sweeps=400,
                           n_chains=8, rng=point_rng(2017, N, alpha, 0, "dynamics"))
    # 8 chains: error bars (measured ~1e-4) far below a third of the 0.005 tested
    assert np.all(sol.overlap_err[:, 0] < 0.005 / 3)
    np.testing.assert_allclose(sol.overlap[:, 0], [0.99116, -0.99116], rtol=0, atol=0.005)
    assert np.max(np.abs(sol.overlap[:, 1:])) < 0.1
    # q of a retrieval state lies between m^2 and 1 (Cauchy-Schwarz on <s_i> xi_i)
    assert np.all(sol.overlap[:, 0] ** 2 - 1e-3 < sol.q) and np.all(sol.q < 1.0)
    # a finished run is a sample (the status contract of kernels.montecarlo), with
    # no fixed-point equations and no free energy
    assert np.all(sol.converged)
    np.testing.assert_array_equal(sol.iterations, 400)
    assert np.all(np.isnan(sol.free_energy)) and np.all(np.isnan(sol.residual))


def test_retrieval_is_lost_above_the_retrieval_temperature():
    # T_M(0.05) = 0.542 (physics.md): at T = 0.75 no retrieval state exists, so a
    # chain started on pattern 0 leaves it (measured overlaps 0.08 and 0.15 after
    # 500 sweeps at T = 0.7 for two samples); the stable retrieval overlap would
    # be above 0.9, and we require below 0.5.
    N, alpha = 1000, 0.05
    xi = iid(N, alpha, point_rng(2017, N, alpha, 1)).xi
    sol = montecarlo.solve(xi, 1 / 0.75, xi[0], n_sweeps=600, n_chains=8,
                           rng=np.random.default_rng(5))
    assert abs(sol.overlap[0, 0]) < 0.5 - 3 * sol.overlap_err[0, 0]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_chains": 1}, "n_chains"),
        ({"n_sweeps": 10, "n_burn": 9}, "n_burn"),
        ({"n_sweeps": 3}, "n_sweeps"),
        ({"m0": np.ones(3)}, "m0"),
        ({"field": np.ones(3)}, "field"),
        ({"rng": 42}, "rng"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    xi = np.ones((2, 5))
    kwargs = {"rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=argument):
        montecarlo.solve(xi, 1.0, **kwargs)
