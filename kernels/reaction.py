"""Onsager reaction terms of the TAP equations.

The TAP local field is h_i = sum_mu xi^mu_i m^mu - R(x) m_i with x = beta (1 - q),
where m^mu includes the diagonal j = i. R is the R-transform of the spectrum of
the coupling matrix J = xi^T xi / N (physics.md, sections c and e):

- ``iid``: i.i.d. patterns, Marchenko-Pastur spectrum, R(x) = alpha / (1 - x);
- ``spectral``: the R-transform of the empirical spectrum of J (with its
  diagonal), for any pattern matrix, correlated or not (adaptive TAP);
- ``none``: naive mean field, J_ii = 0 and no reaction term: each site's
  self-coupling J_ii m_i is removed from sum_mu xi^mu_i m^mu and nothing else
  (:class:`NoReaction`, per site like ``spectral_site``);
- ``spectral_site``: ``spectral`` with the site-dependent self-couplings
  J_ii = sum_mu (xi^mu_i)^2 / N treated exactly, a per-site R_i(x)
  (:class:`SiteSpectralReaction`, evaluated by ``site(x)``; a solver must
  support per-site terms to use it).

:func:`feature_model_reaction` is the closed form of the large-N R-transform for
the feature model of physics.md section e, a theory reference for tests.

Every reaction is built once per pattern matrix and then evaluated cheaply at
every iteration for all K temperatures at once. Each exposes

- ``__call__(x)``: R(x) for x of shape (K,);
- ``x_max``: the largest x a solver may use during transients (it clips
  x = beta (1 - q) there, the guard of physics.md section c);
- ``valid(x)``: whether a state with this x lies inside the domain where a TAP
  state exists; a solver must report a final state outside it, never return it
  as a fixed point.

This module is over 500 lines because the four reaction terms share one
contract (R, x_max, valid, edge) and the spectral machinery (spectrum, edge,
R-transform by Newton on the Stieltjes transform) that three of them build on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: x_max = EDGE_GUARD * edge for the spectral reactions: transients are clipped
#: just below the spectral edge, where R(x) is still finite.
EDGE_GUARD = 0.99

#: Number of top eigenvalues whose poles the edge estimate replaces by a
#: square-root density (see :func:`spectral_edge`). With 10, the estimate of x_e
#: was within 3 % of the large-N value at N = 4000 (alpha = 0.1, feature models
#: with alpha_D = 0.05 ... 1 and i.i.d. patterns, four samples each).
EDGE_TAIL = 10

#: Where Newton starts, as a fraction of the bracket above the top pole, when the
#: mean eigenvalue lies below that pole (x close to the edge).
START_OFFSET = 1e-3

#: Points of the grid of R(x) on [0, x_max] built once per pattern matrix; its
#: linear interpolation starts the Newton iteration ~1e-6 from the root, so two
#: or three steps reach double precision (instead of ~8 from the safe start).
GRID_POINTS = 512

#: Upper end of that grid when the edge is infinite (a point-mass spectrum).
GRID_X_LIMIT = 1e3

#: Relative step at which the Newton iteration for R(x) stops.
NEWTON_RTOL = 1e-14

#: Iteration cap of the safeguarded Newton solve (bisection alone needs ~60
#: steps for double precision; Newton typically needs fewer than 8).
NEWTON_MAX_ITER = 200

#: Relative distance from the interval ends at which the closed-form edge is
#: bracketed for the root finder.
BRACKET_EPS = 1e-9


#: Transient guard of the i.i.d. reaction, x <= IID_GUARD (physics.md section c),
#: raised to halfway between the edge and 1 when the edge lies above it (alpha <
#: 0.0028), so the guard never cuts into the domain x < x_e.
IID_GUARD = 0.95


@dataclass(frozen=True)
class IIDReaction:
    """R(x) = alpha / (1 - x): the plain Hopfield Onsager term.

    Attributes
    ----------
    alpha : float
        Load P / N.
    edge : float
        x_e = 1 / (1 + sqrt(alpha)), the largest x for which a TAP state exists
        (the paramagnet m = 0 reaches it exactly at T_g = 1 + sqrt(alpha)).
    x_max : float
        Transient guard, max(IID_GUARD, (1 + x_e) / 2) >= x_e.
    """

    alpha: float

    @property
    def edge(self) -> float:
        return 1.0 / (1.0 + np.sqrt(self.alpha))

    @property
    def x_max(self) -> float:
        return max(IID_GUARD, 0.5 * (1.0 + self.edge))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """R(x) for x of shape (K,), elementwise."""
        return self.alpha / (1.0 - x)

    def valid(self, x: np.ndarray) -> np.ndarray:
        """A TAP state needs x below the edge of the Marchenko-Pastur spectrum, x < x_e.

        (1 - x > 0 keeps R finite, but between x_e and 1 the equations have
        solutions that are no TAP states, e.g. the paramagnet for 1 < T < T_g.)
        """
        return np.asarray(x) < self.edge


class _PerSiteReaction:
    """A reaction with a site-dependent part: R_i(x) = J_ii + response(x).

    Subclasses have ``self_coupling`` (N,) = J_ii and ``response(x)`` (K,); a
    solver subtracts (response(x) + J_ii) m_i at each site. Calling the object
    raises TypeError, so a solver without per-site support fails loudly instead
    of silently using an average.
    """

    self_coupling: np.ndarray

    def response(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def site(self, x: np.ndarray) -> np.ndarray:
        """R_i(x) of shape (K, N) for x of shape (K,); NaN rows where x >= edge."""
        return self.response(x)[:, None] + self.self_coupling[None, :]

    def __call__(self, x):
        raise TypeError(
            f"the {type(self).__name__} reaction is per site: use reaction.site(x), "
            "shape (K, N), and subtract site(x) * m in the solver"
        )


@dataclass(frozen=True, eq=False)
class NoReaction(_PerSiteReaction):
    """Naive mean field: J_ii = 0 and no Onsager term.

    h_i = sum_{j != i} J_ij m_j = sum_mu xi^mu_i m^mu - J_ii m_i (for ±1 patterns
    J_ii = alpha at every site). Keeping the diagonal (J_ii m_i in the field) is a
    different and worse approximation (physics.md section g).

    Attributes
    ----------
    self_coupling : ndarray of shape (N,)
        J_ii = sum_mu (xi^mu_i)^2 / N.
    edge, x_max : float
        inf: naive mean field has no domain restriction.
    """

    self_coupling: np.ndarray
    edge: float = np.inf
    x_max: float = np.inf

    @classmethod
    def from_patterns(cls, xi: np.ndarray) -> NoReaction:
        """Build from a pattern matrix xi of shape (P, N)."""
        xi = np.asarray(xi, dtype=np.float64)
        return cls(np.einsum("pi,pi->i", xi, xi) / xi.shape[1])

    def response(self, x: np.ndarray) -> np.ndarray:
        """No response term: zeros of the shape of x (float64)."""
        return np.zeros(np.shape(np.atleast_1d(x)))

    def valid(self, x: np.ndarray) -> np.ndarray:
        return np.ones_like(x, dtype=bool)


def coupling_spectrum(xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of J = xi^T xi / N (diagonal included) and their weights.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns, real values.

    Returns
    -------
    eigenvalues : ndarray of shape (n,), float64, descending, >= 0
        The min(P, N) eigenvalues of the smaller Gram matrix, then a single 0.0
        standing for the N - P zero eigenvalues when P < N.
    weights : ndarray of shape (n,), float64
        Fraction of the N eigenvalues of J at each entry (1/N, and (N - P)/N for
        the zero block); sums to 1.
    """
    P, N = xi.shape
    gram = xi @ xi.T if P <= N else xi.T @ xi
    eigenvalues = np.clip(np.linalg.eigvalsh(gram / N)[::-1], 0.0, None)
    weights = np.full(eigenvalues.size, 1.0 / N)
    if P < N:
        eigenvalues = np.append(eigenvalues, 0.0)
        weights = np.append(weights, (N - P) / N)
    return eigenvalues, weights


def spectral_edge(eigenvalues: np.ndarray, weights: np.ndarray) -> float:
    """Finite-N estimate of x_e = G(lambda_max+), the edge of the R-transform's domain.

    For a finite spectrum G(z) = sum_k w_k / (z - lambda_k) diverges at the
    largest eigenvalue, so G(lambda_max+) is estimated from the bulk: the poles of
    the top n = EDGE_TAIL eigenvalues (those within delta = lambda_max - lambda_n of
    the edge) are replaced by a square-root density holding n eigenvalues, whose
    contribution to G at the edge is (3/2) n / (N delta):

        x_e ~ sum_{k >= n} w_k / (lambda_max - lambda_k) + 1.5 n / (N delta).

    Parameters
    ----------
    eigenvalues, weights : ndarray of shape (n,)
        As returned by :func:`coupling_spectrum`.

    Returns
    -------
    float
        The edge x_e (inf for a single point mass, where R is constant).
    """
    N = int(round(1.0 / weights[0])) if weights[0] > 0 else 1
    counts = np.maximum(np.rint(weights * N).astype(np.int64), 1)
    lam = np.repeat(eigenvalues, counts)  # each eigenvalue of J once, descending
    top = lam[0]
    below = np.flatnonzero(lam < top)
    if below.size == 0:
        return np.inf
    n = max(min(EDGE_TAIL, lam.size - 1), int(below[0]))
    delta = top - lam[n]
    return float(np.sum(1.0 / (top - lam[n:])) / lam.size + 1.5 * n / (lam.size * delta))


def _r_transform(
    x: np.ndarray, eigenvalues: np.ndarray, weights: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """R(x) = G^{-1}(x) - 1/x of a discrete spectrum, vectorised over x >= 0.

    With z = 1/x + r and S(r) = sum_k w_k / (1 + x (r - lambda_k)) = G(z) / x, the
    equation G(z) = x is Psi(r) = 1/G(z) - 1/x = Phi / S = 0 with
    Phi(r) = (1 - S) / x = sum_k w_k (r - lambda_k) / (1 + x (r - lambda_k)),
    regular at x = 0 (root: the mean eigenvalue). 1/G is increasing and concave
    above the spectrum (a Nevanlinna function) and smooth at the top pole, so
    Newton steps on Psi (step Phi S / Phi', using dPsi/dr = Phi' / S^2) started left
    of the root climb to it monotonically and fast. The root lies in
    [mean eigenvalue, lambda_max] (Jensen, and G(z) <= 1 / (z - lambda_max)); steps
    leaving the bracket are replaced by bisection. ``start`` (optional, shape of
    x) is a guess of the root, e.g. interpolated; the iteration starts from the
    larger of it and the safe left start.
    """
    x = np.asarray(x, dtype=np.float64)
    top = eigenvalues[0]
    mean = float(weights @ eigenvalues)
    with np.errstate(divide="ignore"):
        pole = np.where(x > 0, top - 1.0 / x, -np.inf)
    lo = np.maximum(mean, pole)
    hi = np.full_like(x, top)
    r = np.where(mean > pole, mean, lo + START_OFFSET * (hi - lo))
    if start is not None:
        r = np.clip(start, r, hi)
    lam = eigenvalues[None, :]
    active = np.arange(x.size)
    for _ in range(NEWTON_MAX_ITER):
        xa, ra = x[active, None], r[active]
        d = ra[:, None] - lam
        inv = 1.0 / (1.0 + xa * d)
        phi = (d * inv) @ weights
        dphi = (inv * inv) @ weights
        lo[active] = np.where(phi <= 0, ra, lo[active])
        hi[active] = np.where(phi >= 0, ra, hi[active])
        step = ra - phi * (inv @ weights) / dphi
        done = np.abs(step - ra) <= NEWTON_RTOL * (1.0 + np.abs(ra))
        inside = (step >= lo[active]) & (step <= hi[active])
        r[active] = np.where(inside | done, step, 0.5 * (lo[active] + hi[active]))
        active = active[~done]
        if active.size == 0:
            break
    return r


@dataclass(frozen=True, eq=False)
class SpectralReaction:
    """R-transform of the empirical spectrum of J = xi^T xi / N (adaptive TAP).

    R(x) = G^{-1}(x) - 1/x with G(z) = (1/N) sum_k 1 / (z - lambda_k) over the N
    eigenvalues of J (diagonal included), solved to ~1e-14 relative by a
    vectorised safeguarded Newton iteration started from the interpolation of a
    grid built once (three steps of O(K P) work for K temperatures). For i.i.d. ±1 patterns it
    tends to alpha / (1 - x) at large N; for feature-built patterns to
    :func:`feature_model_reaction`.

    Attributes
    ----------
    eigenvalues, weights : ndarray of shape (n,)
        The spectrum, as returned by :func:`coupling_spectrum`.
    edge : float
        x_e, the finite-N estimate of G(lambda_max+) (:func:`spectral_edge`);
        no TAP state exists at x >= x_e and R(x) is NaN there.
    x_max : float
        Transient guard, EDGE_GUARD * edge.
    """

    eigenvalues: np.ndarray
    weights: np.ndarray
    edge: float = field(init=False)
    x_max: float = field(init=False)
    _grid: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)

    @property
    def _spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        return self.eigenvalues, self.weights

    def __post_init__(self):
        edge = spectral_edge(self.eigenvalues, self.weights)
        object.__setattr__(self, "edge", edge)
        object.__setattr__(self, "x_max", EDGE_GUARD * edge)
        top = min(self.x_max, GRID_X_LIMIT)
        grid = np.linspace(0.0, top, GRID_POINTS)
        object.__setattr__(self, "_grid", (grid, _r_transform(grid, *self._spectrum)))

    @classmethod
    def from_patterns(cls, xi: np.ndarray) -> SpectralReaction:
        """Build from a pattern matrix xi of shape (P, N) (one eigendecomposition)."""
        return cls(*coupling_spectrum(xi))

    @property
    def alpha(self) -> float:
        """R(0): the mean eigenvalue of J, sum_mu sum_i (xi^mu_i)^2 / N^2."""
        return float(self.weights @ self.eigenvalues)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """R(x) for x of shape (K,), float64; NaN where x >= edge.

        Negative x (rounding of q slightly above 1) is evaluated at x = 0.
        """
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        inside = self.valid(x)
        r = np.full(x.shape, np.nan)
        if np.any(inside):
            xin = np.maximum(x[inside], 0.0)
            start = np.interp(xin, *self._grid)
            r[inside] = _r_transform(xin, *self._spectrum, start=start)
        return r

    def valid(self, x: np.ndarray) -> np.ndarray:
        """A TAP state needs x inside the domain of the R-transform, x < edge."""
        return np.asarray(x) < self.edge


@dataclass(frozen=True, eq=False)
class FeatureModelReaction:
    """Large-N R-transform of the depth-1 feature model (physics.md section e).

    w solves w = (alpha/alpha_D)(1 - x w)/(1 - x - x w), root
    w = [b - sqrt(b^2 - 4 (alpha/alpha_D) x)]/(2x) with b = 1 - x + (alpha/alpha_D) x
    (evaluated as 2 (alpha/alpha_D) / [b + sqrt(...)], stable at x -> 0 and
    alpha_D -> inf), and R(x) = alpha_D w / (1 - x w). alpha_D = inf gives
    alpha / (1 - x).

    Attributes
    ----------
    alpha, alpha_D : float
        Load P/N and features per neuron D/N.
    edge : float
        x_e, where z(x) = R(x) + 1/x = G^{-1}(x) is minimal (the spectral edge
        lambda_e = z(x_e)); R is NaN for x >= x_e.
    x_max : float
        EDGE_GUARD * edge.
    """

    alpha: float
    alpha_D: float
    edge: float = field(init=False)
    x_max: float = field(init=False)

    def __post_init__(self):
        if not (self.alpha > 0 and self.alpha_D > 0):
            raise ValueError(
                f"alpha and alpha_D must be > 0, got alpha={self.alpha!r}, alpha_D={self.alpha_D!r}"
            )
        if np.isinf(self.alpha_D):
            edge = 1.0 / (1.0 + np.sqrt(self.alpha))
        else:
            ratio = self.alpha / self.alpha_D
            # the square root is real up to the smaller root of b^2 = 4 ratio x
            a2, a1 = (1.0 - ratio) ** 2, -2.0 * (1.0 - ratio) - 4.0 * ratio
            disc_end = (-a1 - np.sqrt(a1 * a1 - 4.0 * a2)) / (2.0 * a2) if a2 > 0 else 0.25 / ratio
            disc_end = min(disc_end, 1.0)
            from scipy.optimize import brentq  # here: scipy costs ~0.4 s per worker to import

            edge = brentq(self._dz, BRACKET_EPS * disc_end, (1.0 - BRACKET_EPS) * disc_end)
        object.__setattr__(self, "edge", float(edge))
        object.__setattr__(self, "x_max", EDGE_GUARD * float(edge))

    def _w(self, x):
        ratio = self.alpha / self.alpha_D
        b = 1.0 - x + ratio * x
        return 2.0 * ratio / (b + np.sqrt(b * b - 4.0 * ratio * x))

    def _dz(self, x: float) -> float:
        """d/dx [R(x) + 1/x], by implicit differentiation of the w equation."""
        ratio = self.alpha / self.alpha_D
        w = self._w(x)
        dw = -(-w - w * w + ratio * w) / (1.0 - x - 2.0 * x * w + ratio * x)
        return self.alpha_D * (dw + w * w) / (1.0 - x * w) ** 2 - 1.0 / x**2

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """R(x) for x of shape (K,); NaN where x >= edge."""
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        inside = self.valid(x)
        r = np.full(x.shape, np.nan)
        xin = x[inside]
        if np.isinf(self.alpha_D):
            r[inside] = self.alpha / (1.0 - xin)
        else:
            w = self._w(xin)
            r[inside] = self.alpha_D * w / (1.0 - xin * w)
        return r

    def valid(self, x: np.ndarray) -> np.ndarray:
        """x < edge."""
        return np.asarray(x) < self.edge


def feature_model_reaction(alpha: float, alpha_D: float) -> FeatureModelReaction:
    """Closed-form large-N reaction term of the feature model (theory reference).

    Parameters
    ----------
    alpha : float
        Load P / N, > 0.
    alpha_D : float
        Features per neuron D / N, > 0 (``numpy.inf`` for i.i.d. patterns).
    """
    return FeatureModelReaction(float(alpha), float(alpha_D))


@dataclass(frozen=True, eq=False)
class SiteSpectralReaction(_PerSiteReaction):
    """Spectral reaction with the site-dependent self-coupling treated exactly.

    The TAP field sum_mu xi^mu_i m^mu contains the self-coupling J_ii m_i with
    J_ii = sum_mu (xi^mu_i)^2 / N. A single R(x) removes only its average R(0)
    (exact for ±1 patterns, where J_ii = alpha at every site); for real-valued
    patterns J_ii scatters by O(alpha / sqrt(P)) and leaves an O(1/sqrt(P))
    per-site error (physics.md section e). Here the self-coupling is removed
    site by site and the spectral term keeps only the response part:

        R_i(x) = J_ii + R(x) - R(0),

    so h_i = sum_{j != i} J_ij m_j - [R(x) - R(0)] m_i. Measured: against exact
    enumeration at N = 16 (feature model, field 0.5 xi^0, T = 3) the median
    per-site error fell from 0.025 (spectral) to 0.008; against Monte Carlo at
    N = 1000 (alpha = 0.1, alpha_D = 0.2, field 1.0 xi^0, 4 x 40000 sweeps) the
    noise-corrected rms per site fell from 0.0084 to 0.0068 (T = 2) and from
    0.0033 to 0.0020 (T = 3); plain TAP: 0.021 and 0.0076.

    Not a drop-in ``R(x)``: the solver must subtract ``site(x) * m`` per site;
    calling the object raises TypeError so a solver without that support fails
    loudly instead of silently using the average.

    Attributes
    ----------
    spectral : SpectralReaction
        The R-transform of the spectrum of J (diagonal included).
    self_coupling : ndarray of shape (N,)
        J_ii = sum_mu (xi^mu_i)^2 / N.
    """

    spectral: SpectralReaction
    self_coupling: np.ndarray

    @classmethod
    def from_patterns(cls, xi: np.ndarray) -> SiteSpectralReaction:
        """Build from a pattern matrix xi of shape (P, N)."""
        xi = np.asarray(xi, dtype=np.float64)
        return cls(SpectralReaction.from_patterns(xi), np.sum(xi * xi, axis=0) / xi.shape[1])

    @property
    def edge(self) -> float:
        return self.spectral.edge

    @property
    def x_max(self) -> float:
        return self.spectral.x_max

    def valid(self, x: np.ndarray) -> np.ndarray:
        """x < edge, as for :class:`SpectralReaction`."""
        return self.spectral.valid(x)

    def response(self, x: np.ndarray) -> np.ndarray:
        """R(x) - R(0) of shape (K,): the part of R_i(x) common to all sites."""
        return self.spectral(x) - self.spectral.alpha


REACTIONS = ("iid", "spectral", "spectral_site", "none")


def make_reaction(kind: str, xi: np.ndarray):
    """Build the reaction term of a pattern matrix.

    Parameters
    ----------
    kind : {"iid", "spectral", "spectral_site", "none"}
    xi : ndarray of shape (P, N)

    Returns
    -------
    callable
        ``R(x)`` for x of shape (K,), with ``edge``, ``x_max`` and ``valid(x)``;
        for ``spectral_site`` an object with ``site(x)`` of shape (K, N) instead
        of ``R(x)`` (see :class:`SiteSpectralReaction`).
    """
    P, N = xi.shape
    if kind == "iid":
        return IIDReaction(alpha=P / N)
    if kind == "none":
        return NoReaction.from_patterns(xi)
    if kind == "spectral":
        return SpectralReaction.from_patterns(np.asarray(xi, dtype=np.float64))
    if kind == "spectral_site":
        return SiteSpectralReaction.from_patterns(xi)
    raise ValueError(f"reaction must be one of {REACTIONS}, got {kind!r}")
