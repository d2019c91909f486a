"""Heat-bath (Glauber) Monte Carlo of the Hopfield model, the sampling reference.

Same energy as :mod:`kernels.exact` (physics.md section a, J_ii = 0)::

    H(s) = -(1/2) sum_{i != j} J_ij s_i s_j - sum_i h_i s_i,  J_ij = (1/N) sum_mu xi^mu_i xi^mu_j.

A chain keeps the P pattern sums a^mu = sum_j xi^mu_j s_j. The local field of
spin i is then

    h_i = (1/N) sum_mu xi^mu_i a^mu - s_i (1/N) sum_mu (xi^mu_i)^2 + field_i,

(the second term removes the self-coupling J_ii), which costs O(P); the
heat-bath update sets s_i = +1 with probability 1 / (1 + exp(-2 beta h_i)) and
a flip updates the a^mu in O(P). A sweep visits the N spins in order, so one
sweep costs O(N P), never more.

Estimators (K temperatures, C independent chains per temperature, each run for
``n_sweeps`` sweeps of which the first ``n_burn`` are discarded):

- ``m``: <s_i>, the per-chain time averages averaged over chains;
- ``overlap``: (1/N) sum_i xi^mu_i <s_i>, the thermal average of the overlap
  (linear, so the same as the time average of m^mu(s)); ``overlap_err`` is the
  standard error of the C per-chain values;
- ``q``: the two-replica estimator q = mean over chain pairs a < b of
  (1/N) sum_i <s_i>_a <s_i>_b. Unlike (1/N) sum_i <s_i>_a^2, which is biased
  upwards by about (1 - q) / n_eff (n_eff = effective number of independent
  samples), it is unbiased when the chains sample the same state; it can be
  slightly negative when the true q is 0. ``q_err`` is the jackknife error over
  chains (NaN with two chains: one pair leaves nothing to compare). Hence
  ``q`` is not mean(m**2), which carries a bias of order (1 - q) / (C n_eff).

The chains of each temperature start independently (no annealing), so in a
phase with several states the result depends on the start, as it should for a
retrieval reference. Every (temperature, chain) runs on its own generator,
spawned from the caller's ``numpy.random.Generator`` and used inside Numba: the
results are bit-reproducible given that generator.
"""

from __future__ import annotations

import numba
import numpy as np

from .exact import validate_inputs
from .solution import CONVERGED, Solution

__all__ = ["MIN_CHAINS", "chain_averages", "solve"]

#: At least two chains: q and every error bar come from comparing chains.
MIN_CHAINS = 2


@numba.njit(cache=True, error_model="numpy")
def _run_chain(xi_t, self_coupling, field, beta, s, n_sweeps, n_burn, chain_rng):
    """Run one heat-bath chain in place and return its time-averaged spins.

    xi_t (N, P) float64, self_coupling (N,) = J_ii-like sum_mu xi^2 / N,
    field (N,), beta float, s (N,) ±1 start (overwritten by the final state),
    chain_rng numpy Generator. Returns (N,) mean of s over sweeps n_burn .. n_sweeps - 1.
    """
    N, P = xi_t.shape
    inv_N = 1.0 / N
    a = np.zeros(P)
    for i in range(N):
        for mu in range(P):
            a[mu] += xi_t[i, mu] * s[i]
    s_sum = np.zeros(N)
    for sweep in range(n_sweeps):
        for i in range(N):
            h = 0.0
            for mu in range(P):
                h += xi_t[i, mu] * a[mu]
            h = h * inv_N - s[i] * self_coupling[i] + field[i]
            s_new = 1.0 if chain_rng.random() * (1.0 + np.exp(-2.0 * beta * h)) < 1.0 else -1.0
            if s_new != s[i]:
                s[i] = s_new
                two_s = 2.0 * s_new
                for mu in range(P):
                    a[mu] += two_s * xi_t[i, mu]
        if sweep >= n_burn:
            for i in range(N):
                s_sum[i] += s[i]
    return s_sum / (n_sweeps - n_burn)


def _check_run_lengths(n_sweeps: int, n_burn: int | None, n_chains: int) -> int:
    """Validate the run lengths; return n_burn with its default n_sweeps // 2."""
    if int(n_sweeps) != n_sweeps or n_sweeps < 1:
        raise ValueError(f"n_sweeps must be an integer >= 1, got {n_sweeps}")
    if n_burn is None:
        n_burn = n_sweeps // 2
    if int(n_burn) != n_burn or not 0 <= n_burn < n_sweeps:
        raise ValueError(
            f"n_burn must be an integer in [0, n_sweeps) = [0, {n_sweeps}), got {n_burn} "
            "(it is the number of discarded sweeps; leave it None for n_sweeps // 2)"
        )
    if int(n_chains) != n_chains or n_chains < MIN_CHAINS:
        raise ValueError(
            f"n_chains must be an integer >= {MIN_CHAINS}, got {n_chains} "
            "(q and the error bars compare independent chains)"
        )
    return int(n_burn)


def _start_probabilities(m0: np.ndarray | None, K: int, N: int) -> np.ndarray:
    """Probability (K, N) that a chain starts with s_i = +1."""
    if m0 is None:
        return np.full((K, N), 0.5)
    m0 = np.asarray(m0, dtype=np.float64)
    if m0.shape not in ((N,), (K, N)) or not np.all(np.isfinite(m0)):
        raise ValueError(
            f"m0 must be finite with shape (N,) = ({N},) or (K, N) = ({K}, {N}), "
            f"got shape {m0.shape} (for retrieval pass m0 = xi[0])"
        )
    return np.broadcast_to((1.0 + np.clip(m0, -1.0, 1.0)) / 2.0, (K, N))


def chain_averages(
    xi: np.ndarray,
    beta: float | np.ndarray,
    m0: np.ndarray | None = None,
    *,
    field: np.ndarray | None = None,
    n_sweeps: int = 2000,
    n_burn: int | None = None,
    n_chains: int = 4,
    rng: np.random.Generator,
) -> np.ndarray:
    """Time-averaged spins of independent heat-bath chains.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns (±1 or real-valued).
    beta : float or ndarray of shape (K,)
        Inverse temperatures (units 1/J), >= 0.
    m0 : None or ndarray of shape (N,) or (K, N), default=None
        Start: each chain draws s_i = +1 with probability (1 + m0_i) / 2
        (m0 clipped to [-1, 1]), so m0 = xi[0] for ±1 patterns (or sign(xi[0]))
        starts every chain on pattern 0; None starts from random spins.
    field : None or ndarray of shape (N,), default=None
        External fields h_i (``h * xi[0]`` for a field along pattern 0).
    n_sweeps : int, default=2000
        Sweeps per chain (N heat-bath proposals each), burn-in included.
    n_burn : int or None, default=None
        Discarded initial sweeps; None means ``n_sweeps // 2``.
    n_chains : int, default=4
        Independent chains per temperature, at least 2.
    rng : numpy.random.Generator
        Source of the starts and of one spawned generator per chain
        (required, keyword-only).

    Returns
    -------
    ndarray of shape (K, n_chains, N), float64
        Per-chain time averages of s_i over the last ``n_sweeps - n_burn`` sweeps.
    """
    xi, beta, field = validate_inputs(xi, beta, field)
    n_burn = _check_run_lengths(n_sweeps, n_burn, n_chains)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    K = beta.shape[0]
    N = xi.shape[1]
    p_up = _start_probabilities(m0, K, N)
    starts = np.where(rng.random((K, n_chains, N)) < p_up[:, None, :], 1.0, -1.0)
    chain_rngs = rng.spawn(K * n_chains)
    xi_t = np.ascontiguousarray(xi.T)
    self_coupling = np.sum(xi * xi, axis=0) / N
    averages = np.empty((K, n_chains, N))
    for k in range(K):
        for c in range(n_chains):
            averages[k, c] = _run_chain(
                xi_t, self_coupling, field, beta[k], starts[k, c], int(n_sweeps), n_burn,
                chain_rngs[k * n_chains + c],
            )
    return averages


def _replica_q(averages: np.ndarray) -> np.ndarray:
    """Mean over chain pairs a < b of (1/N) sum_i <s_i>_a <s_i>_b; (..., C, N) -> (...)."""
    C, N = averages.shape[-2:]
    total = averages.sum(axis=-2)
    all_pairs = np.sum(total * total, axis=-1) - np.sum(averages * averages, axis=(-2, -1))
    return all_pairs / (N * C * (C - 1))


def solve(
    xi: np.ndarray,
    beta: float | np.ndarray,
    m0: np.ndarray | None = None,
    *,
    field: np.ndarray | None = None,
    n_sweeps: int = 2000,
    n_burn: int | None = None,
    n_chains: int = 4,
    rng: np.random.Generator,
) -> Solution:
    """Monte Carlo thermal averages in the :class:`~kernels.solution.Solution` layout.

    Parameters are those of :func:`chain_averages`.

    Returns
    -------
    Solution
        ``m`` (K, N) chain-averaged <s_i>; ``overlap`` (K, P) and its standard
        error ``overlap_err`` over chains; ``q`` (K,) the two-replica estimator
        and its jackknife error ``q_err`` (see the module docstring);
        ``free_energy`` NaN (not measured); ``iterations`` = n_sweeps;
        ``residual`` NaN; ``status`` CONVERGED (a finished run is a valid
        sample; equilibration is the caller's choice of n_sweeps and n_burn).
    """
    averages = chain_averages(
        xi, beta, m0, field=field, n_sweeps=n_sweeps, n_burn=n_burn, n_chains=n_chains, rng=rng
    )
    xi = np.asarray(xi, dtype=np.float64)
    K, C, N = averages.shape
    chain_overlaps = averages @ xi.T / N
    q = _replica_q(averages)
    if C > MIN_CHAINS:
        leave_one_out = np.stack(
            [_replica_q(np.delete(averages, c, axis=1)) for c in range(C)], axis=1
        )
        q_err = np.sqrt((C - 1) / C * np.sum((leave_one_out - q[:, None]) ** 2, axis=1))
    else:
        q_err = np.full(K, np.nan)
    return Solution(
        m=averages.mean(axis=1),
        overlap=chain_overlaps.mean(axis=1),
        q=q,
        free_energy=np.full(K, np.nan),
        iterations=np.full(K, n_sweeps, dtype=np.int64),
        residual=np.full(K, np.nan),
        status=np.full(K, CONVERGED, dtype=np.int8),
        overlap_err=chain_overlaps.std(axis=1, ddof=1) / np.sqrt(C),
        q_err=q_err,
    )
