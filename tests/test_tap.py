"""TAP / AMP kernel and naive mean field against closed forms, a plain reference
loop (tests/naive_tap.py), Monte Carlo and the replica-symmetric theory."""

import numpy as np
import pytest
from naive_tap import naive_tap
from naive_tap import residual as naive_residual
from scipy.optimize import brentq

from kernels import montecarlo, rs, tap
from kernels.patterns import iid, point_rng
from kernels.reaction import IIDReaction, make_reaction
from kernels.registry import ALGORITHMS, SolverOptions
from kernels.solution import CONVERGED, DIVERGED, INVALID, NOT_CONVERGED

ROOT_SEED = 2017


def patterns(N, alpha, seed=0):
    return iid(N, alpha, point_rng(ROOT_SEED, N, alpha, seed)).xi


def curie_weiss(T):
    """Positive root of m = tanh(m / T) (0 above T = 1), by bracketing."""
    if T >= 1.0:
        return 0.0
    return brentq(lambda m: m - np.tanh(m / T), 1e-6, 1.0, xtol=1e-14)


# --- closed forms -----------------------------------------------------------


def test_single_pattern_is_curie_weiss():
    # P = 1: m_i = xi_i m by gauge symmetry. Naive mean field (J_ii = 0) is then
    # exactly m = tanh(beta (1 - 1/N) m), Curie-Weiss at T / (1 - 1/N); keeping the
    # self-coupling would give T itself, 1e-4 away at T = 0.9, N = 20000. TAP
    # differs by the reaction term alpha x / (1 - x) m_i with alpha = 1/N = 5e-5:
    # |dm| <~ alpha / (1 - x) < 1e-3.
    N = 20000
    T = np.array([0.5, 0.7, 0.9, 1.3])
    xi = patterns(N, 1 / N)
    expected = np.array([curie_weiss(t) for t in T])
    assert expected[0] == pytest.approx(0.9575, abs=1e-4)  # physics.md
    naive = np.array([curie_weiss(t / (1 - 1 / N)) for t in T])
    assert np.max(np.abs(naive - expected)) > 1e-4  # the diagonal is visible at 1e-9
    nmf = tap.solve(xi, 1 / T, reaction="none", tol=1e-12, max_iter=5000)
    assert np.all(nmf.status == CONVERGED)
    # converged to 1e-12 at a contraction rate <= 0.9: error <= 1e-11
    np.testing.assert_allclose(nmf.overlap[:, 0], naive, atol=1e-9)
    np.testing.assert_allclose(nmf.m, naive[:, None] * xi[0], atol=1e-9)
    full = tap.solve(xi, 1 / T, tol=1e-12, max_iter=5000)
    assert np.all(full.status == CONVERGED)
    np.testing.assert_allclose(full.overlap[:, 0], expected, atol=1e-3)


def test_slow_convergence_near_critical_point_is_not_cut_by_early_stop():
    # Curie-Weiss at T = 0.99 (naive mean field, P = 1: at T / (1 - 1/N)): the damped
    # map contracts by 1 - 0.5 (1 - beta (1 - m^2)) ~ 0.995 per step (critical
    # slowing down), thousands of iterations.
    xi = patterns(1000, 1 / 1000)
    T = np.array([0.99])
    kwargs = dict(reaction="none", tol=1e-10, max_iter=20000)
    stopped = tap.solve(xi, 1 / T, early_stop=True, **kwargs)
    free = tap.solve(xi, 1 / T, early_stop=False, **kwargs)
    assert free.status[0] == CONVERGED and free.iterations[0] > 1000
    assert stopped.status[0] == CONVERGED
    assert stopped.iterations[0] == free.iterations[0]
    assert stopped.overlap[0, 0] == pytest.approx(curie_weiss(0.99 / (1 - 1 / 1000)), abs=1e-6)


def test_slow_retrieval_just_below_TM_is_not_cut_by_early_stop():
    # alpha = 0.05, T_M = 0.542 (RS); this sample at N = 1000 keeps retrieval up to
    # T = 0.54, reached slowly (193 iterations against 73 at T = 0.5, i.e. past
    # the first checkpoints of the early stop, at a slowly improving residual).
    xi = patterns(1000, 0.05, seed=3)
    T = np.array([0.50, 0.53, 0.54])
    stopped = tap.solve(xi, 1 / T, max_iter=5000, early_stop=True)
    free = tap.solve(xi, 1 / T, max_iter=5000, early_stop=False)
    np.testing.assert_array_equal(stopped.status, free.status)
    np.testing.assert_array_equal(stopped.iterations, free.iterations)
    assert np.all(free.status == CONVERGED)
    assert np.all(free.overlap[:, 0] > 0.8)


def test_non_converging_point_is_stopped_early():
    # alpha = 0.05, T = 1.1 lies between T_M = 0.542 and T_g = 1.224: the iteration
    # from the pattern never settles (residual fluctuating around 0.2-0.5).
    xi = patterns(1000, 0.05)
    free = tap.solve(xi, 1 / 1.1, max_iter=2000, early_stop=False)
    stopped = tap.solve(xi, 1 / 1.1, max_iter=2000, early_stop=True)
    assert free.status[0] == NOT_CONVERGED and free.iterations[0] == 2000
    assert free.residual[0] > 1e-2
    assert stopped.status[0] == NOT_CONVERGED
    assert stopped.iterations[0] <= 2000 // 4


@pytest.mark.parametrize("init", ["pattern", "random", "small"])
def test_high_temperature_gives_the_paramagnet(init):
    # T = 2, 3, 5 > T_g = 1 + sqrt(0.1) = 1.32: m = 0 is the only TAP state.
    xi = patterns(500, 0.1)
    rng = np.random.default_rng(5)
    m0 = {
        "pattern": xi[0],
        "random": rng.uniform(-1, 1, 500),
        "small": 1e-3 * rng.standard_normal(500),
    }[init]
    sol = tap.solve(xi, 1 / np.array([2.0, 3.0, 5.0]), m0, tol=1e-10)
    assert np.all(sol.status == CONVERGED)
    # linear convergence to 0 at rate rho <= 0.8: |m| <= tol rho / (1 - rho) = 4e-10
    assert np.max(np.abs(sol.m)) < 1e-9


def test_damped_amp_converges_in_the_paramagnet_near_Tg():
    # T = 1.2 > T_g = 1 + sqrt(0.02) = 1.14: m = 0 is the stable TAP state. With
    # damping applied to m alone, the AMP g recursion blows up here (linearised
    # spectral radius 3.4 at d = 0.5); damping the Onsager history as well (0.85)
    # must converge from the pattern for every damping.
    xi = patterns(1000, 0.02)
    for damping in (0.0, 0.3, 0.5, 0.7):
        sol = tap.solve(xi, 1 / 1.2, damping=damping, tol=1e-10, max_iter=3000)
        assert sol.status[0] == CONVERGED, damping
        assert np.max(np.abs(sol.m)) < 1e-8


class _PlainIID:
    """alpha / (1 - x) as a generic reaction object: forces the plain
    fixed-point iteration and the quadrature of R in the free energy."""

    def __init__(self, xi):
        self.iid = make_reaction("iid", xi)
        self.x_max, self.edge = self.iid.x_max, self.iid.edge

    def __call__(self, x):
        return self.iid(x)

    def valid(self, x):
        return self.iid.valid(x)


def test_amp_and_plain_iteration_share_fixed_points_and_free_energy():
    # physics.md: both forms have the same fixed points (a prototype agreed to
    # 1e-9). Both converge to 1e-12 here: states agree to ~1e-10; the free energy
    # through the quadrature of R (epsabs 1e-10) matches the closed form.
    xi = patterns(800, 0.05)
    T = np.array([0.2, 0.4, 1.5])
    field = 0.1 * xi[1]
    amp = tap.solve(xi, 1 / T, field=field, tol=1e-12, max_iter=5000)
    plain = tap.solve(xi, 1 / T, field=field, reaction=_PlainIID(xi), tol=1e-12, max_iter=5000)
    assert np.all(amp.status == CONVERGED) and np.all(plain.status == CONVERGED)
    np.testing.assert_allclose(plain.m, amp.m, atol=1e-9)
    np.testing.assert_allclose(plain.free_energy, amp.free_energy, atol=1e-9)


def test_spectral_reaction_on_iid_patterns_is_close_to_iid_tap():
    # For ±1 patterns the R-transform of the empirical spectrum is the
    # Marchenko-Pastur alpha / (1 - x) up to O(1/sqrt(N)) fluctuations of the
    # spectrum; "spectral" runs the plain iteration and the quadrature free
    # energy. At N = 1000 (measured differences <= 4e-4) allow 2e-3 per site
    # rms and on the free energy.
    xi = patterns(1000, 0.05)
    T = np.array([0.3, 0.45, 1.5, 3.0])
    for field in (None, 0.3 * xi[0]):
        spectral = tap.solve(xi, 1 / T, field=field, reaction="spectral")
        plain = tap.solve(xi, 1 / T, field=field)
        assert np.all(spectral.status == CONVERGED) and np.all(plain.status == CONVERGED)
        assert np.all(np.sqrt(np.mean((spectral.m - plain.m) ** 2, axis=1)) < 2e-3)
        np.testing.assert_allclose(spectral.free_energy, plain.free_energy, atol=2e-3)


def test_weak_field_at_high_temperature_polarises_along_the_field():
    # m_i = tanh(beta h xi^0_i) + O(beta^2): the correction comes from the
    # induced overlap m^0 ~ beta h (and O(sqrt(alpha)) cross terms), so
    # |m_i - tanh(beta h xi_i)| <~ beta^2 h (1 + 3 sqrt(alpha)); halving beta must
    # divide it by about 4 (between 3 and 5).
    xi = patterns(1000, 0.05)
    h = 1.0
    beta = np.array([0.02, 0.04])
    sol = tap.solve(xi, beta, np.zeros(1000), field=h * xi[0], tol=1e-13)
    assert np.all(sol.status == CONVERGED)
    dev = np.max(np.abs(sol.m - np.tanh(beta[:, None] * h * xi[0])), axis=1)
    assert np.all(dev <= beta**2 * h * (1 + 3 * np.sqrt(0.05)))
    assert 3.0 < dev[1] / dev[0] < 5.0


def test_gauge_symmetries_map_solutions_onto_solutions():
    xi = patterns(600, 0.05)
    T = np.array([0.3, 0.8, 1.6])
    field = 0.2 * xi[1]
    base = tap.solve(xi, 1 / T, xi[0], field=field)
    # flipping patterns leaves J unchanged: same m, flipped overlaps
    flip = np.ones((xi.shape[0], 1))
    flip[[0, 3]] = -1
    flipped = tap.solve(flip * xi, 1 / T, xi[0], field=field)
    np.testing.assert_allclose(flipped.m, base.m, atol=1e-12)
    np.testing.assert_allclose(flipped.overlap, base.overlap * flip[:, 0], atol=1e-12)
    # (xi_i, s_i) -> (-xi_i, -s_i) on a set of sites: m_i -> -m_i there
    s = np.where(np.random.default_rng(1).random(600) < 0.5, -1.0, 1.0)
    gauged = tap.solve(xi * s, 1 / T, xi[0] * s, field=field * s)
    np.testing.assert_allclose(gauged.m, base.m * s, atol=1e-12)
    np.testing.assert_allclose(gauged.overlap, base.overlap, atol=1e-12)
    np.testing.assert_array_equal(gauged.status, base.status)


def test_returned_state_solves_the_tap_equations():
    # CONVERGED means the fixed-point TAP equations (no time indices) hold to
    # 10 tol at the returned state, recomputed here in the J_ii = 0 form with
    # explicit couplings (tests/naive_tap.py); the stored residual is that same
    # number (rounding of the two routes: < 1e-12). Also with damping 0.8, where a
    # step below tol allows a residual up to tol / (1 - d) = 5 tol and more for AMP.
    xi = patterns(800, 0.05)
    T = np.array([0.2, 0.4, 1.2, 1.5, 3.0])
    tol = 1e-9
    for field, damping in ((None, 0.5), (0.3 * xi[0], 0.5), (None, 0.8)):
        sol = tap.solve(xi, 1 / T, field=field, tol=tol, damping=damping, max_iter=5000)
        solved = sol.status == CONVERGED
        assert solved.sum() >= 4
        for k in range(T.size):
            reference = naive_residual(xi, 1 / T[k], sol.m[k], field)
            assert abs(sol.residual[k] - reference) < 1e-12
            if solved[k]:
                assert reference <= 10 * tol


def test_a_small_step_near_Tg_is_not_taken_for_a_solution():
    # alpha = 0.12, T = 1.35, just above T_g = 1.346 (x = beta = 0.741 < x_e =
    # 0.743): the paramagnet is reached slowly, and the damped AMP step falls below
    # tol (after 630 iterations) while the fixed-point residual is still 2.3e-7 =
    # 23 tol (the memory term lags). The solver must iterate on until the equations
    # themselves hold to 10 tol, or not call the point converged.
    xi = patterns(1000, 0.12, seed=1)
    tol = 1e-8
    sol = tap.solve(xi, 1 / 1.35, tol=tol, max_iter=2000)
    reference = naive_residual(xi, 1 / 1.35, sol.m[0])
    assert abs(sol.residual[0] - reference) < 1e-12
    assert (sol.status[0] == CONVERGED) == (reference <= 10 * tol)
    assert sol.status[0] == CONVERGED and sol.q[0] < 1e-10


def test_free_energy_at_m0_is_the_rs_paramagnet():
    xi = patterns(500, 0.1)
    alpha = 0.1
    T = np.array([1.35, 1.5, 3.0])  # T > T_g = 1 + sqrt(alpha) = 1.316: x = beta < x_e
    f = tap.free_energy_tap(xi, 1 / T, np.zeros((3, 500)), IIDReaction(alpha))
    rs = -T * np.log(2) + alpha / 2 + alpha * T / 2 * np.log(1 - 1 / T)
    np.testing.assert_allclose(f, rs, rtol=1e-13)
    # below T_g the state m = 0 has x = beta >= x_e = 1 / (1 + sqrt(alpha)): no TAP
    # state, no TAP free energy (the formula itself would exist up to T = 1)
    below = 1 / np.array([1.1, 1.3, 0.8])
    assert np.all(np.isnan(tap.free_energy_tap(xi, below, np.zeros((3, 500)), IIDReaction(alpha))))
    # the solver above T_g finds m = 0 and reports the same value
    sol = tap.solve(xi, 1 / T, tol=1e-12)
    np.testing.assert_array_equal(sol.status, CONVERGED)
    np.testing.assert_allclose(sol.free_energy, rs, atol=1e-12)


@pytest.mark.parametrize("reaction", ["iid", "none"])
def test_free_energy_is_stationary_at_fixed_points(reaction):
    # The TAP free energy's gradient N df/dm_i = T atanh(m_i) - h_i vanishes at a
    # solution of the equations it belongs to. Central differences (step 1e-5,
    # truncation and rounding ~1e-11) along a random direction u: ~0 (< 1e-9) at
    # the fixed point, while 1e-3 away along u the slope is curvature * 1e-3, a
    # few 1e-6 (the retrieval state is a local minimum).
    xi = patterns(400, 0.05)
    beta = np.array([1 / 0.3, 1 / 0.45])
    field = 0.1 * xi[2]
    sol = tap.solve(xi, beta, field=field, reaction=reaction, tol=1e-13)
    assert np.all(sol.status == CONVERGED)
    R = make_reaction(reaction, xi)
    z = np.random.default_rng(2).standard_normal(400)
    # u_i ~ (1 - m_i^2) z_i keeps m +- eps u inside (-1, 1) and the entropy's
    # curvature 1 / (1 - m^2) from blowing up the difference error
    u = (1 - sol.m**2) * z
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    eps = 1e-5

    def slope(m):
        up = tap.free_energy_tap(xi, beta, m + eps * u, R, field)
        down = tap.free_energy_tap(xi, beta, m - eps * u, R, field)
        return (up - down) / (2 * eps)

    assert np.all(np.abs(slope(sol.m)) < 1e-9)
    assert np.all(slope(sol.m + 1e-3 * u) > 1e-6)


def test_free_energy_matches_exact_enumeration_below_its_reaction_part():
    # The reaction part of f_TAP, (alpha T / 2) [ln(1 - x) + x], is what the
    # Onsager term adds to the naive free energy. In a field-polarised paramagnet
    # (field 0.5 xi^0, T = 2 and 3, x ~ 0.3-0.4) at N = 18, P = 2 it is 0.01-0.013,
    # against the exact (enumerated) free energy of the same sample TAP must be
    # within a third of it (measured 6e-4 to 2e-3 at N = 20), and without it off by
    # more than two thirds of it.
    from kernels import exact

    N, P, T = 18, 2, np.array([2.0, 3.0])
    for sample in range(4):
        xi = np.random.default_rng(100 + sample).choice([-1.0, 1.0], size=(P, N))
        field = 0.5 * xi[0]
        truth = exact.solve(xi, 1 / T, field).free_energy
        sol = tap.solve(xi, 1 / T, np.tanh(field / T[0]), field=field, tol=1e-12, max_iter=5000)
        assert np.all(sol.status == CONVERGED)
        x = (1 - sol.q) / T
        reaction_part = P / N * T / 2 * (np.log1p(-x) + x)
        assert np.all(np.abs(reaction_part) > 0.008)
        error = np.abs(sol.free_energy - truth)
        assert np.all(error < np.abs(reaction_part) / 3), (error, reaction_part)
        naive_error = np.abs(sol.free_energy - reaction_part - truth)
        assert np.all(naive_error > 2 * np.abs(reaction_part) / 3)


@pytest.mark.parametrize(("alpha", "T"), [(0.02, (0.5, 0.6)), (0.05, (0.2, 0.3, 0.4))])
def test_free_energy_at_retrieval_matches_rs(alpha, T):
    # physics.md: at TAP retrieval fixed points (N = 4000) the free energy matched
    # RS within +-0.005 (finite-size scatter), e.g. alpha = 0.05, T = 0.3: -0.5012.
    # At N = 2000, two samples: allow 0.01 each.
    T = np.array(T)
    reference = rs.free_energy(alpha, T)
    if alpha == 0.05:
        assert reference[1] == pytest.approx(-0.5012, abs=1e-4)
    for seed in (0, 1):
        sol = tap.solve(patterns(2000, alpha, seed), 1 / T)
        assert np.all(sol.status == CONVERGED)
        np.testing.assert_allclose(sol.free_energy, reference, atol=0.01)


# --- robustness, batching, precision ---------------------------------------


class _NaNAbove:
    """Reaction alpha/(1 - x) without transient guard, NaN for x >= 1."""

    def __init__(self, alpha):
        self.alpha, self.x_max, self.edge = alpha, np.inf, 1.0

    def __call__(self, x):
        return np.where(x < 1.0, self.alpha / (1.0 - x), np.nan)

    def valid(self, x):
        return x < 1.0


def test_diverging_columns_do_not_spoil_the_others():
    xi = patterns(500, 0.05)
    T = np.array([0.3, 0.5, 1.5, 2.0])
    m0 = np.tile(xi[0], (4, 1))
    m0[1] = 0.0  # T = 0.5: m = 0 stays put, x = beta = 2 > x_e, not a TAP state
    sol = tap.solve(xi, 1 / T, m0)
    assert sol.q[1] == 0.0 and 1 / T[1] > IIDReaction(0.05).edge
    assert sol.status[1] == INVALID and sol.residual[1] == 0.0
    # an invalid column has no free energy; the others keep theirs
    assert np.isnan(sol.free_energy[1]) and np.all(np.isfinite(sol.free_energy[[0, 2, 3]]))
    others = [0, 2, 3]
    alone = tap.solve(xi, 1 / T[others], m0[others])
    np.testing.assert_allclose(sol.m[others], alone.m, atol=1e-12)
    np.testing.assert_array_equal(sol.status[others], CONVERGED)
    # a reaction that yields NaN: that column is DIVERGED, the rest unaffected
    m0 = np.tile(1e-3 * np.random.default_rng(0).standard_normal(500), (4, 1))
    m0[[0, 2, 3]] = xi[0]
    nan_sol = tap.solve(xi, 1 / T, m0, reaction=_NaNAbove(0.05))
    assert nan_sol.status[1] == DIVERGED
    plain = tap.solve(xi, 1 / T[others], m0[others], reaction=_NaNAbove(0.05))
    np.testing.assert_allclose(nan_sol.m[others], plain.m, atol=1e-12)
    assert np.all(np.isfinite(nan_sol.m[others]))


def test_batched_equals_one_temperature_at_a_time():
    xi = patterns(700, 0.08)
    T = np.array([0.1, 0.25, 0.4, 0.9, 1.4, 2.5])
    batched = tap.solve(xi, 1 / T, max_iter=3000)
    for k, t in enumerate(T):
        single = tap.solve(xi, 1 / t, max_iter=3000)
        assert single.status[0] == batched.status[k]
        # same arithmetic up to BLAS blocking: rounding-level differences only,
        # amplified at most over a few hundred contracting iterations
        np.testing.assert_allclose(single.m[0], batched.m[k], atol=1e-9)
        assert abs(int(single.iterations[0]) - int(batched.iterations[k])) <= 1


def test_float32_agrees_with_float64():
    # float32 runs to tol = 32 eps = 3.8e-6 (TOL_FLOOR_EPS) at contraction rates
    # <= 0.7 here: per-site error <~ tol / (1 - rho) ~ 1.3e-5; overlaps average it.
    xi = patterns(1000, 0.05)
    T = np.array([0.2, 0.35, 2.0])
    f64 = tap.solve(xi, 1 / T)
    f32 = tap.solve(xi, 1 / T, dtype="float32")
    assert np.all(f64.status == CONVERGED) and np.all(f32.status == CONVERGED)
    assert f32.m.dtype == np.float64
    np.testing.assert_allclose(f32.m, f64.m, atol=3e-5)
    np.testing.assert_allclose(f32.overlap, f64.overlap, atol=1e-5)
    np.testing.assert_allclose(f32.free_energy, f64.free_energy, atol=1e-5)


@pytest.mark.parametrize("onsager", [True, False])
def test_agrees_with_plain_reference_loop(onsager):
    xi = patterns(300, 0.05, seed=1)
    field = 0.05 * xi[1]
    reaction = "iid" if onsager else "none"
    for T in (0.25, 0.45, 1.6):
        ref, ok = naive_tap(xi, 1 / T, xi[0], field, onsager=onsager)
        assert ok
        sol = tap.solve(xi, 1 / T, xi[0], field=field, reaction=reaction, tol=1e-12)
        assert sol.status[0] == CONVERGED
        # both converged to 1e-12 at rates < 0.9: difference <~ 1e-11
        np.testing.assert_allclose(sol.m[0], ref, atol=1e-9)


def test_registry_runs_tap_and_naive_mean_field():
    from kernels.patterns import Patterns

    xi = patterns(300, 0.05)
    options = SolverOptions(max_iter=500)
    beta = np.array([1 / 0.3, 1 / 2.0])
    rng = np.random.default_rng(0)
    for name, reaction in (("tap", "iid"), ("nmf", "none")):
        sol = ALGORITHMS[name].run(Patterns(xi=xi), beta, xi[0], options, rng)
        direct = tap.solve(xi, beta, xi[0], reaction=reaction, max_iter=500)
        np.testing.assert_array_equal(sol.m, direct.m)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        (dict(xi=np.ones(5)), "xi"),
        (dict(xi=np.full((2, 5), np.nan)), "xi"),
        (dict(beta=-1.0), "beta"),
        (dict(beta=np.inf), "beta"),
        (dict(m0=np.ones(4)), "m0"),
        (dict(m0=np.full(5, 2.0)), "m0"),
        (dict(field=np.ones(3)), "field"),
        (dict(damping=1.0), "damping"),
        (dict(tol=0.0), "tol"),
        (dict(tol=np.inf), "tol"),
        (dict(damping="x"), "damping"),
        (dict(max_iter=0), "max_iter"),
        (dict(max_iter=None), "max_iter"),
        (dict(dtype="float16"), "dtype"),
        (dict(dtype="no-such-type"), "dtype"),
        (dict(reaction="bogus"), "reaction"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(kwargs, word):
    args = dict(xi=np.ones((2, 5)), beta=1.0) | kwargs
    xi, beta = args.pop("xi"), args.pop("beta")
    with pytest.raises(ValueError, match=word):
        tap.solve(xi, beta, **args)


# --- against Monte Carlo and the replica-symmetric theory -------------------


#: Monte Carlo references of this section: chains x sweeps per temperature (half
#: burn-in), enough for overlap errors below 1e-3, under a third of the smallest
#: effect tested (the Onsager term moves the overlap by 3.6e-3 at alpha = 0.05,
#: T = 0.45); the tests check that bound on the errors they get.
MC_CHAINS, MC_SWEEPS = 8, 1000


@pytest.fixture(scope="module")
def retrieval_runs():
    """TAP, naive mean field and Monte Carlo (MC_CHAINS x MC_SWEEPS, started on
    the pattern) on one N = 1000 sample per alpha: retrieval at alpha = 0.05 up to
    T_M = 0.54 and at alpha = 0.1, and a field-polarised paramagnet (alpha = 0.1,
    T = 1.5, field 0.5 xi^0)."""
    runs = []
    for alpha, T, h in [(0.05, [0.3, 0.45, 0.5], 0.0), (0.1, [0.2], 0.0), (0.1, [1.5], 0.5)]:
        xi = patterns(1000, alpha)
        beta = 1 / np.array(T)
        field = h * xi[0] if h else None
        mc = montecarlo.solve(xi, beta, xi[0], field=field, n_sweeps=MC_SWEEPS,
                              n_chains=MC_CHAINS, rng=np.random.default_rng(11))
        runs.append(
            (
                alpha,
                T,
                h,
                tap.solve(xi, beta, field=field),
                tap.solve(xi, beta, field=field, reaction="none"),
                mc,
            )
        )
    return runs


def test_tap_overlap_agrees_with_monte_carlo_and_rs(retrieval_runs):
    for alpha, T, h, sol, _, mc in retrieval_runs:
        assert np.all(sol.status == CONVERGED)
        # same sample: TAP is exact up to O(1/N) corrections per sample (measured
        # <= 9e-4 at N = 1000) on top of the MC standard error (<= 6e-4)
        err = np.abs(sol.overlap[:, 0] - mc.overlap[:, 0])
        assert np.all(err <= 3 * mc.overlap_err[:, 0] + 1.5e-3), (alpha, T, err)
        if h == 0:
            # RS holds at N -> infinity; sample-to-sample and 1/N shifts at N = 1000
            # are ~5e-3 up to 0.08 below T_M, allow 1e-2 there (closer to T_M a
            # sample's overlap sits up to 0.015 above RS: physics.md g)
            deep = np.array(T) <= rs.retrieval_temperature(alpha) - 0.08
            reference = rs.overlap(alpha, np.array(T)[deep])
            np.testing.assert_allclose(sol.overlap[deep, 0], reference, atol=1e-2)
            np.testing.assert_allclose(mc.overlap[deep, 0], reference, atol=1e-2)


def test_tap_beats_naive_mean_field_by_the_onsager_term(retrieval_runs):
    # The two differ only by the Onsager term alpha x / (1 - x) m_i; where it moves
    # the state measurably (x = beta (1 - q) not small: near T_M and in the field-
    # polarised paramagnet) TAP must sit on Monte Carlo and naive mean field off it
    # by about that shift. Measured shifts of the overlap 3.6e-3, 8.4e-3, 2.3e-2 (q:
    # 6e-3 to 3e-2); TAP - MC <= 9e-4, nMF - MC 0.9-1.1 times the shift.
    checked = 0
    for alpha, T, h, sol, nmf, mc in retrieval_runs:
        assert np.all(nmf.status == CONVERGED)
        # naive mean field solves its own equations (J_ii = 0, no reaction term)
        xi = patterns(1000, alpha)
        for k, t in enumerate(T):
            assert naive_residual(xi, 1 / t, nmf.m[k], h * xi[0], onsager=False) < 1e-7
        shift = np.abs(sol.overlap[:, 0] - nmf.overlap[:, 0])
        shift_q = np.abs(sol.q - nmf.q)
        # error bars below a third of the effect, which must also be three times
        # TAP's own O(1/N) error at N = 1000 (~1e-3; this excludes T = 0.3 and, at
        # alpha = 0.1, T = 0.2, where the Onsager shift is 2e-4 and 1.3e-3)
        tested = (3 * mc.overlap_err[:, 0] < shift) & (shift > 3e-3)
        checked += tested.sum()
        tap_err = np.abs(sol.overlap[:, 0] - mc.overlap[:, 0])[tested]
        nmf_err = np.abs(nmf.overlap[:, 0] - mc.overlap[:, 0])[tested]
        assert np.all(tap_err < shift[tested] / 3), (alpha, T, tap_err, shift)
        assert np.all(np.abs(nmf_err / shift[tested] - 1) < 0.3), (alpha, T, nmf_err, shift)
        assert np.all(np.abs(sol.q - mc.q)[tested] < shift_q[tested] / 3), (alpha, T)
        assert np.all(np.abs(nmf.q - mc.q)[tested] > 2 * shift_q[tested] / 3), (alpha, T)
        # per site: MC noise (~3e-3 rms) enters both alike
        rms_tap = np.sqrt(np.mean((sol.m - mc.m) ** 2, axis=1))[tested]
        rms_nmf = np.sqrt(np.mean((nmf.m - mc.m) ** 2, axis=1))[tested]
        assert np.all(rms_nmf > 1.5 * rms_tap), (alpha, T, rms_tap, rms_nmf)
    assert checked >= 3


def test_q_agrees_with_rs_in_the_retrieval_phase():
    # AGS RS q at N -> infinity. At N = 2000 one sample's q scatters around it by
    # up to 0.009 (measured, three samples, largest at alpha = 0.05, T = 0.5), so
    # the mean of three samples must lie within 0.01; the effect tested, the
    # thermal reduction 1 - q, is at least three times that.
    tolerance = 0.01
    for alpha, T in [(0.02, (0.4, 0.6)), (0.05, (0.4, 0.5))]:
        T = np.array(T)
        theory = rs.solve(alpha, T)
        assert np.all(1 - theory.q > 3 * tolerance)
        q = []
        for seed in range(3):
            sol = tap.solve(patterns(2000, alpha, seed), 1 / T)
            assert np.all(sol.status == CONVERGED) and np.all(sol.n_condensed == 1)
            q.append(sol.q)
        np.testing.assert_allclose(np.mean(q, axis=0), theory.q, atol=tolerance)


# --- domain and random starts (physics.md g) --------------------------------


@pytest.mark.parametrize(("alpha", "T"), [(0.1, (1.1, 1.2, 1.28, 1.35, 1.5)), (0.02, (1.129, 1.2))])
def test_paramagnet_is_a_tap_state_only_above_the_spin_glass_temperature(alpha, T):
    # m = 0 solves the equations at every T, but it is a TAP state only for
    # x = beta < x_e = 1 / (1 + sqrt(alpha)), i.e. T > T_g = 1 + sqrt(alpha) (1.316 and
    # 1.141 here). Started at m = 0 the solver must find it and call it CONVERGED
    # above T_g, INVALID (no free energy) between T = 1 and T_g.
    T = np.array(T)
    xi = patterns(1000, alpha)
    sol = tap.solve(xi, 1 / T, np.zeros(1000))
    assert np.all(sol.q == 0.0) and np.all(sol.residual == 0.0)
    inside = 1 / T < IIDReaction(alpha).edge
    assert inside.any() and not inside.all()
    np.testing.assert_array_equal(sol.status, np.where(inside, CONVERGED, INVALID))
    assert np.all(np.isfinite(sol.free_energy[inside]))
    assert np.all(np.isnan(sol.free_energy[~inside]))


#: Random-start checks: N, temperatures below T = 1, samples per (alpha, init).
START_N, START_T, START_SAMPLES = 1000, (0.3, 0.5, 0.7), 3


@pytest.mark.parametrize("init", ["random", "paramagnetic"])
@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_random_starts_end_in_real_states_or_say_so(alpha, init):
    # physics.md g: from starts that are near no pattern, TAP must reach the states
    # that exist and must not fake the others. At alpha = 0.01, T <= 0.7 < T_M = 0.80
    # (RS) every pattern has a retrieval state with a wide basin: most starts must
    # converge (measured 15-18 of 18). At alpha = 0.05, T_M = 0.54: the starts
    # mostly stay spin-glass-like (x > x_e, not converged: physics.md measured 1 of
    # 16 converging). Either way nothing blows up (measured: no DIVERGED at all),
    # and every CONVERGED point solves the TAP equations (independent J_ii = 0 form)
    # inside the domain, with a condensed pattern.
    from kernels.initial import initial_state

    T = np.array(START_T)
    tol = 1e-8
    converged = total = 0
    patterns_found = set()
    for seed in range(START_SAMPLES):
        xi = patterns(START_N, alpha, seed)
        m0 = initial_state(xi, init, point_rng(ROOT_SEED, START_N, alpha, seed, "init"))
        assert np.max(np.abs(m0 @ xi.T / START_N)) < 0.1  # near no pattern
        sol = tap.solve(xi, 1 / T, m0, tol=tol, max_iter=2000)
        assert not np.any(sol.status == DIVERGED), sol.status
        total += T.size
        for k in np.flatnonzero(sol.status == CONVERGED):
            converged += 1
            assert naive_residual(xi, 1 / T[k], sol.m[k]) <= 10 * tol
            assert 1 / T[k] * (1 - sol.q[k]) < IIDReaction(alpha).edge
            assert sol.n_condensed[k] >= 1
            patterns_found.add(int(sol.best_pattern[k]))
    if rs.retrieval_temperature(alpha) > T.max() + 0.05:
        assert converged >= total / 2, (converged, total)
        # the starts explore several basins, not just that of pattern 0
        assert len(patterns_found) >= 3, patterns_found


def test_random_start_retrieval_states_match_monte_carlo_quenches():
    # Monte Carlo quenched from the same random starts (8 chains each, spins drawn
    # from m0) falls into retrieval states too; chains of one start pick different
    # patterns, so the comparison is of the state, not of the pattern: the
    # retrieval overlap |m^best| and q of TAP's converged states must agree with
    # the chains' mean (errors 6e-5 to 3e-3 over 8 chains; measured differences
    # 2e-4 to 2e-3) to a third of the effect tested, 1 - m = 0.003-0.2.
    from kernels.initial import initial_state

    alpha, T = 0.01, np.array(START_T)
    xi = patterns(START_N, alpha, 0)
    m0 = initial_state(xi, "random", point_rng(ROOT_SEED, START_N, alpha, 0, "init"))
    sol = tap.solve(xi, 1 / T, m0)
    mc = montecarlo.chain_averages(xi, 1 / T, m0, n_sweeps=600, n_chains=MC_CHAINS,
                                   rng=np.random.default_rng(3))
    chains = mc.mean(axis=2)  # (K, chains, N)
    best = np.abs(chains @ xi.T / START_N).max(axis=2)  # (K, chains)
    q_chains = np.mean(mc[:, :, 0] * mc[:, :, 1], axis=-1)
    assert np.all(sol.status == CONVERGED) and np.all(sol.n_condensed == 1)
    m_tap = np.abs(sol.overlap).max(axis=1)
    effect = 1 - m_tap
    assert np.all(best.std(axis=1) / np.sqrt(MC_CHAINS) < effect / 3)
    assert np.all(np.abs(m_tap - best.mean(axis=1)) < effect / 3), (m_tap, best.mean(axis=1))
    assert np.all(np.abs(sol.q - q_chains.mean(axis=1)) < (1 - sol.q) / 3)
