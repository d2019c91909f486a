"""Onsager reaction terms: the spectral R-transform against theory and a direct inversion.

References, none of them the code under test: a root finder on the defining
equation G(z) = x (scipy brentq); the traces of J computed from xi (mean and
variance of the spectrum, the first two free cumulants); the closed-form
large-N R-transform of the feature model (physics.md section e, its algebra
checked here against the defining quadratic); Marchenko-Pastur for i.i.d.
patterns; the edge values tabulated in physics.md.
"""

import numpy as np
import pytest
from scipy.optimize import brentq

from kernels.patterns import features, iid, products
from kernels.reaction import (
    EDGE_GUARD,
    IIDReaction,
    NoReaction,
    SpectralReaction,
    coupling_spectrum,
    feature_model_reaction,
    make_reaction,
)

ALPHA = 0.1


def _direct_r(xi: np.ndarray, x: float) -> float:
    """R(x) = G^{-1}(x) - 1/x by bracketing the root of G(z) = x above the spectrum.

    G(z) = (1/N) sum over the N eigenvalues of J = xi^T xi / N (eigvalsh of the
    N x N matrix itself, zeros included), a different route from the code's
    P x P Gram matrix and Newton iteration.
    """
    N = xi.shape[1]
    lam = np.linalg.eigvalsh(xi.T @ xi / N)
    top = lam[-1]

    def excess(z):
        return np.mean(1.0 / (z - lam)) - x

    # G(top + 1/x) <= x <= G(top + 1e-12): the root is in between
    z = brentq(excess, top + 1e-12, top + 1.0 / x, xtol=1e-15, rtol=1e-15, maxiter=500)
    return z - 1.0 / x


@pytest.fixture(scope="module")
def feature_patterns_400():
    return features(400, ALPHA, np.random.default_rng(11), alpha_D=0.2).xi


def test_spectral_r_matches_direct_inversion_of_the_stieltjes_transform(feature_patterns_400):
    xi = feature_patterns_400
    reaction = make_reaction("spectral", xi)
    x = np.array([0.01, 0.1, 0.2, 0.3, 0.9 * reaction.edge])
    got = reaction(x)
    expected = np.array([_direct_r(xi, v) for v in x])
    # both solve G(z) = x to double precision; z - 1/x cancels log10(1/x)
    # digits at small x, so 1e-10 relative is the brief's accuracy target
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_spectral_r_at_zero_and_its_slope_are_mean_and_variance_of_the_spectrum(
    feature_patterns_400,
):
    xi = feature_patterns_400
    P, N = xi.shape
    reaction = make_reaction("spectral", xi)
    mean = np.sum(xi * xi) / N**2  # tr(J) / N
    gram = xi @ xi.T
    variance = np.sum(gram * gram) / N**3 - mean**2  # tr(J^2) / N - mean^2
    assert reaction(np.array([0.0]))[0] == pytest.approx(mean, rel=1e-12)
    # second-order one-sided difference; truncation error ~ h^2 R''' ~ 1e-7 relative
    h = 1e-4
    r0, r1, r2 = reaction(np.array([0.0, h, 2 * h]))
    slope = (4 * r1 - r2 - 3 * r0) / (2 * h)
    assert slope == pytest.approx(variance, rel=1e-6)


@pytest.mark.parametrize("alpha_D", [0.1, 0.5])
def test_feature_model_free_cumulants_match_theory(alpha_D):
    # R(0) = alpha and R'(0) = alpha + alpha^2 / alpha_D (physics.md e); the
    # empirical spectrum at N = 2000 scatters around them: R(0) = sum xi^2 / N^2
    # has relative std ~ sqrt(2 / (N P)) = 0.3 %, the variance ~ 1 % (measured
    # 0.3 % and 1.0 % at worst over three samples): tolerances 1.5 % and 3 %
    N = 2000
    xi = features(N, ALPHA, np.random.default_rng(5), alpha_D=alpha_D).xi
    reaction = make_reaction("spectral", xi)
    h = 1e-4
    r0, r1, r2 = reaction(np.array([0.0, h, 2 * h]))
    assert r0 == pytest.approx(ALPHA, rel=0.015)
    assert (4 * r1 - r2 - 3 * r0) / (2 * h) == pytest.approx(ALPHA + ALPHA**2 / alpha_D, rel=0.03)


@pytest.mark.parametrize(("alpha_D", "rtol"), [(0.05, 0.015), (0.2, 0.006), (1.0, 0.006)])
def test_spectral_r_matches_the_feature_model_closed_form_at_n_4000(alpha_D, rtol):
    # physics.md: within 0.6 % at N = 4000. Checked for x up to 0.6 x_e, where
    # the finite-N spectrum is not yet dominated by the few eigenvalues at the
    # edge. Measured over four samples: <= 0.43 % for alpha_D = 0.2 and 1; for
    # alpha_D = 0.05 (only D = 200 features) the scatter is <= 1.1 %, hence 1.5 %
    N = 4000
    xi = features(N, ALPHA, np.random.default_rng(7), alpha_D=alpha_D).xi
    spectral = make_reaction("spectral", xi)
    theory = feature_model_reaction(ALPHA, alpha_D)
    x = np.linspace(0.0, 0.6 * theory.edge, 13)
    np.testing.assert_allclose(spectral(x), theory(x), rtol=rtol)
    # the finite-N edge estimate is within 5 % of the large-N edge (measured <= 3 %
    # over four samples each of alpha_D = 0.05, 0.2, 1 and i.i.d. patterns)
    assert spectral.edge == pytest.approx(theory.edge, rel=0.05)


def test_spectral_r_of_iid_patterns_is_marchenko_pastur():
    # large N: R(x) = alpha / (1 - x) and x_e = 1 / (1 + sqrt(alpha)); at
    # N = 4000 the measured deviation is <= 0.8 % up to x = 0.7 (1 % allowed)
    N = 4000
    xi = iid(N, ALPHA, np.random.default_rng(3)).xi
    spectral = make_reaction("spectral", xi)
    x = np.linspace(0.0, 0.6, 13)
    np.testing.assert_allclose(spectral(x), ALPHA / (1.0 - x), rtol=0.01)
    assert spectral.edge == pytest.approx(1.0 / (1.0 + np.sqrt(ALPHA)), rel=0.05)


@pytest.mark.parametrize(
    ("alpha_D", "edge"),
    [(0.05, 0.171), (0.1, 0.248), (0.2, 0.339), (0.3, 0.396), (0.5, 0.467), (1.0, 0.556),
     (np.inf, 0.756)],
)
def test_closed_form_edge_matches_the_physics_table(alpha_D, edge):
    # physics.md gives three decimals (0.756 for alpha_D -> inf is 1/(1+sqrt(0.1)) = 0.7597)
    theory = feature_model_reaction(ALPHA, alpha_D)
    tolerance = 5e-3 if np.isinf(alpha_D) else 1e-3
    assert theory.edge == pytest.approx(edge, abs=tolerance)
    assert theory.x_max == pytest.approx(EDGE_GUARD * theory.edge)
    assert np.isnan(theory(np.array([theory.edge, 1.2 * theory.edge]))).all()
    assert np.isfinite(theory(np.array([0.999 * theory.edge]))).all()


def test_closed_form_solves_its_defining_equation_and_has_the_right_limits():
    alpha, alpha_D = 0.1, 0.3
    theory = feature_model_reaction(alpha, alpha_D)
    x = np.linspace(1e-3, 0.95 * theory.edge, 20)
    R = theory(x)
    # invert R = alpha_D w / (1 - x w) and check w = (alpha/alpha_D)(1 - x w)/(1 - x - x w)
    w = R / (alpha_D + x * R)
    np.testing.assert_allclose(w, (alpha / alpha_D) * (1 - x * w) / (1 - x - x * w), rtol=1e-12)
    # R(0) = alpha, R'(0) = alpha + alpha^2 / alpha_D (one-sided second-order difference)
    h = 1e-5
    assert theory(np.array([0.0]))[0] == pytest.approx(alpha, rel=1e-12)
    r1, r2 = theory(np.array([h, 2 * h]))
    slope = (4 * r1 - r2 - 3 * alpha) / (2 * h)
    assert slope == pytest.approx(alpha + alpha**2 / alpha_D, rel=1e-6)
    # alpha_D -> infinity: plain Hopfield, alpha / (1 - x), deviation O(alpha / alpha_D)
    x = np.linspace(0.0, 0.7, 8)
    np.testing.assert_allclose(feature_model_reaction(alpha, np.inf)(x), alpha / (1 - x))
    np.testing.assert_allclose(feature_model_reaction(alpha, 1e6)(x), alpha / (1 - x), rtol=1e-5)


def test_spectral_reaction_domain_beyond_the_edge():
    xi = features(300, ALPHA, np.random.default_rng(2), alpha_D=0.2).xi
    reaction = make_reaction("spectral", xi)
    assert reaction.x_max == pytest.approx(EDGE_GUARD * reaction.edge)
    x = np.array([0.5 * reaction.edge, reaction.x_max, reaction.edge, 2.0 * reaction.edge])
    np.testing.assert_array_equal(reaction.valid(x), [True, True, False, False])
    R = reaction(x)
    assert np.isfinite(R[:2]).all() and np.isnan(R[2:]).all()
    # R is increasing inside the domain (its derivative is the variance term)
    inside = reaction(np.linspace(0.0, reaction.x_max, 50))
    assert np.all(np.diff(inside) > 0)


def test_spectrum_of_a_wide_matrix_and_of_a_point_mass():
    # P > N: the N eigenvalues of xi^T xi / N are used directly
    xi = np.random.default_rng(0).standard_normal((30, 20))
    eigenvalues, weights = coupling_spectrum(xi)
    assert eigenvalues.size == 20 and weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        np.sort(eigenvalues), np.linalg.eigvalsh(xi.T @ xi / 20), atol=1e-12
    )
    # orthogonal ±1 rows of equal norm (Hadamard): J = (P/N) I, R(x) = P/N for all x
    hadamard = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], float)
    point = make_reaction("spectral", hadamard)
    assert point.edge == np.inf
    np.testing.assert_allclose(point(np.array([0.0, 0.5, 5.0])), 1.0, rtol=1e-12)


def test_products_spectrum_is_marchenko_pastur():
    # products eta^a zeta^b of two ±1 families: every moment of J = xi^T xi / N
    # pairs patterns site by site exactly as for i.i.d. patterns at large N (the
    # four-pattern identity only enters at coinciding sites), so the spectral R is
    # alpha / (1 - x) up to finite-size terms (measured <= 0.45 % at N = 1000 for
    # x <= 0.6, the same size as for i.i.d. patterns): 1 % allowed
    N = 1000
    xi = products(N, 0.1, np.random.default_rng(4)).xi
    x = np.linspace(0.0, 0.6, 7)
    np.testing.assert_allclose(make_reaction("spectral", xi)(x), 0.1 / (1.0 - x), rtol=0.01)


def test_site_reaction_removes_each_self_coupling_and_keeps_the_spectral_response():
    xi = features(200, 0.1, np.random.default_rng(6), alpha_D=0.2).xi
    site = make_reaction("spectral_site", xi)
    spectral = make_reaction("spectral", xi)
    x = np.array([0.0, 0.1, 0.2])
    self_coupling = np.einsum("pi,pi->i", xi, xi) / 200  # J_ii
    assert np.std(self_coupling) > 0.01  # real-valued patterns: J_ii scatters
    np.testing.assert_allclose(site.site(x)[0], self_coupling, rtol=1e-12)
    response = spectral(x) - spectral(np.array([0.0]))  # R(x) - R(0), shape (3,)
    np.testing.assert_allclose(site.site(x) - self_coupling, np.tile(response[:, None], 200),
                               atol=1e-14)
    assert site.edge == spectral.edge and site.x_max == spectral.x_max
    # ±1 patterns: J_ii = alpha everywhere, so the per-site term is the spectral one
    pm1 = make_reaction("spectral_site", iid(200, 0.1, np.random.default_rng(6)).xi)
    np.testing.assert_allclose(pm1.site(x), np.broadcast_to(pm1.spectral(x)[:, None], (3, 200)))
    with pytest.raises(TypeError, match="per site"):
        site(x)


def test_make_reaction_kinds_and_errors():
    xi = iid(50, 0.1, np.random.default_rng(0)).xi
    assert isinstance(make_reaction("iid", xi), IIDReaction)
    assert isinstance(make_reaction("none", xi), NoReaction)
    assert isinstance(make_reaction("spectral", xi), SpectralReaction)
    with pytest.raises(ValueError, match="reaction must be one of"):
        make_reaction("adaptive", xi)
    with pytest.raises(ValueError, match="alpha_D"):
        feature_model_reaction(0.1, 0.0)
