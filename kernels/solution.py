"""The result every solver returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .status import CONVERGED, DIVERGED, INVALID, NOT_CONVERGED

#: An overlap |m^mu| counts as condensed above the larger of this floor and
#: CONDENSATION_NOISE times the largest overlap noise of P random patterns,
#: sqrt(2 ln P / N). The floor does not shrink with N, so the same state is
#: classified alike at every N >= ~500; below that the noise term takes over.
CONDENSATION_FLOOR = 0.3
CONDENSATION_NOISE = 2.0

#: CONVERGED (and INVALID) need the residual of the fixed-point equations,
#: recomputed at the returned state, to be at most this many times ``tol``.
RESIDUAL_FACTOR = 10.0


def condensation_threshold(N: int, P: int) -> float:
    """Smallest |m^mu| that counts as a condensed pattern.

    Parameters
    ----------
    N : int
        Number of neurons.
    P : int
        Number of patterns.

    Returns
    -------
    float
        max(CONDENSATION_FLOOR, CONDENSATION_NOISE * sqrt(2 ln max(P, 2) / N)).
    """
    noise = np.sqrt(2.0 * np.log(max(P, 2)) / N)
    return float(max(CONDENSATION_FLOOR, CONDENSATION_NOISE * noise))


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


def exit_status(
    status: np.ndarray, residual: np.ndarray, tol: float, inside: np.ndarray
) -> np.ndarray:
    """Final status from the iteration's own verdict and the exit checks.

    A temperature the iteration reports CONVERGED (small last step) stays
    CONVERGED only if its equation residual is <= RESIDUAL_FACTOR * tol and its
    state lies inside the method's domain; with the residual met but the state
    outside, it is INVALID; with the residual missed, NOT_CONVERGED. Other
    statuses are kept.

    Parameters
    ----------
    status : ndarray of shape (K,), int8
        CONVERGED, NOT_CONVERGED or DIVERGED from the iteration.
    residual : ndarray of shape (K,)
        Residual of the fixed-point equations at the returned state (NaN fails).
    tol : float
        The tolerance the iteration used.
    inside : ndarray of shape (K,), bool
        Whether each state lies inside the method's domain.

    Returns
    -------
    ndarray of shape (K,), int8
    """
    solved = residual <= RESIDUAL_FACTOR * tol
    final = status.copy()
    stepped = status == CONVERGED
    final[stepped & ~solved] = NOT_CONVERGED
    final[stepped & solved & ~inside] = INVALID
    return final


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
        method defines none, and wherever ``status`` is DIVERGED or INVALID).
    iterations : ndarray of shape (K,), int64
        Iterations (sweeps for Monte Carlo) spent on each temperature.
    residual : ndarray of shape (K,)
        max_i |m_i - F_i(m)| of the method's own fixed-point equations m = F(m),
        recomputed at the returned m (NaN where it does not apply: sampling and
        enumeration, diverged states). Which equations, per solver:

        - ``kernels.tap`` (TAP, AMP, spectral): F_i = tanh(beta h_i),
          h_i = sum_mu xi^mu_i m^mu - R(x) m_i + field_i, m^mu including the
          diagonal j = i, x = beta (1 - q) (physics.md c: for ±1 patterns this is
          sum_{j != i} J_ij m_j - alpha x / (1 - x) m_i); ``spectral_site``
          subtracts J_ii + R(x) - R(0) per site; R is evaluated at x clipped to
          the reaction's transient guard ``x_max`` (>= x_e for i.i.d. patterns,
          so inside the domain these are the TAP equations themselves);
        - naive mean field (``reaction="none"``): h_i = sum_{j != i} J_ij m_j + field_i;
        - ``kernels.layered``: the spin equation m_i = tanh(B_i) of one more
          undamped multi-layer AMP step from the returned state;
        - ``kernels.bp``: tanh(beta (h_i + xi^c_i M' + sum_mu u'_{mu->i})) after
          one undamped update of the returned messages, M' = (1/N) xi^c . m (the
          condensed pattern's term only with ``retrieved``).
    status : ndarray of shape (K,), int8
        ``CONVERGED`` (residual <= RESIDUAL_FACTOR tol, state inside the
        domain), ``INVALID`` (residual met, state outside the domain),
        ``NOT_CONVERGED`` or ``DIVERGED`` per temperature (see
        :mod:`kernels.status`).
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
    def n_condensed(self) -> np.ndarray:
        """ndarray of shape (K,), int64: patterns with |m^mu| above
        :func:`condensation_threshold` (1: retrieval, >1: mixture, 0: spin glass
        or paramagnet, told apart by ``q``)."""
        threshold = condensation_threshold(self.m.shape[1], self.overlap.shape[1])
        return (np.abs(self.overlap) > threshold).sum(axis=1).astype(np.int64)

    @property
    def best_pattern(self) -> np.ndarray:
        """ndarray of shape (K,), int64: index of the largest |m^mu| (0 if P = 0)."""
        if self.overlap.shape[1] == 0:
            return np.zeros(self.overlap.shape[0], dtype=np.int64)
        return np.argmax(np.abs(self.overlap), axis=1).astype(np.int64)

    @property
    def converged(self) -> np.ndarray:
        """Boolean array of shape (K,): True where ``status`` is CONVERGED (the
        equations hold to RESIDUAL_FACTOR tol inside the method's domain)."""
        return self.status == CONVERGED
