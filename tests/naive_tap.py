"""A slow, obviously right TAP iteration: one temperature, explicit couplings.

Written from physics.md sections c and g in the J_ii = 0 form, independently of
:mod:`kernels.tap` (no AMP, no batching, no active set, no self-coupling
bookkeeping):

    h_i = sum_{j != i} J_ij m_j - alpha x / (1 - x) m_i + field_i,  x = beta (1 - q),

and naive mean field (``onsager=False``) as the same iteration without the
Onsager term, h_i = sum_{j != i} J_ij m_j + field_i.
"""

from __future__ import annotations

import numpy as np


def couplings(xi):
    """J = xi^T xi / N with J_ii = 0, shape (N, N)."""
    J = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(J, 0.0)
    return J


def local_field(xi, beta, m, field=None, *, onsager=True, J=None):
    """h_i of the fixed-point equations at m (N,), J_ii = 0 form (J: ``couplings(xi)``)."""
    P, N = xi.shape
    J = couplings(xi) if J is None else J
    h = J @ m + (0.0 if field is None else field)
    if onsager:
        x = beta * (1.0 - m @ m / N)
        h -= (P / N) * x / (1.0 - x) * m
    return h


def residual(xi, beta, m, field=None, *, onsager=True):
    """max_i |tanh(beta h_i) - m_i|: how far m is from solving the equations."""
    return np.max(np.abs(np.tanh(beta * local_field(xi, beta, m, field, onsager=onsager)) - m))


def naive_tap(xi, beta, m0, field=None, *, onsager=True, damping=0.5, tol=1e-12, max_iter=20000):
    """Damped plain fixed-point iteration; returns (m of shape (N,), converged)."""
    m = np.array(m0, dtype=float)
    J = couplings(xi)
    for _ in range(max_iter):
        h = local_field(xi, beta, m, field, onsager=onsager, J=J)
        new = (1.0 - damping) * np.tanh(beta * h)
        new += damping * m
        change = np.max(np.abs(new - m))
        m = new
        if change < tol:
            return m, True
    return m, False
