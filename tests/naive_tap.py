"""A slow, obviously right TAP iteration: one temperature, explicit couplings.

Written from physics.md section c in the J_ii = 0 form, independently of
:mod:`kernels.tap` (no AMP, no batching, no active set):

    h_i = sum_{j != i} J_ij m_j - alpha x / (1 - x) m_i + field_i,  x = beta (1 - q),

and naive mean field (``onsager=False``) as the same iteration with the
self-coupling J_ii = alpha put back and no Onsager term.
"""

from __future__ import annotations

import numpy as np


def naive_tap(xi, beta, m0, field=None, *, onsager=True, damping=0.5, tol=1e-12, max_iter=20000):
    """Damped plain fixed-point iteration; returns (m of shape (N,), converged)."""
    P, N = xi.shape
    alpha = P / N
    J = xi.T @ xi / N
    np.fill_diagonal(J, 0.0)
    h_ext = np.zeros(N) if field is None else field
    m = np.array(m0, dtype=float)
    for _ in range(max_iter):
        q = m @ m / N
        x = beta * (1.0 - q)
        self_term = -alpha * x / (1.0 - x) if onsager else alpha
        h = J @ m + self_term * m + h_ext
        new = (1.0 - damping) * np.tanh(beta * h) + damping * m
        change = np.max(np.abs(new - m))
        m = new
        if change < tol:
            return m, True
    return m, False
