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
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(root_seed), spawn_key=key)))


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
    """

    xi: np.ndarray
    features: np.ndarray | None = None
    mixing: tuple[np.ndarray, ...] | None = None

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
