"""The result every solver returns, and the status codes shared with the store."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Status codes of one (point, temperature). The store adds ``PENDING = 0`` and
#: ``FAILED = 4`` for points that have not run or whose task raised.
CONVERGED = 1
NOT_CONVERGED = 2
DIVERGED = 3


def status_code(diverged: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """Status of finished temperatures: DIVERGED over CONVERGED over NOT_CONVERGED.

    Parameters
    ----------
    diverged, converged : ndarray of bool, same shape

    Returns
    -------
    ndarray of int8, that shape
    """
    return np.where(diverged, DIVERGED, np.where(converged, CONVERGED, NOT_CONVERGED)).astype(
        np.int8
    )


@dataclass(frozen=True)
class Solution:
    """Fixed point (or last iterate) of a mean-field solver, one row per temperature.

    Attributes
    ----------
    m : ndarray of shape (K, N)
        Local magnetizations <s_i> at each of the K inverse temperatures.
    overlap : ndarray of shape (K, P)
        Overlaps m^mu = (1/N) sum_i xi^mu_i m_i with every pattern.
    q : ndarray of shape (K,)
        Edwards-Anderson parameter (1/N) sum_i m_i^2.
    free_energy : ndarray of shape (K,)
        Free energy per neuron at the returned state (units of J; NaN where the
        method defines none, and wherever ``status`` is DIVERGED).
    iterations : ndarray of shape (K,), int64
        Iterations (sweeps for Monte Carlo) spent on each temperature.
    residual : ndarray of shape (K,)
        Last max_i |m_i^{t+1} - m_i^t| (NaN where it does not apply).
    status : ndarray of shape (K,), int8
        ``CONVERGED``, ``NOT_CONVERGED`` or ``DIVERGED`` per temperature.
    overlap_err, q_err : ndarray or None
        Statistical errors (one standard error) for sampling methods.
    """

    m: np.ndarray
    overlap: np.ndarray
    q: np.ndarray
    free_energy: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    status: np.ndarray
    overlap_err: np.ndarray | None = None
    q_err: np.ndarray | None = None

    @property
    def converged(self) -> np.ndarray:
        """Boolean array of shape (K,): True where the iteration met its tolerance."""
        return self.status == CONVERGED
