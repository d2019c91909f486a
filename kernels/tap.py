"""TAP / AMP iteration of the Hopfield model, batched over temperatures.

The TAP equations (physics.md section c) are

    m_i = tanh(beta h_i),  h_i = sum_mu xi^mu_i m^mu - R(x) m_i + field_i,

with overlaps m^mu = (1/N) sum_j xi^mu_j m_j (diagonal j = i included),
x = beta (1 - q) and R the Onsager reaction term of :mod:`kernels.reaction`
(R = alpha / (1 - x) for i.i.d. patterns, R = 0 for naive mean field).

K temperatures are iterated together, so the two products with the patterns per
step are GEMMs: the state is stored by columns, m of shape (N, K), and a step
costs ``M = xi @ m / N`` (P, K) and ``h = xi.T @ g`` (N, K), about 4 N P K
flops. The rest is numpy's vectorised tanh (numba's scalar tanh is much slower)
and two fused Numba passes over (N, K). Temperatures that finish (converged,
diverged, or stopped as hopeless) leave the active set, which is compacted, so
they cost no further work.

For ``reaction="iid"`` the step is the AMP iteration with time indices,

    c^t = beta (1 - q^t),  g^t = (M^t - c^t g^{t-1}) / (1 - c^t),  g^0 = M^0,
    h^t = xi^T g^t - alpha m^t / (1 - c^t) + field,

which has the same fixed points as the plain form and converges much faster
near T_g. Every other reaction uses the plain fixed-point form above. The update
is damped, m^{t+1} = (1 - d) tanh(beta h^t) + d m^t. In AMP the Onsager term then
uses the damped average gbar^t = (1 - d) g^t + d gbar^{t-1} in place of g^{t-1}:

    g^t = (M^t - c^t gbar^{t-1}) / (1 - c^t),

because a damped m^t responds to the whole field history with exactly these
weights. Keeping c^t g^{t-1} with a damped m breaks the cancellation of the
self-feedback and the g recursion (factor -c/(1 - c)) blows up for c > 1/2: in
the paramagnet at T = 1.2, alpha = 0.02, d = 0.5 the linearised iteration has
spectral radius 3.4 that way, 0.85 with gbar (0.71 undamped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ._checks import (
    DTYPES,
    MAX_ITER,
    TOL_FLOOR_EPS,
    check_beta,
    check_field,
    check_iteration,
    check_patterns,
    check_start,
)
from .initial import initial_state
from .reaction import IIDReaction, SiteSpectralReaction, make_reaction
from .solution import CONVERGED, DIVERGED, NOT_CONVERGED, Solution, status_code

#: Early stop of hopeless temperatures. Progress is measured at checkpoints
#: t = STAGNATION_FIRST_CHECK * 2^k on the mean of log(residual) over each window
#: between checkpoints (robust both to a residual that dips close to zero now
#: and then while oscillating, which fooled a window minimum, and to single
#: large steps). From the descent of that level between the last two windows
#: (per iteration, between window centres) the iteration at which ``tol`` would
#: be reached is projected, at STAGNATION_SPEEDUP times the observed rate. A
#: temperature is stopped as NOT_CONVERGED when STAGNATION_STRIKES checkpoints
#: (not necessarily consecutive) find ``tol`` out of reach within ``max_iter``
#: (no descent counts as never). Steady slow convergence (critical slowing down
#: near T_M) has a constant rate and is never stopped if its budget suffices; a
#: single bad window (a transient, e.g. leaving the ghost of a lost retrieval
#: state before converging elsewhere) is forgiven; a residual that fluctuates at
#: one level (spin-glass region, near T_g) is stopped at the second or third
#: checkpoint, after 128 or 256 iterations. What it cannot foresee is a long
#: chaotic transient that eventually falls into a fixed point: at N = 1000 (1128
#: grid points, alpha 0.01-0.14, T 0.05-1.2, from the pattern; also float32 and
#: damping 0 or 0.8) no converging point was lost and iterations fell 4-6x; at
#: N = 3000 one spin-glass point of 282 (alpha = 0.08, T = 1.075, converging
#: after 700 iterations of wandering) was stopped.
STAGNATION_FIRST_CHECK = 32
STAGNATION_SPEEDUP = 2.0
STAGNATION_STRIKES = 2

#: AMP only: a temperature whose hidden means g exceed this many times their
#: fixed-point bound max_mu (1/N) sum_j |xi^mu_j| is DIVERGED (the g recursion
#: grows geometrically once the Onsager cancellation fails, e.g. under the
#: transient guard in the spin-glass region; stopping here saves the hundreds of
#: iterations it takes to overflow).
AMP_DIVERGENCE_FACTOR = 100.0

#: Absolute accuracy of the quadrature of R(x) in the free energy of a
#: reaction without a closed form.
FREE_ENERGY_QUAD_EPS = 1e-10


@dataclass
class _Active:
    """State of the temperatures still iterating, one column each.

    ``rows`` maps active column a to the output row (temperature index); ``m``
    is (N, k) and ``gbar`` (P, k), C-contiguous; the rest are (k,), ``q_sum``
    being sum_i m_i^2 = N q of the current m (float64).
    """

    rows: np.ndarray
    beta: np.ndarray
    m: np.ndarray
    q_sum: np.ndarray
    gbar: np.ndarray
    level_previous: np.ndarray
    log_sum: np.ndarray
    strikes: np.ndarray

    def keep(self, mask: np.ndarray) -> None:
        """Drop the columns where ``mask`` is False (contiguous copies for BLAS)."""
        for name in (
            "rows",
            "beta",
            "m",
            "q_sum",
            "gbar",
            "level_previous",
            "log_sum",
            "strikes",
        ):
            value = getattr(self, name)
            setattr(self, name, np.ascontiguousarray(value[..., mask]))


def _view(flat: np.ndarray, rows: int, k: int) -> np.ndarray:
    """The first rows * k entries of a flat scratch buffer as a contiguous (rows, k) array."""
    return flat[: rows * k].reshape(rows, k)


@numba.njit(cache=True, error_model="numpy")
def _subtract_reaction(h, m, c):
    """h[n, k] -= c[k] m[n, k] in place; h, m (N, k), c (k,).

    One fused pass: the numpy broadcast multiply over (N, k) with k ~ 32 runs
    short inner loops and cost 4x a plain subtraction.
    """
    N, K = h.shape
    for n in range(N):
        for k in range(K):
            h[n, k] -= c[k] * m[n, k]


@numba.njit(cache=True, error_model="numpy")
def _damped_update(m, new, damping, residual, q_sum):
    """m <- m + (1 - d)(new - m) in place, with per-column statistics.

    Writes residual[k] = max_n |new - m| (before the (1 - d) factor) and
    q_sum[k] = sum_n m_new[n, k]^2 (float64 accumulator), both (k,): one pass
    instead of five numpy passes and two axis-0 reductions (short inner loops
    at k ~ 32). A NaN in ``new`` makes q_sum NaN.
    """
    N, K = m.shape
    residual[:] = 0.0
    q_sum[:] = 0.0
    step = 1.0 - damping
    for n in range(N):
        for k in range(K):
            d = new[n, k] - m[n, k]
            residual[k] = max(residual[k], abs(d))
            v = m[n, k] + step * d
            m[n, k] = v
            q_sum[k] += v * v


@numba.njit(cache=True, error_model="numpy")
def _amp_hidden(xi_m, inv_N, gbar, x, beta, damping, first, scaled, g_max):
    """AMP hidden means from the product xi_m = xi @ m, in one pass.

    With M = xi_m / N: g = M on the first step, else g = (M - x gbar) / (1 - x);
    then gbar <- d gbar + (1 - d) g, scaled[mu] = beta g[mu] (the factor of the
    second GEMM) and g_max[k] = max_mu |g|. xi_m, gbar (P, k); scaled (>= P, k);
    x, beta, g_max (k,). Replaces a dozen numpy calls on small arrays.
    """
    P, K = xi_m.shape
    g_max[:] = 0.0
    keep = damping
    step = 1.0 - damping
    for mu in range(P):
        for k in range(K):
            M = xi_m[mu, k] * inv_N
            g = M if first else (M - x[k] * gbar[mu, k]) / (1.0 - x[k])
            gbar[mu, k] = keep * gbar[mu, k] + step * g
            scaled[mu, k] = beta[k] * g
            g_max[k] = max(g_max[k], abs(g))


def solve(
    xi: np.ndarray,
    beta: np.ndarray | float,
    m0: np.ndarray | None = None,
    *,
    field: np.ndarray | None = None,
    reaction="iid",
    damping: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = MAX_ITER,
    dtype: str = "float64",
    early_stop: bool = True,
) -> Solution:
    """Iterate the TAP equations at K temperatures at once.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns, ±1 or real-valued (correlated models).
    beta : float or ndarray of shape (K,)
        Inverse temperatures, finite and > 0.
    m0 : None or ndarray of shape (N,) or (K, N), default=None
        Initial magnetizations in [-1, 1]; None starts on pattern 0,
        m_i = sign(xi^0_i).
    field : None or ndarray of shape (N,), default=None
        External fields h_i (a field along pattern 0 is ``h * xi[0]``).
    reaction : {"iid", "spectral", "spectral_site", "none"} or reaction object, default="iid"
        Onsager term, built by :func:`kernels.reaction.make_reaction`; ``"none"``
        is naive mean field; ``"spectral_site"`` treats the self-coupling J_ii
        of each site exactly (real-valued patterns). A prebuilt reaction (callable ``R(x)`` with
        ``x_max`` and ``valid``) is used as given.
    damping : float, default=0.5
        d in m <- (1 - d) tanh(beta h) + d m, in [0, 1).
    tol : float, default=1e-8
        Convergence threshold on max_i |m_i^{t+1} - m_i^t|; raised to at least
        ``TOL_FLOOR_EPS`` machine epsilons of ``dtype``.
    max_iter : int, default=MAX_ITER (2000)
        Iteration budget per temperature.
    dtype : {"float32", "float64"}, default="float64"
        Floating type of the iteration. Outputs are float64.
    early_stop : bool, default=True
        Stop temperatures whose residual stagnates (see ``STAGNATION_*``).

    Returns
    -------
    Solution
        ``m`` (K, N), ``overlap`` (K, P), ``q`` (K,), ``free_energy`` (K,) per
        neuron in units of J (NaN where DIVERGED, e.g. outside the domain of
        the reaction),
        ``iterations`` (K,) (their sum is the total work in iterations),
        ``residual`` (K,) and ``status`` (K,): CONVERGED; NOT_CONVERGED when the
        budget ran out or the temperature was stopped as hopeless; DIVERGED when
        the iterate became non-finite, the AMP hidden means ran away (see
        ``AMP_DIVERGENCE_FACTOR``), or the final x = beta (1 - q) lies outside
        the domain of the reaction or beyond its transient guard ``x_max`` (the
        state then solves the guarded, not the TAP, equations; e.g. m = 0 below
        T = 1). A diverging temperature never affects the others.
    """
    xi, beta, m_start, field = _validated(xi, beta, m0, field, damping, tol, max_iter, dtype)
    if isinstance(reaction, str):
        reaction = make_reaction(reaction, xi)
    tol = max(float(tol), TOL_FLOOR_EPS * float(np.finfo(dtype).eps))
    with np.errstate(all="ignore"):
        m, iterations, residual, status = _iterate(
            xi.astype(dtype),
            beta,
            m_start.astype(dtype),
            None if field is None else field.astype(dtype),
            reaction,
            damping,
            tol,
            max_iter,
            early_stop,
        )
        overlap = m @ xi.T / xi.shape[1]
        q = np.einsum("kn,kn->k", m, m) / xi.shape[1]
        x = beta * (1.0 - q)
        outside = ~np.asarray(reaction.valid(x), dtype=bool) | (x > reaction.x_max)
        status[(status == CONVERGED) & outside] = DIVERGED
        # a diverged iterate is no TAP state: it has no free energy (as in BP)
        free_energy = np.where(
            status == DIVERGED, np.nan, free_energy_tap(xi, beta, m, reaction, field)
        )
    return Solution(
        m=m,
        overlap=overlap,
        q=q,
        free_energy=free_energy,
        iterations=iterations,
        residual=residual,
        status=status,
    )


def _iterate(xi, beta, m_start, field, reaction, damping, tol, max_iter, early_stop):
    """Damped TAP / AMP iteration with a compacted active set.

    The state is stored by columns, m of shape (N, k) for the k active
    temperatures: both products, xi @ m (P, k) and [xi; field]^T @ [beta g; beta]
    (N, k), are then GEMMs with contiguous operands, which ran 1.3x faster than
    the row layout at k = 32 (tall-skinny OpenBLAS kernels).

    Returns m (K, N) float64, iterations (K,) int64, residual (K,) float64 and
    status (K,) int8 (CONVERGED, NOT_CONVERGED or DIVERGED, before the final
    domain check of :func:`solve`).
    """
    P, N = xi.shape
    K = beta.shape[0]
    dtype = xi.dtype
    amp = isinstance(reaction, IIDReaction)
    # per-site reaction: R_i(x) = J_ii + [R(x) - R(0)], the J_ii part as an (N, 1) column
    self_coupling = (
        reaction.self_coupling.astype(dtype)[:, None]
        if isinstance(reaction, SiteSpectralReaction)
        else None
    )
    m_out = np.empty((K, N))
    iterations = np.zeros(K, dtype=np.int64)
    residual = np.full(K, np.nan)
    status = np.full(K, NOT_CONVERGED, dtype=np.int8)

    act = _Active(
        rows=np.arange(K),
        beta=beta.astype(dtype),
        m=np.array(np.broadcast_to(m_start, (K, N)).T, dtype=dtype, order="C"),
        q_sum=np.zeros(K),
        gbar=np.zeros((P, K), dtype=dtype),
        level_previous=np.full(K, np.nan),
        log_sum=np.zeros(K),
        strikes=np.zeros(K, dtype=np.int64),
    )
    # beta h = [xi; field]^T @ [beta g; beta] - beta R m: the field rides in the
    # second GEMM as one more pattern row, and beta is folded into the (P, k) factor
    xi_field_t = np.ascontiguousarray((xi if field is None else np.vstack([xi, field])).T)
    n_rows = xi_field_t.shape[1]
    M, scaled = np.empty(P * K, dtype=dtype), np.empty(n_rows * K, dtype=dtype)
    h = np.empty(N * K, dtype=dtype)
    res, g_max = np.empty(K), np.empty(K)
    act.q_sum[:] = np.einsum("nk,nk->k", act.m, act.m, dtype=np.float64)
    # |M^mu| <= (1/N) sum_j |xi^mu_j| bounds the hidden means g at any fixed point
    g_limit = AMP_DIVERGENCE_FACTOR * np.abs(xi).mean(axis=1).max()
    windows = _Windows(next_check=STAGNATION_FIRST_CHECK)

    for t in range(1, max_iter + 1):
        k = act.rows.shape[0]
        m, gbar, beta_k = act.m, act.gbar, act.beta
        Mk, sk = _view(M, P, k), _view(scaled, n_rows, k)
        hk, res_k, g_max_k = _view(h, N, k), res[:k], g_max[:k]
        np.matmul(xi, m, out=Mk)
        x = np.minimum(beta_k * (1.0 - act.q_sum / N), reaction.x_max).astype(dtype)
        if amp:
            # g^t = (M^t - c^t gbar^{t-1}) / (1 - c^t), g^0 = M^0; gbar is the damped
            # average of the g's, the field history the damped m^t responds to
            _amp_hidden(
                Mk, dtype.type(1.0 / N), gbar, x, beta_k, dtype.type(damping), t == 1, sk, g_max_k
            )
            r = reaction.alpha / (1.0 - x)
        else:
            Mk *= 1.0 / N
            np.multiply(Mk, beta_k, out=sk[:P])
            r = np.asarray(_column_reaction(reaction, x), dtype=dtype)
        if field is not None:
            sk[P] = beta_k
        np.matmul(xi_field_t, sk, out=hk)
        _subtract_reaction(hk, m, (r * beta_k).astype(dtype))
        if self_coupling is not None:
            hk -= self_coupling * m * beta_k
        np.tanh(hk, out=hk)
        _damped_update(m, hk, dtype.type(damping), res_k, act.q_sum)
        res_k *= 1.0 - damping

        diverged = ~np.isfinite(act.q_sum)
        if amp:
            diverged |= g_max_k > g_limit
        converged = res_k < tol
        done = diverged | converged
        if early_stop:
            act.log_sum += np.log(res_k)
            if t == windows.next_check:
                done |= _hopeless(act, windows, tol, max_iter) & ~done
        if t == max_iter:
            done[:] = True
        if done.any():
            rows = act.rows[done]
            m_out[rows] = m[:, done].T
            iterations[rows] = t
            residual[rows] = res_k[done]
            status[rows] = status_code(diverged[done], converged[done])
            if done.all():
                break
            act.keep(~done)
    return m_out, iterations, residual, status


@dataclass
class _Windows:
    """Checkpoints of the early stop, shared by all temperatures (same clock)."""

    next_check: int
    start: int = 0
    centre_previous: float = np.nan


def _hopeless(act: _Active, windows: _Windows, tol: float, max_iter: int) -> np.ndarray:
    """Checkpoint of the early stop (see ``STAGNATION_*``).

    The level of the window just ended is its mean log residual, placed at the
    window centre; its descent from the previous window's level gives a rate,
    and the projected iteration of reaching ``tol`` (at ``STAGNATION_SPEEDUP``
    times that rate) is compared with ``max_iter``. Counts the checkpoints that
    find ``tol`` out of reach and returns the rows with ``STAGNATION_STRIKES``
    of them; starts the next window.
    """
    t = windows.next_check
    level = act.log_sum / (t - windows.start)
    centre = 0.5 * (t + windows.start)
    rate = (act.level_previous - level) / (centre - windows.centre_previous)
    # NaN at the first checkpoint (no previous window): not counted
    finish = centre + (level - np.log(tol)) / (STAGNATION_SPEEDUP * np.maximum(rate, 0.0))
    out_of_reach = ~np.isnan(act.level_previous) & ~(finish <= max_iter)
    act.strikes += out_of_reach
    act.level_previous = level
    act.log_sum = np.zeros_like(level)
    windows.start, windows.centre_previous, windows.next_check = t, centre, 2 * t
    return act.strikes >= STAGNATION_STRIKES


def _column_reaction(reaction, x: np.ndarray) -> np.ndarray:
    """The part of the reaction term common to all sites, for x of shape (k,).

    R(x) itself, or R(x) - R(0) for a per-site reaction, whose site-dependent
    self-coupling J_ii the caller subtracts separately.
    """
    if isinstance(reaction, SiteSpectralReaction):
        return reaction.response(x)
    return reaction(x)


def free_energy_tap(
    xi: np.ndarray,
    beta: np.ndarray,
    m: np.ndarray,
    reaction,
    field: np.ndarray | None = None,
) -> np.ndarray:
    """TAP free energy per neuron (physics.md section c), J_ii = 0.

    f = -(T/N) sum_i H(m_i) - 1/2 sum_mu (m^mu)^2 + G(q) - (1/N) sum_i field_i m_i,
    with H the binary entropy and G'(q) = R(beta (1 - q)) / 2, normalised by the
    diagonal of the Hamiltonian, G(q = 1) = (1/2N) sum_i J_ii (alpha / 2 for ±1
    patterns): G(q) = G(1) - (T/2) int_0^x R(y) dy with x = beta (1 - q). For
    R = alpha / (1 - x) this is 1/2 alpha q + (alpha T/2) [ln(1 - x) + x].

    Parameters
    ----------
    xi : ndarray of shape (P, N)
    beta : ndarray of shape (K,)
    m : ndarray of shape (K, N)
    reaction : reaction object of :mod:`kernels.reaction`
    field : None or ndarray of shape (N,)

    Returns
    -------
    ndarray of shape (K,), float64
        In units of J; NaN where x is outside the domain of the reaction.
    """
    P, N = xi.shape
    m = np.asarray(m, dtype=np.float64)
    if isinstance(reaction, SiteSpectralReaction):
        # the site-dependent self-coupling replaces the average R(0) in the q term:
        # + (1/2N) sum_i (J_ii - R(0)) m_i^2, whose gradient completes R_i(x) m_i
        spread = reaction.self_coupling - reaction.spectral.alpha
        return free_energy_tap(xi, beta, m, reaction.spectral, field) + (m * m) @ spread / (2 * N)
    T = 1.0 / beta
    overlap = m @ xi.T / N
    q = np.einsum("kn,kn->k", m, m) / N
    x = beta * (1.0 - q)
    valid = np.asarray(reaction.valid(x), dtype=bool)
    plus, minus = (1.0 + m) / 2.0, (1.0 - m) / 2.0
    entropy = -(_xlogx(plus) + _xlogx(minus)).sum(axis=1) / N
    diagonal = np.einsum("pn,pn->", xi, xi) / (2.0 * N * N)
    f = -T * entropy - 0.5 * np.einsum("kp,kp->k", overlap, overlap) + diagonal
    if field is not None:
        f -= m @ field / N
    with np.errstate(all="ignore"):
        f -= 0.5 * T * _reaction_integral(reaction, np.where(valid, x, 0.0))
    return np.where(valid, f, np.nan)


def _xlogx(p: np.ndarray) -> np.ndarray:
    """p ln p elementwise, 0 where p = 0 (numpy only: importing scipy.special for
    xlogy would cost every worker process ~0.3 s)."""
    return p * np.log(p, out=np.zeros_like(p), where=p > 0.0)


def _reaction_integral(reaction, x: np.ndarray) -> np.ndarray:
    """int_0^x R(y) dy for x of shape (K,): closed form for i.i.d., else quadrature."""
    if isinstance(reaction, IIDReaction):
        return -reaction.alpha * np.log1p(-x)
    from scipy.integrate import quad_vec  # here: only non-i.i.d. reactions need scipy

    integral, _ = quad_vec(
        lambda s: x * np.asarray(reaction(x * s), dtype=np.float64),
        0.0,
        1.0,
        epsabs=FREE_ENERGY_QUAD_EPS,
    )
    return integral


def _validated(xi, beta, m0, field, damping, tol, max_iter, dtype):
    """Check the inputs of :func:`solve`; return float64 xi, beta (K,), m0, field."""
    xi = check_patterns(xi)
    beta = check_beta(beta)
    if m0 is None:
        m0 = initial_state(xi, "retrieval", np.random.default_rng(0))
    m0 = check_start(m0, beta.size, xi.shape[1])
    field = check_field(field, xi.shape[1])
    check_iteration(damping, tol, max_iter)
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return xi, beta, m0, field
