"""Initial magnetizations a solver starts from."""

from __future__ import annotations

import numpy as np

#: Amplitude of the random start of the ``paramagnetic`` initialisation: small
#: enough to sit in the paramagnetic basin, non-zero so m = 0 is not a trivial
#: fixed point of the iteration.
PARAMAGNETIC_AMPLITUDE = 1e-3

INITS = ("retrieval", "random", "paramagnetic")


def initial_state(xi: np.ndarray, init: str, rng: np.random.Generator) -> np.ndarray:
    """Starting magnetizations for an iterative solver.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns.
    init : {"retrieval", "random", "paramagnetic"}
        ``retrieval``: on pattern 0, m_i = sign(xi^0_i);
        ``random``: m_i uniform in [-1, 1];
        ``paramagnetic``: m_i = 1e-3 * standard normal.
    rng : numpy.random.Generator
        The point's ``init`` stream.

    Returns
    -------
    ndarray of shape (N,), float64
    """
    N = xi.shape[1]
    if init == "retrieval":
        return np.where(xi[0] >= 0, 1.0, -1.0)
    if init == "random":
        return rng.uniform(-1.0, 1.0, size=N)
    if init == "paramagnetic":
        return PARAMAGNETIC_AMPLITUDE * rng.standard_normal(N)
    raise ValueError(f"init must be one of {INITS}, got {init!r}")
