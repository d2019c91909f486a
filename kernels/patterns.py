"""Pattern generators and the random streams of one sweep point.

The disorder of a point depends only on ``(root_seed, N, alpha, seed)``: never
on the temperature, on the worker or on the order in which points run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Independent random streams of one point. Adding a stream never shifts another.
STREAMS = {"patterns": 0, "init": 1, "dynamics": 2}

#: alpha enters the seed as round(alpha * ALPHA_KEY_SCALE), so 0.1 and
#: 0.1 + 1e-17 (from a linspace) give the same disorder.
ALPHA_KEY_SCALE = 10**12


def point_rng(
    root_seed: int, N: int, alpha: float, seed: int, stream: str = "patterns"
) -> np.random.Generator:
    """Generator of one disorder sample, derived from its coordinates alone.

    Parameters
    ----------
    root_seed : int
        Seed of the whole campaign (``root_seed`` in the config).
    N : int
        Number of neurons.
    alpha : float
        Load P / N.
    seed : int
        Index of the disorder sample.
    stream : {"patterns", "init", "dynamics"}
        Which independent stream of the point to return.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator seeded by ``SeedSequence(root_seed, spawn_key=...)``.

    Examples
    --------
    >>> a = point_rng(2017, 100, 0.05, 3).integers(1 << 30)
    >>> b = point_rng(2017, 100, 0.05, 3).integers(1 << 30)
    >>> bool(a == b)
    True
    """
    key = (int(N), int(round(float(alpha) * ALPHA_KEY_SCALE)), int(seed), STREAMS[stream])
    sequence = np.random.SeedSequence(int(root_seed), spawn_key=key)
    return np.random.Generator(np.random.PCG64(sequence))


def n_patterns(N: int, alpha: float) -> int:
    """Number of stored patterns, ``P = round(alpha * N)``."""
    return int(round(alpha * N))


@dataclass(frozen=True)
class Patterns:
    """A stored pattern matrix and, for structured models, how it was built.

    Attributes
    ----------
    xi : ndarray of shape (P, N)
        Patterns; ±1 for binary models, real-valued (unit variance) otherwise.
    features : ndarray of shape (D, N) or None
        Bottom-layer features of a feature-built model.
    mixing : tuple of ndarray or None
        Mixing matrices from the top layer down, ``mixing[0]`` of shape (P, D_1),
        so that ``xi = mixing[0] @ ... @ features`` up to 1/sqrt(D) factors.
    linear : bool
        True when ``xi`` is exactly that linear mixture (what the multi-layer
        solver assumes); False when it is a nonlinear function of it, e.g. its
        sign (``features_sign``).
    """

    xi: np.ndarray
    features: np.ndarray | None = None
    mixing: tuple[np.ndarray, ...] | None = None
    linear: bool = True

    @property
    def is_feature_mixture(self) -> bool:
        """True when ``xi`` is exactly a linear mixture of recorded features, the
        model the multi-layer solver (:mod:`kernels.layered`) describes."""
        return self.features is not None and self.linear

    @property
    def P(self) -> int:
        return self.xi.shape[0]

    @property
    def N(self) -> int:
        return self.xi.shape[1]


def iid(N: int, alpha: float, rng: np.random.Generator) -> Patterns:
    """Independent unbiased ±1 patterns.

    Parameters
    ----------
    N : int
        Number of neurons.
    alpha : float
        Load; ``P = round(alpha * N)`` patterns are drawn.
    rng : numpy.random.Generator
        Source of randomness (see :func:`point_rng`).

    Returns
    -------
    Patterns
        ``xi`` of shape (P, N), float64 with values ±1. Uncorrelated:
        E[xi^mu_i xi^nu_j] = delta_{mu nu} delta_{ij}.
    """
    P = n_patterns(N, alpha)
    if P < 1:
        raise ValueError(f"alpha * N = {alpha * N:g} rounds to P = {P} patterns; need P >= 1")
    xi = rng.integers(0, 2, size=(P, N), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
    return Patterns(xi=xi)


# --- Correlated patterns (physics.md section e) ------------------------------

#: Pattern models :func:`make` can build.
KINDS = ("iid", "features", "features_sign", "products")


def _check_positive(name: str, value: float, fix: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r} ({fix})")
    return value


def _signs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unbiased ±1 float64 array."""
    return rng.integers(0, 2, size=shape, dtype=np.int8).astype(np.float64) * 2.0 - 1.0


def _coefficients(n_rows: int, D: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """Mixing coefficients with E c = 0 and E c^2 = 1, shape (n_rows, D).

    ``density = 1``: dense ±1. ``density < 1``: every row has exactly
    ``max(1, round(density * D))`` non-zero entries ±sqrt(D / n), at positions
    drawn uniformly without replacement, so each row has sum_k c_k^2 = D exactly.
    """
    signs = _signs(rng, (n_rows, D))
    if density >= 1.0:
        return signs
    n_used = max(1, int(round(density * D)))
    positions = np.argsort(rng.random((n_rows, D)), axis=1)[:, :n_used]
    mask = np.zeros((n_rows, D), dtype=bool)
    np.put_along_axis(mask, positions, True, axis=1)
    return np.where(mask, signs * np.sqrt(D / n_used), 0.0)


def _layer_sizes(N: int, alpha_D, depth: int) -> list[int]:
    """Feature counts D_1 (top) ... D_L (bottom) from alpha_D (scalar or one per layer)."""
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    ratios = np.atleast_1d(np.asarray(alpha_D, dtype=np.float64))
    if ratios.ndim != 1 or ratios.size not in (1, depth):
        raise ValueError(
            f"alpha_D must be a number or a list of {depth} numbers (one per layer, top first), "
            f"got {alpha_D!r}"
        )
    ratios = np.broadcast_to(ratios, (depth,))
    sizes = []
    for ratio in ratios:
        _check_positive("alpha_D", ratio, "D = round(alpha_D * N) features per layer")
        D = int(round(ratio * N))
        if D < 1:
            raise ValueError(
                f"alpha_D * N = {ratio * N:g} rounds to D = 0 features; increase alpha_D or N"
            )
        sizes.append(D)
    return sizes


def features(
    N: int,
    alpha: float,
    rng: np.random.Generator,
    *,
    alpha_D: float | list[float],
    density: float = 1.0,
    depth: int = 1,
) -> Patterns:
    """Real-valued patterns built from a smaller number of binary features.

    Depth 1: D = round(alpha_D N) features f^k in {±1}^N and coefficients
    c^mu_k, and xi^mu_i = (1/sqrt(D)) sum_k c^mu_k f^k_i. Depth L: the features
    themselves are mixtures of deeper ones,
    xi = C_1 C_2 ... C_L F / sqrt(D_1 ... D_L), with only the bottom features F binary.

    Correlations created: E xi^mu_i = 0 and E (xi^mu_i)^2 = 1 exactly per pattern
    (sum_k (c^mu_k)^2 = D for every row), but the patterns are not independent:
    (1/N) sum_i xi^mu_i xi^nu_i = (c^mu . c^nu)/D + O(1/sqrt(N)) is O(1/sqrt(D)),
    so J = xi^T xi / N has a spectrum wider than Marchenko-Pastur (variance
    alpha + alpha^2 / alpha_D instead of alpha at depth 1) and the plain TAP
    reaction term alpha / (1 - x) is wrong. Sites are correlated too: every
    pattern is a function of the same D feature values at site i.

    Parameters
    ----------
    N : int
        Number of neurons.
    alpha : float
        Load; P = round(alpha N) patterns.
    rng : numpy.random.Generator
        Source of randomness.
    alpha_D : float or list of float
        Features per neuron, D_l = round(alpha_D N); one number for all layers or
        one per layer, top first.
    density : float, default=1.0
        Fraction of the features each pattern (each deeper feature) combines, in
        (0, 1]: 1 gives dense ±1 coefficients, less gives exactly
        max(1, round(density D)) non-zero coefficients ±sqrt(D / n) per row.
    depth : int, default=1
        Number of mixing layers L.

    Returns
    -------
    Patterns
        ``xi`` (P, N) float64; ``features`` the bottom features (D_L, N), ±1;
        ``mixing`` (C_1, ..., C_L) top first, C_1 of shape (P, D_1) and C_l of
        shape (D_{l-1}, D_l), so that ``xi = C_1 @ ... @ C_L @ F / sqrt(D_1 ... D_L)``.
    """
    P = n_patterns(N, alpha)
    if P < 1:
        raise ValueError(f"alpha * N = {alpha * N:g} rounds to P = {P} patterns; need P >= 1")
    density = float(density)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1] (1 = dense ±1 coefficients), got {density!r}")
    sizes = _layer_sizes(N, alpha_D, depth)
    rows = [P, *sizes[:-1]]
    mixing = tuple(_coefficients(n, D, density, rng) for n, D in zip(rows, sizes, strict=True))
    bottom = _signs(rng, (sizes[-1], N))
    return Patterns(xi=mixture(bottom, mixing), features=bottom, mixing=mixing)


def mixture(features: np.ndarray, mixing) -> np.ndarray:
    """Patterns of a feature model, xi = C_1 @ ... @ C_L @ F / sqrt(D_1 ... D_L).

    Parameters
    ----------
    features : ndarray of shape (D_L, N)
        Bottom features F.
    mixing : sequence of ndarray
        C_1 (P, D_1), ..., C_L (D_{L-1}, D_L), top first; D_l is the number of
        columns of C_l.

    Returns
    -------
    ndarray of shape (P, N), float64
    """
    xi = np.asarray(features, dtype=np.float64)
    for C in reversed(mixing):
        xi = C @ xi / np.sqrt(C.shape[1])
    return xi


def _sign_with_ties(mixture: np.ndarray, C: np.ndarray, F: np.ndarray) -> np.ndarray:
    """sign(mixture) with exact zeros replaced by the sign of the first non-zero term.

    A tie at (mu, i) (possible when a row of C has an even number of non-zero
    entries) takes the sign of c^mu_k f^k_i for the first k with c^mu_k != 0:
    deterministic and still unbiased over the features.
    """
    xi = np.sign(mixture)
    ties = xi == 0
    if np.any(ties):
        first = np.argmax(C != 0, axis=1)
        tie_break = np.sign(C[np.arange(C.shape[0]), first])[:, None] * F[first]
        xi = np.where(ties, tie_break, xi)
    return xi


def features_sign(
    N: int,
    alpha: float,
    rng: np.random.Generator,
    *,
    alpha_D: float,
    density: float = 1.0,
) -> Patterns:
    """Binary patterns xi = sign(C F / sqrt(D)): the random-features Hopfield model.

    The features and coefficients are those of :func:`features` (depth 1, same
    random draws for the same ``rng`` state); exact zeros of the mixture are
    broken by the sign of its first non-zero term c^mu_k f^k_i.

    Correlations created: ±1 patterns with (1/N) sum_i xi^mu_i xi^nu_i =
    (2/pi) (c^mu . c^nu)/D + O(1/sqrt(N)) for large D (arcsine law), a spectrum of
    J wider than Marchenko-Pastur, and the same site correlations as
    :func:`features`. The layered solver does NOT apply exactly (the sign is
    not a linear layer); ``features`` and ``mixing`` are recorded for reference.
    Use the spectral TAP reaction for these patterns.

    Returns
    -------
    Patterns
        ``xi`` (P, N) float64 with values ±1; ``features`` (D, N); ``mixing`` (C,).
    """
    real = features(N, alpha, rng, alpha_D=alpha_D, density=density, depth=1)
    C = real.mixing[0]
    xi = _sign_with_ties(C @ real.features, C, real.features)
    return Patterns(xi=xi, features=real.features, mixing=real.mixing, linear=False)


def product_factors(P: int, n_eta: int | None = None) -> tuple[int, int]:
    """Numbers (n_eta, n_zeta) of the two families of :func:`products`.

    Default: n_eta = round(sqrt(P)) and n_zeta = ceil(P / n_eta), the most
    square grid; the first P of the n_eta * n_zeta products (in (a, b) order,
    b fastest) are used, so n_eta n_zeta - P < n_eta products are dropped.
    """
    if n_eta is None:
        n_eta = max(1, int(round(np.sqrt(P))))
    if isinstance(n_eta, bool) or not isinstance(n_eta, (int, np.integer)) or not 1 <= n_eta <= P:
        raise ValueError(f"n_eta must be an integer in [1, P = {P}], got {n_eta!r}")
    return int(n_eta), -(-P // int(n_eta))


def products(
    N: int, alpha: float, rng: np.random.Generator, *, n_eta: int | None = None
) -> Patterns:
    """Binary patterns that are products of two families of ±1 features.

    xi^{(a,b)}_i = eta^a_i zeta^b_i with eta^a, zeta^b i.i.d. unbiased ±1,
    a < n_eta, b < n_zeta (see :func:`product_factors` for the choice of n_eta
    and n_zeta given P). Pattern mu = a n_zeta + b.

    Correlations created: every pattern is unbiased ±1 and any two patterns are
    pairwise uncorrelated (E xi^{(a,b)}_i xi^{(a',b')}_i = 0 unless equal), but
    the structure is combinatorial: for a != a', b != b' the four-pattern
    product xi^{(a,b)} xi^{(a,b')} xi^{(a',b)} xi^{(a',b')} = 1 at every site,
    and patterns sharing a factor have correlated products with others. The
    couplings factorise, J_ij = (sum_a eta^a_i eta^a_j)(sum_b zeta^b_i zeta^b_j)/N.
    Their spectrum is still Marchenko-Pastur at large N (its moments pair
    patterns site by site as for i.i.d. patterns; measured: the spectral R is
    within 0.5 % of alpha / (1 - x) at N = 1000), so the plain TAP reaction term
    applies; the structure lives in higher-order, site-local correlations.

    Returns
    -------
    Patterns
        ``xi`` (P, N) float64 ±1; ``features`` and ``mixing`` None: the model is
        not a linear mixture, so the layered solver does not apply (the factors
        are recoverable up to a sign per site, eta^a zeta^0 = xi^{(a,0)}).
    """
    P = n_patterns(N, alpha)
    if P < 1:
        raise ValueError(f"alpha * N = {alpha * N:g} rounds to P = {P} patterns; need P >= 1")
    n_a, n_b = product_factors(P, n_eta)
    eta = _signs(rng, (n_a, N))
    zeta = _signs(rng, (n_b, N))
    xi = (eta[:, None, :] * zeta[None, :, :]).reshape(n_a * n_b, N)[:P]
    return Patterns(xi=xi)


_PARAMS = {
    "iid": (),
    "features": ("alpha_D", "density", "depth"),
    "features_sign": ("alpha_D", "density"),
    "products": ("n_eta",),
}
#: The keys of each pattern model (the ``**params`` of :func:`make`).
PARAMS = _PARAMS


def make(kind: str, N: int, alpha: float, rng: np.random.Generator, **params) -> Patterns:
    """Build the patterns of one sample for a model named in a config.

    Parameters
    ----------
    kind : {"iid", "features", "features_sign", "products"}
        Pattern model (``[patterns] kind``).
    N, alpha, rng
        As in :func:`iid`.
    **params
        The model's own keys: ``features``: alpha_D (required), density=1.0,
        depth=1; ``features_sign``: alpha_D (required), density=1.0;
        ``products``: n_eta=None; ``iid``: none.

    Raises
    ------
    ValueError
        For an unknown kind, an unknown or missing parameter, or a bad value,
        naming it.
    """
    if kind not in _PARAMS:
        raise ValueError(f"patterns kind must be one of {KINDS}, got {kind!r}")
    unknown = sorted(set(params) - set(_PARAMS[kind]))
    if unknown:
        allowed = ", ".join(_PARAMS[kind]) or "none"
        raise ValueError(
            f"unknown parameter(s) {unknown} for patterns kind {kind!r} (allowed: {allowed})"
        )
    if kind.startswith("features") and "alpha_D" not in params:
        raise ValueError(f"patterns kind {kind!r} needs alpha_D (features per neuron, > 0)")
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be an integer >= 1, got {N!r}")
    _check_positive("alpha", alpha, "load P / N")
    builders = {"iid": iid, "features": features, "features_sign": features_sign,
                "products": products}
    return builders[kind](N, alpha, rng, **params)
