"""Brute-force Boltzmann sums for small N: slow, obviously right, plain numpy.

Builds all 2^N states as one array and the coupling matrix J explicitly,
H(s) = -(1/2) s.J.s - h.s with J_ij = (1/N) sum_mu xi^mu_i xi^mu_j and J_ii = 0
(physics.md section a), so it shares no code and no algebra with
``kernels.exact`` (which streams states in Gray-code order through the pattern
sums). Meant for N <= 12.
"""

from __future__ import annotations

import itertools

import numpy as np


def all_states(N: int) -> np.ndarray:
    """Every spin configuration, shape (2^N, N), values ±1."""
    return np.array(list(itertools.product([-1.0, 1.0], repeat=N)))


def energies(xi: np.ndarray, field: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """States (2^N, N) and their energies (2^N,) with the J_ii = 0 convention."""
    N = xi.shape[1]
    J = xi.T @ xi / N
    np.fill_diagonal(J, 0.0)
    states = all_states(N)
    E = -0.5 * np.einsum("si,ij,sj->s", states, J, states)
    if field is not None:
        E -= states @ field
    return states, E


def thermal(xi: np.ndarray, beta: float, field: np.ndarray | None = None) -> dict:
    """Exact averages at one inverse temperature.

    Returns a dict with ``m`` (N,) <s_i>, ``overlap`` (P,) the Boltzmann average
    of m^mu(s) = (1/N) sum_i xi^mu_i s_i (computed state by state),
    ``overlap_sq`` (P,) the average of m^mu(s)^2, ``q`` and
    ``free_energy`` = -ln(sum_s exp(-beta H)) / (beta N).
    """
    N = xi.shape[1]
    states, E = energies(xi, field)
    log_weights = -beta * E
    shift = log_weights.max()
    w = np.exp(log_weights - shift)
    Z = w.sum()
    m = w @ states / Z
    overlaps = states @ xi.T / N
    return {
        "m": m,
        "overlap": w @ overlaps / Z,
        "overlap_sq": w @ overlaps**2 / Z,
        "q": float(np.mean(m * m)),
        "free_energy": -(shift + np.log(Z)) / (beta * N),
    }
