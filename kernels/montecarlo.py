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
``n_sweeps`` sweeps of which the first ``n_burn`` are discarded; the remaining
measurement sweeps are split into two halves, A and B):

- ``m``: <s_i>, the per-chain time averages averaged over chains;
- ``overlap``: (1/N) sum_i xi^mu_i <s_i>, the thermal average of the overlap
  (linear, so the same as the time average of m^mu(s)); ``overlap_err`` is the
  standard error of the C per-chain values;
- ``q``: the split-half estimator q = (1/N) sum_i <s_i>_A <s_i>_B per chain,
  averaged over chains, with ``q_err`` the standard error over chains. The
  plain (1/N) sum_i <s_i>^2 of one time average is biased upwards by about
  (1 - q) 2 tau / n (tau: autocorrelation time in sweeps, n: measurement
  sweeps) because each <s_i> carries its own sampling noise; the two halves
  have independent noise, so their product is unbiased up to the correlation
  across the junction of the halves, of order (tau / n)^2. Within one chain it
  is the self-overlap of the state the chain samples (the Edwards-Anderson q
  that TAP and BP compute), also in a phase with many states; in an ergodic
  run it converges to the exact (1/N) sum_i <s_i>^2. Hence ``q`` is not
  mean(m**2), which carries the bias above divided by C (and, in a phase with
  several states, mixes the states of different chains).

The chains of each temperature start independently (no annealing), so in a
phase with several states the result depends on the start, as it should for a
retrieval reference. Every (temperature, chain) runs on its own generator,
spawned from the caller's ``numpy.random.Generator`` and used inside Numba: the
results are bit-reproducible given that generator.
"""

from __future__ import annotations

import numba
import numpy as np

from ._reproducible import reproducible
from .exact import validate_inputs
from .solution import CONVERGED, Solution

__all__ = ["MIN_CHAINS", "chain_averages", "solve"]

#: At least two chains: every error bar comes from the spread between chains.
MIN_CHAINS = 2

#: At least two measurement sweeps: q compares the two halves of the measurement.
MIN_MEASURED_SWEEPS = 2


@numba.njit(cache=True, error_model="numpy")
def _run_chain(xi_t, self_coupling, field, beta, s, n_sweeps, n_burn, chain_rng):
    """Run one heat-bath chain in place and return its two half-run averages.

    xi_t (N, P) float64, self_coupling (N,) = sum_mu (xi^mu_i)^2 / N, field (N,),
    beta float, s (N,) ±1 start (overwritten by the final state), chain_rng a
    numpy Generator. Returns (2, N): the mean of s over the measurement sweeps
    n_burn .. n_split - 1 and n_split .. n_sweeps - 1, n_split = (n_burn + n_sweeps) // 2.
    """
    N, P = xi_t.shape
    inv_N = 1.0 / N
    n_split = (n_burn + n_sweeps) // 2
    a = np.zeros(P)
    for i in range(N):
        for mu in range(P):
            a[mu] += xi_t[i, mu] * s[i]
    s_sum = np.zeros((2, N))
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
            half = 0 if sweep < n_split else 1
            for i in range(N):
                s_sum[half, i] += s[i]
    s_sum[0] /= n_split - n_burn
    s_sum[1] /= n_sweeps - n_split
    return s_sum


def _check_run_lengths(n_sweeps: int, n_burn: int | None, n_chains: int) -> int:
    """Validate the run lengths; return n_burn with its default n_sweeps // 2."""
    if int(n_sweeps) != n_sweeps or n_sweeps < 2 * MIN_MEASURED_SWEEPS:
        raise ValueError(
            f"n_sweeps must be an integer >= {2 * MIN_MEASURED_SWEEPS} (burn-in plus two "
            f"measured halves), got {n_sweeps}"
        )
    if n_burn is None:
        n_burn = n_sweeps // 2
    if int(n_burn) != n_burn or not 0 <= n_burn <= n_sweeps - MIN_MEASURED_SWEEPS:
        raise ValueError(
            f"n_burn must be an integer in [0, n_sweeps - {MIN_MEASURED_SWEEPS}] = "
            f"[0, {n_sweeps - MIN_MEASURED_SWEEPS}], got {n_burn} (it is the number of "
            "discarded sweeps; leave it None for n_sweeps // 2)"
        )
    if int(n_chains) != n_chains or n_chains < MIN_CHAINS:
        raise ValueError(
            f"n_chains must be an integer >= {MIN_CHAINS}, got {n_chains} "
            "(the error bars come from the spread between independent chains)"
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


@reproducible
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
    """Time-averaged spins of independent heat-bath chains, per half of the run.

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
    ndarray of shape (K, n_chains, 2, N), float64
        Per-chain time averages of s_i over the first and the second half of
        the ``n_sweeps - n_burn`` measurement sweeps (the first half has
        ``(n_sweeps - n_burn) // 2`` sweeps, the second the rest).
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
    averages = np.empty((K, n_chains, 2, N))
    for k in range(K):
        for c in range(n_chains):
            averages[k, c] = _run_chain(
                xi_t, self_coupling, field, beta[k], starts[k, c], int(n_sweeps), n_burn,
                chain_rngs[k * n_chains + c],
            )
    return averages


@reproducible
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
        error ``overlap_err`` over chains; ``q`` (K,) the split-half estimator
        and its standard error ``q_err`` over chains (see the module docstring);
        ``free_energy`` NaN (not measured); ``iterations`` = n_sweeps;
        ``residual`` NaN; ``status`` CONVERGED (a finished run is a valid
        sample; equilibration is the caller's choice of n_sweeps and n_burn).
    """
    n_burn = _check_run_lengths(n_sweeps, n_burn, n_chains)
    halves = chain_averages(
        xi, beta, m0, field=field, n_sweeps=n_sweeps, n_burn=n_burn, n_chains=n_chains, rng=rng
    )
    xi = np.asarray(xi, dtype=np.float64)
    K, C, _, N = halves.shape
    first_half = ((n_sweeps - n_burn) // 2) / (n_sweeps - n_burn)
    averages = first_half * halves[:, :, 0] + (1.0 - first_half) * halves[:, :, 1]
    chain_overlaps = averages @ xi.T / N
    chain_q = np.mean(halves[:, :, 0] * halves[:, :, 1], axis=-1)
    return Solution(
        m=averages.mean(axis=1),
        overlap=chain_overlaps.mean(axis=1),
        q=chain_q.mean(axis=1),
        free_energy=np.full(K, np.nan),
        iterations=np.full(K, n_sweeps, dtype=np.int64),
        residual=np.full(K, np.nan),
        status=np.full(K, CONVERGED, dtype=np.int8),
        overlap_err=chain_overlaps.std(axis=1, ddof=1) / np.sqrt(C),
        q_err=chain_q.std(axis=1, ddof=1) / np.sqrt(C),
    )
