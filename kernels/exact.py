"""Exact thermal averages of the Hopfield model by enumeration of all 2^N states.

The energy is that of physics.md section a with J_ii = 0, for any real pattern
matrix xi of shape (P, N) and an optional external field h::

    H(s) = -(1/2) sum_{i != j} J_ij s_i s_j - sum_i h_i s_i,  J_ij = (1/N) sum_mu xi^mu_i xi^mu_j
         = -(1/(2N)) sum_mu (a^mu)^2 + (1/(2N)) sum_mu sum_i (xi^mu_i)^2 - h . s,

with a^mu = sum_i xi^mu_i s_i (for ±1 patterns the constant is P/2). The states
are visited in Gray-code order, so consecutive states differ by one spin and the
P sums a^mu are updated in O(P); no array of 2^N states is ever built. All K
temperatures are accumulated in the same pass, with Boltzmann weights taken
relative to the ground-state energy (found in a first, cheaper pass) so that no
weight overflows.

Cost: 2^N (P + K (N + 1)) operations plus 2^N K exponentials (2^N K P more for
:func:`overlap_second_moment`); measured 3 s at N = 24, P = 3, K = 20 on one
core, about 250 ns per state at K = 20, milliseconds at N <= 16
(bench/bench_references.py).
"""

from __future__ import annotations

import numba
import numpy as np

from ._checks import check_beta, check_field, check_patterns
from ._reproducible import reproducible
from .exact_limits import EXACT_MAX_N
from .solution import CONVERGED, Solution

__all__ = ["EXACT_MAX_N", "magnetizations", "overlap_second_moment", "solve", "validate_inputs"]


def validate_inputs(
    xi: np.ndarray, beta: float | np.ndarray, field: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check and normalise the arguments shared by the reference kernels.

    Parameters
    ----------
    xi : array_like of shape (P, N)
        Patterns, finite real values (±1 for the plain Hopfield model).
    beta : float or array_like of shape (K,)
        Inverse temperatures, finite and >= 0.
    field : None or array_like of shape (N,)
        External fields h_i (a field of strength h along pattern 0 is
        ``h * xi[0]``); None means zero field.

    Returns
    -------
    xi : ndarray of shape (P, N), float64, C-contiguous
    beta : ndarray of shape (K,), float64
    field : ndarray of shape (N,), float64 (zeros when ``field`` is None)

    Raises
    ------
    ValueError
        Naming the offending argument and what it must be.
    """
    xi = np.ascontiguousarray(check_patterns(xi))
    beta = check_beta(beta, allow_zero=True)
    N = xi.shape[1]
    field = np.zeros(N) if field is None else np.ascontiguousarray(field, dtype=np.float64)
    return xi, beta, check_field(field, N)


@numba.njit(cache=True, error_model="numpy")
def _energy(a: np.ndarray, field_dot_s: float, inv_2N: float, diagonal: float) -> float:
    """H(s) from the pattern sums a^mu = sum_i xi^mu_i s_i and h . s."""
    sum_a2 = 0.0
    for mu in range(a.shape[0]):
        sum_a2 += a[mu] * a[mu]
    return -inv_2N * sum_a2 + diagonal - field_dot_s


@numba.njit(cache=True, error_model="numpy")
def _flip_position(t: int) -> int:
    """Spin flipped between Gray codes t - 1 and t: the lowest set bit of t."""
    j = 0
    while (t >> j) & 1 == 0:
        j += 1
    return j


@numba.njit(cache=True, error_model="numpy")
def _enumerate(xi_t, field, diagonal, beta, E_ref, first_pass, with_a2):
    """Stream all 2^N states in Gray-code order.

    With ``first_pass`` it only returns the ground-state energy; otherwise it
    accumulates, for every k, with weights w_k(s) = exp(-beta_k (H(s) - E_ref)),
    Z_k = sum_s w_k(s), S_ki = sum_s w_k(s) s_i and, if ``with_a2``,
    A2_kmu = sum_s w_k(s) (a^mu(s))^2 (else A2 stays zero).

    xi_t has shape (N, P) (one row per spin, so a flip reads one contiguous row).
    Returns (E_min, Z (K,), S (K, N), A2 (K, P)).
    """
    N, P = xi_t.shape
    K = beta.shape[0]
    inv_2N = 0.5 / N
    s = -np.ones(N)
    a = np.zeros(P)
    field_dot_s = 0.0
    for i in range(N):
        field_dot_s -= field[i]
        for mu in range(P):
            a[mu] -= xi_t[i, mu]
    Z = np.zeros(K)
    S = np.zeros((K, N))
    A2 = np.zeros((K, P))
    E_min = np.inf
    for t in range(1 << N):
        if t > 0:
            j = _flip_position(t)
            s[j] = -s[j]
            two_s = 2.0 * s[j]
            field_dot_s += two_s * field[j]
            for mu in range(P):
                a[mu] += two_s * xi_t[j, mu]
        E = _energy(a, field_dot_s, inv_2N, diagonal)
        if first_pass:
            E_min = min(E_min, E)
            continue
        for k in range(K):
            w = np.exp(-beta[k] * (E - E_ref))
            Z[k] += w
            for i in range(N):
                S[k, i] += w * s[i]
            if with_a2:
                for mu in range(P):
                    A2[k, mu] += w * a[mu] * a[mu]
    return E_min, Z, S, A2


def _thermal_sums(xi, beta, field, with_a2=False):
    """Ground energy E0, then Z_k, S_ki and A2_kmu relative to E0 (validated inputs)."""
    N = xi.shape[1]
    if N > EXACT_MAX_N:
        raise ValueError(
            f"exact enumeration needs N <= {EXACT_MAX_N} (2^N states), got N = {N}: "
            "use a smaller N or the 'mc' algorithm"
        )
    xi_t = np.ascontiguousarray(xi.T)
    diagonal = float(np.sum(xi * xi)) / (2.0 * N)
    E0, _, _, _ = _enumerate(xi_t, field, diagonal, beta, 0.0, True, False)
    _, Z, S, A2 = _enumerate(xi_t, field, diagonal, beta, E0, False, with_a2)
    return E0, Z, S, A2


@reproducible
def magnetizations(
    xi: np.ndarray, beta: float | np.ndarray, field: np.ndarray | None = None
) -> np.ndarray:
    """Exact local magnetizations <s_i> at each inverse temperature.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns (±1 or real-valued), N <= 24.
    beta : float or ndarray of shape (K,)
        Inverse temperatures (units 1/J), >= 0.
    field : None or ndarray of shape (N,), default=None
        External fields h_i. At zero field the Z2 symmetry s -> -s makes every
        <s_i> vanish; a field (e.g. ``h * xi[0]``) selects a state.

    Returns
    -------
    ndarray of shape (K, N), float64
        Boltzmann averages <s_i> with weight exp(-beta H(s)).

    Raises
    ------
    ValueError
        If N > 24 or an argument has the wrong shape or values.
    """
    xi, beta, field = validate_inputs(xi, beta, field)
    _, Z, S, _ = _thermal_sums(xi, beta, field)
    return S / Z[:, None]


@reproducible
def solve(
    xi: np.ndarray, beta: float | np.ndarray, field: np.ndarray | None = None
) -> Solution:
    """Exact thermal averages in the :class:`~kernels.solution.Solution` layout.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns (±1 or real-valued), N <= 24.
    beta : float or ndarray of shape (K,)
        Inverse temperatures (units 1/J), >= 0.
    field : None or ndarray of shape (N,), default=None
        External fields h_i.

    Returns
    -------
    Solution
        ``m`` (K, N): exact <s_i>; ``overlap`` (K, P): thermal average of the
        overlap, <m^mu> = (1/N) sum_i xi^mu_i <s_i> (zero at zero field by
        symmetry); ``q`` (K,): (1/N) sum_i <s_i>^2; ``free_energy`` (K,):
        -T ln Z / N per neuron in units of J (the constant of the J_ii = 0
        convention included; at beta = 0 it is -inf, as -T ln Z diverges);
        ``iterations`` 0, ``residual`` 0, ``status`` CONVERGED everywhere;
        no error bars.

    Raises
    ------
    ValueError
        If N > 24 or an argument has the wrong shape or values.
    """
    xi, beta, field = validate_inputs(xi, beta, field)
    N = xi.shape[1]
    K = beta.shape[0]
    E0, Z, S, _ = _thermal_sums(xi, beta, field)
    m = S / Z[:, None]
    with np.errstate(divide="ignore"):
        free_energy = (E0 - np.log(Z) / beta) / N
    return Solution(
        m=m,
        overlap=m @ xi.T / N,
        q=np.mean(m * m, axis=1),
        free_energy=free_energy,
        iterations=np.zeros(K, dtype=np.int64),
        residual=np.zeros(K),
        status=np.full(K, CONVERGED, dtype=np.int8),
    )


@reproducible
def overlap_second_moment(
    xi: np.ndarray, beta: float | np.ndarray, field: np.ndarray | None = None
) -> np.ndarray:
    """Exact thermal second moment of every overlap, <(m^mu)^2>.

    At zero field the Z2 symmetry makes <m^mu> vanish, while sqrt(<(m^mu)^2>)
    measures the size of the overlap (the finite-N analogue of the retrieval
    overlap |m|). Costs an extra K P per state on top of :func:`solve`.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns (±1 or real-valued), N <= 24.
    beta : float or ndarray of shape (K,)
        Inverse temperatures (units 1/J), >= 0.
    field : None or ndarray of shape (N,), default=None
        External fields h_i.

    Returns
    -------
    ndarray of shape (K, P), float64
        <(m^mu(s))^2> with m^mu(s) = (1/N) sum_i xi^mu_i s_i.
    """
    xi, beta, field = validate_inputs(xi, beta, field)
    N = xi.shape[1]
    _, Z, _, A2 = _thermal_sums(xi, beta, field, with_a2=True)
    return A2 / Z[:, None] / N**2
