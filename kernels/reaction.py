"""Onsager reaction terms of the TAP equations.

The TAP local field is h_i = sum_mu xi^mu_i m^mu - R(x) m_i with x = beta (1 - q),
where m^mu includes the diagonal j = i. R is the R-transform of the spectrum of
the coupling matrix J = xi^T xi / N (physics.md, sections c and e):

- ``iid``: i.i.d. patterns, Marchenko-Pastur spectrum, R(x) = alpha / (1 - x);
- ``none``: no reaction term (naive mean field), R = 0.

Every reaction is built once per pattern matrix and then evaluated cheaply at
every iteration for all K temperatures at once. Each exposes

- ``__call__(x)``: R(x) for x of shape (K,);
- ``x_max``: the largest x a solver may use during transients (it clips
  x = beta (1 - q) there, the guard of physics.md section c);
- ``valid(x)``: whether a state with this x lies inside the domain where a TAP
  state exists; a solver must report a final state outside it, never return it
  as a fixed point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """

    alpha: float

    @property
    def edge(self) -> float:
        return 1.0 / (1.0 + np.sqrt(self.alpha))

    #: Transient guard on x = beta (1 - q) (physics.md section c).
    x_max: float = 0.95

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """R(x) for x of shape (K,), elementwise."""
        return self.alpha / (1.0 - x)

    def valid(self, x: np.ndarray) -> np.ndarray:
        """A TAP state needs a positive reaction denominator, 1 - x > 0."""
        return x < 1.0


@dataclass(frozen=True)
class NoReaction:
    """Naive mean field: no Onsager term at all."""

    edge: float = np.inf
    x_max: float = np.inf

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)

    def valid(self, x: np.ndarray) -> np.ndarray:
        return np.ones_like(x, dtype=bool)


REACTIONS = ("iid", "spectral", "none")


def make_reaction(kind: str, xi: np.ndarray):
    """Build the reaction term of a pattern matrix.

    Parameters
    ----------
    kind : {"iid", "spectral", "none"}
    xi : ndarray of shape (P, N)

    Returns
    -------
    callable
        ``R(x)`` for x of shape (K,), with ``edge``, ``x_max`` and ``valid(x)``.
    """
    P, N = xi.shape
    if kind == "iid":
        return IIDReaction(alpha=P / N)
    if kind == "none":
        return NoReaction()
    raise ValueError(f"reaction must be one of {REACTIONS}, got {kind!r}")
