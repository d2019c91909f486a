"""TAP / AMP iteration of the Hopfield model, batched over temperatures.

The TAP equations (physics.md section c) are

    m_i = tanh(beta h_i),  h_i = sum_mu xi^mu_i m^mu - R(x) m_i + field_i,

with overlaps m^mu = (1/N) sum_j xi^mu_j m_j (diagonal j = i included),
x = beta (1 - q) and R the Onsager reaction term of :mod:`kernels.reaction`
(R = alpha / (1 - x) for i.i.d. patterns; per-site reactions subtract
[R(x) - R(0) + J_ii] m_i instead). Naive mean field (``reaction="none"``) is
h_i = sum_{j != i} J_ij m_j + field_i: the self-coupling J_ii m_i removed, no
reaction term.

Exit checks (physics.md g). ``residual`` is recomputed at the returned state
from these equations without time indices (:func:`equation_residual`, one
batched step for all K: 0.8 % of a solve on the grid of bench/kernels.py);
CONVERGED needs residual <= RESIDUAL_FACTOR tol and x inside the domain of the
reaction (x < x_e and below the transient guard ``x_max``); a solved state
outside it is INVALID (e.g. the paramagnet between T = 1 and T_g). Starts
outside the domain run a naive-mean-field transient first (``TRANSIENT_START``).

K temperatures are iterated together, so the two products with the patterns per
step are GEMMs: the state is stored by rows, m of shape (K, N), and a step
costs ``M = m @ xi.T / N`` (K, P) and ``h = g @ xi`` (K, N), about 4 N P K
flops. The rest is a vectorised tanh (:mod:`kernels._tanh`; numpy's float64
tanh and Numba's are scalar libm here, numpy's float32 tanh half as fast as
this one), two fused Numba passes over (K, N)
(three with a field) and one over (K, P). Temperatures that finish (converged,
diverged, or stopped as hopeless) leave the active set, which is compacted, so
they cost no further work; when only a few remain (the long tail of a sweep)
the products leave BLAS for :mod:`kernels._products`, which reads the patterns
as int8.

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

This module is over 700 lines because the batched iteration, its fused Numba
bookkeeping, the exit checks (equation residual, domain) and the TAP free
energy must agree on one set of equations and one active-set layout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

from ._checks import (
    MAX_ITER,
    check_beta,
    check_dtype,
    check_field,
    check_iteration,
    check_patterns,
    check_start,
    effective_tol,
)
from ._products import blas_product, fields, int8_exact, overlaps, pattern_copies, runs_here
from ._reproducible import LANES, lane_sum, reproducible
from ._tanh import tanh_inplace
from .initial import initial_state
from .reaction import IIDReaction, NoReaction, SiteSpectralReaction, make_reaction
from .solution import (
    CONVERGED,
    DIVERGED,
    INVALID,
    NOT_CONVERGED,
    RESIDUAL_FACTOR,
    Solution,
    exit_status,
)
from .status import PENDING

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

#: Starts outside the domain. Below T_g (beta >= x_e: the paramagnet is no TAP
#: state), a temperature whose start has x_0 = beta (1 - q_0) >= TRANSIENT_START *
#: x_e (a random or near-zero m0; never the pattern start, q_0 = 1) first runs
#: naive mean field (the step with x = 0:
#: R(0) removes the self-coupling, no memory term) until its step falls below
#: ``tol``, then TAP / AMP from there. AMP from such a start has x > 1 after one
#: step and its memory terms blow up; naive mean field (J_ii = 0) instead relaxes
#: into the basin of a retrieval or mixture state, whose x is small. After the
#: transient such a temperature is stopped as NOT_CONVERGED as soon as x reaches
#: the guard ``x_max`` (spin-glass-like states with x > x_e, typical at alpha >=
#: 0.03 below T = 0.9, are no TAP states; clipping x there makes fake ones).
#: Measured at N = 1000, T = 0.3-0.85, four samples per (alpha, init), from
#: ``random`` and ``paramagnetic`` starts: see ``bench/kernels.py``
#: (random_start) and tests/test_tap.py. Above T_g AMP from any start relaxes to
#: the paramagnet in 20-120 iterations, while naive mean field (unstable at m = 0
#: up to T = 1 + 2 sqrt(alpha)) slows down near its own transition: no transient.
TRANSIENT_START = 0.5

#: Absolute accuracy of the quadrature of R(x) in the free energy of a
#: reaction without a closed form.
FREE_ENERGY_QUAD_EPS = 1e-10


@dataclass
class _Active:
    """State of the temperatures still iterating, one row each.

    ``rows`` maps active row a to the output row (temperature index); ``m``
    is (k, N) and ``gbar`` (k, P), C-contiguous; the rest are (k,), ``q_sum``
    being sum_i m_i^2 = N q of the current m (float64), ``transient`` whether
    the row still runs its naive-mean-field transient and ``started_outside``
    whether it started outside the domain (see ``TRANSIENT_START``).
    """

    rows: np.ndarray
    beta: np.ndarray
    m: np.ndarray
    q_sum: np.ndarray
    gbar: np.ndarray
    level_previous: np.ndarray
    log_sum: np.ndarray
    strikes: np.ndarray
    transient: np.ndarray
    started_outside: np.ndarray

    def keep(self, mask: np.ndarray) -> None:
        """Drop the temperatures where ``mask`` is False (contiguous copies for BLAS)."""
        for name in (
            "rows",
            "beta",
            "m",
            "q_sum",
            "gbar",
            "level_previous",
            "log_sum",
            "strikes",
            "transient",
            "started_outside",
        ):
            value = getattr(self, name)
            setattr(self, name, np.ascontiguousarray(value[mask]))


@dataclass
class _Work:
    """Scratch arrays of :func:`_iterate`, cut to the k active temperatures.

    Flat buffers sized for all K temperatures, viewed as contiguous arrays of k
    rows; :meth:`cut` re-cuts them only when the active set shrinks, so a step
    creates no views or temporaries. ``xi_m`` (k, P) = m @ xi.T; ``scaled``
    (k, P) the left factor of the second product; ``h`` (k, N) the local
    fields, then their tanh; ``x`` and ``r`` (k,) the step's x and reaction in
    the iteration dtype; ``x_raw``, ``residual``, ``g_max`` (k,) float64;
    ``outcome`` (k,) int8.
    """

    width: dict
    flat: dict

    @classmethod
    def allocate(cls, P: int, N: int, K: int, dtype: np.dtype) -> _Work:
        work = cls(
            width={"xi_m": P, "scaled": P, "h": N},
            flat={
                "xi_m": np.empty(P * K, dtype=dtype),
                "scaled": np.empty(P * K, dtype=dtype),
                "h": np.empty(N * K, dtype=dtype),
                "x": np.empty(K, dtype=dtype),
                "r": np.empty(K, dtype=dtype),
                "x_raw": np.empty(K),
                "residual": np.empty(K),
                "g_max": np.empty(K),
                "outcome": np.empty(K, dtype=np.int8),
            },
        )
        work.cut(K)
        return work

    def cut(self, k: int) -> None:
        """View every buffer for k temperatures: (k, width) matrices, (k,) vectors."""
        for name, flat in self.flat.items():
            width = self.width.get(name, 1)
            view = flat[: k * width]
            setattr(self, name, view.reshape(k, width) if name in self.width else view)


@numba.njit(cache=True, error_model="numpy")
def _subtract_reaction(h, m, r, beta):
    """h[k, n] -= r[k] beta[k] m[k, n] in place; h, m (k, N), r, beta (k,).

    One fused pass (a numpy broadcast multiply costs a temporary and two passes).
    """
    K, N = h.shape
    for k in range(K):
        c = r[k] * beta[k]
        for n in range(N):
            h[k, n] -= c * m[k, n]


@numba.njit(cache=True, error_model="numpy")
def _add_field(h, beta, field):
    """h[k, n] += beta[k] field[n] in place; h (k, N), beta (k,), field (N,)."""
    K, N = h.shape
    for k in range(K):
        for n in range(N):
            h[k, n] += beta[k] * field[n]


@numba.njit(cache=True, error_model="numpy")
def _subtract_site_reaction(h, m, r, beta, self_coupling):
    """h[k, n] -= (r[k] beta[k] + beta[k] J_nn) m[k, n] in place.

    h, m (k, N); r, beta (k,); J_nn = self_coupling (N,). The per-site reaction
    (naive mean field, ``spectral_site``) in one fused pass.
    """
    K, N = h.shape
    for k in range(K):
        c = r[k] * beta[k]
        for n in range(N):
            h[k, n] -= (c + beta[k] * self_coupling[n]) * m[k, n]


@numba.njit(cache=True, error_model="numpy")
def _hidden_means(xi_m, N, beta, q_sum, transient, x_max, amp, first, damping, alpha, gbar,
                  x_raw, x, r, scaled, g_max):
    """The per-temperature quantities of a step and the left factor of its second product.

    Per temperature k: x_raw = beta (1 - q_sum / N) (float64) and the step's x
    (the iteration dtype): 0 during the transient, else min(x_raw, x_max); for
    AMP also the reaction r = alpha / (1 - x), computed as
    ``IIDReaction(alpha)(x)`` computes it (alpha a Python float, x in the
    iteration dtype) without its numpy calls (r is not written otherwise).
    Then, with M = xi_m / N, the hidden means g = M (plain form, or first AMP
    step), else g = (M - x gbar) / (1 - x); AMP also updates gbar <- d gbar +
    (1 - d) g. Writes scaled[k, mu] = beta g and g_max[k] = max_mu |g|. xi_m,
    gbar, scaled (k, P); beta, q_sum, transient, x_raw, x, r, g_max (k,). One
    call in place of a dozen numpy calls on (k,) arrays.
    """
    K, P = xi_m.shape
    inv_N = xi_m.dtype.type(1.0 / N)
    keep = gbar.dtype.type(damping)
    step = 1.0 - keep
    memory = amp and not first
    one, alpha_x = x.dtype.type(1.0), x.dtype.type(alpha)
    for k in range(K):
        x_raw[k] = beta[k] * (1.0 - q_sum[k] / N)
        # min(x_raw, x_max) as np.minimum: a NaN x_raw stays NaN
        x[k] = 0.0 if transient[k] else (x_max if x_raw[k] > x_max else x_raw[k])
        if amp:
            r[k] = alpha_x / (one - x[k])
        g_max[k] = 0.0
        for mu in range(P):
            M = xi_m[k, mu] * inv_N
            g = (M - x[k] * gbar[k, mu]) / (1.0 - x[k]) if memory else M
            if amp:
                gbar[k, mu] = keep * gbar[k, mu] + step * g
            scaled[k, mu] = beta[k] * g
            g_max[k] = max(g_max[k], abs(g))


@numba.njit(cache=True, error_model="numpy")
def _largest_mean_magnitude(xi):
    """max_mu (1/N) sum_j |xi[mu, j]| of (P, N) patterns, in one pass without a
    temporary (numpy's abs then mean allocated a copy of the patterns: 0.1 s per
    solve at N = 16000, P = 1600)."""
    P, N = xi.shape
    largest = 0.0
    for mu in range(P):
        total = 0.0
        for j in range(N):
            total += abs(xi[mu, j])
        largest = max(largest, total / N)
    return largest


@numba.njit(cache=True, error_model="numpy")
def _damped_update(m, new, damping, residual, q_sum):
    """m <- m + (1 - d)(new - m) in place, with per-temperature statistics.

    Writes residual[k] = max_n |new - m| (before the (1 - d) factor) and
    q_sum[k] = sum_n m_new[k, n]^2 (float64 accumulator), both (k,); m, new
    (k, N): one pass instead of five numpy passes and two reductions. Both
    reductions run in LANES fixed lanes (as :func:`kernels._reproducible.lane_sum`),
    so the loop vectorises without reassociation. A NaN in ``new`` makes q_sum NaN.
    """
    K, N = m.shape
    step = 1.0 - m.dtype.type(damping)
    n_full = N - N % LANES
    largest = np.empty(LANES)
    total = np.empty(LANES)
    for k in range(K):
        largest[:] = 0.0
        total[:] = 0.0
        for n0 in range(0, n_full, LANES):
            for lane in range(LANES):
                d = new[k, n0 + lane] - m[k, n0 + lane]
                largest[lane] = max(largest[lane], abs(d))
                v = m[k, n0 + lane] + step * d
                m[k, n0 + lane] = v
                total[lane] += v * v
        biggest = largest.max()
        q = lane_sum(total)
        for n in range(n_full, N):
            d = new[k, n] - m[k, n]
            biggest = max(biggest, abs(d))
            v = m[k, n] + step * d
            m[k, n] = v
            q += v * v
        residual[k] = biggest
        q_sum[k] = q


@numba.njit(cache=True, error_model="numpy")
def _update_and_test(m, new, damping, q_sum, residual, g_max, g_limit, x_raw, x_max, tol,
                     transient, started_outside, level_previous, strikes, log_sum, early_stop,
                     outcome):
    """The damped update (:func:`_damped_update`) and the exit tests of a step.

    residual[k] becomes the damped step (1 - d) max_n |new - m|. outcome[k]
    (int8) is DIVERGED where q_sum is not finite or (AMP) g_max > g_limit, else
    CONVERGED where the step is below ``tol`` after the transient, else
    NOT_CONVERGED where a temperature that started outside the domain has,
    after its transient, climbed back to the guard (x_raw >= x_max: it left the
    domain, and is never clipped into a fake fixed point), else PENDING
    (iterating on). A pending temperature whose transient step fell below
    ``tol`` ends its transient (its level_previous becomes NaN and its strikes
    0: a new iteration, no rate across the switch, no strikes from before).
    With ``early_stop``, log_sum[k] += ln residual[k]. All arrays (k,) except
    m, new (k, N); ``g_limit`` is inf for the plain form.

    Returns
    -------
    int
        The number of temperatures whose outcome is not PENDING.
    """
    _damped_update(m, new, damping, residual, q_sum)
    n_done = 0
    for k in range(m.shape[0]):
        residual[k] *= 1.0 - damping
        settled = residual[k] < tol
        if not np.isfinite(q_sum[k]) or g_max[k] > g_limit:
            outcome[k] = DIVERGED
        elif settled and not transient[k]:
            outcome[k] = CONVERGED
        elif started_outside[k] and not transient[k] and x_raw[k] >= x_max:
            outcome[k] = NOT_CONVERGED
        else:
            outcome[k] = PENDING
            if transient[k] and settled:
                transient[k] = False
                level_previous[k] = np.nan
                strikes[k] = 0
        n_done += outcome[k] != PENDING
        if early_stop:
            log_sum[k] += np.log(residual[k])
    return n_done


@reproducible
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
        m_i = sign(xi^0_i). Below T_g a start far from every state (x_0 =
        beta (1 - q_0) >= TRANSIENT_START x_e, e.g. random or near zero) first
        relaxes under naive mean field.
    field : None or ndarray of shape (N,), default=None
        External fields h_i (a field along pattern 0 is ``h * xi[0]``).
    reaction : {"iid", "spectral", "spectral_site", "none"} or reaction object, default="iid"
        Onsager term, built by :func:`kernels.reaction.make_reaction`; ``"none"``
        is naive mean field (J_ii = 0, no reaction term); ``"spectral_site"``
        treats the self-coupling J_ii of each site exactly (real-valued
        patterns). A prebuilt reaction (callable ``R(x)`` with ``edge``,
        ``x_max`` and ``valid``) is used as given.
    damping : float, default=0.5
        d in m <- (1 - d) tanh(beta h) + d m, in [0, 1).
    tol : float, default=1e-8
        Convergence threshold on max_i |m_i^{t+1} - m_i^t|; raised to at least
        ``TOL_FLOOR_EPS`` machine epsilons of ``dtype`` (:func:`kernels._checks.effective_tol`).
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
        neuron in units of J (NaN where DIVERGED or INVALID),
        ``iterations`` (K,) (their sum is the total work in iterations),
        ``residual`` (K,): max_i |m_i - tanh(beta h_i(m))| of the equations
        without time indices at the returned m (R evaluated at x clipped to
        ``x_max``; NaN where the state is not finite), and ``status`` (K,):
        CONVERGED (last step below tol, residual <= RESIDUAL_FACTOR tol, x =
        beta (1 - q) inside the domain of the reaction and below ``x_max``);
        INVALID (solved, but outside: e.g. m = 0 below T_g; free energy NaN);
        NOT_CONVERGED (budget spent, stopped as hopeless, residual missed, or a
        start from outside the domain that climbed back to ``x_max`` after its
        transient); DIVERGED (the iterate became non-finite or the AMP hidden
        means ran away, see ``AMP_DIVERGENCE_FACTOR``; free energy NaN). A
        diverging temperature never affects the others.
    """
    xi, beta, m_start, field = _validated(xi, beta, m0, field, damping, tol, max_iter, dtype)
    if isinstance(reaction, str):
        reaction = make_reaction(reaction, xi)
    tol = effective_tol(tol, dtype)
    with np.errstate(all="ignore"):
        system = _System.build(xi.astype(dtype, copy=False), field, reaction)
        m, iterations, step_status = _iterate(
            system, beta, m_start.astype(dtype), damping, tol, max_iter, early_stop
        )
        residual = equation_residual(system, beta, m)
        _finish_unsolved(system, beta, m, iterations, step_status, residual, damping, tol,
                         max_iter, early_stop)
        overlap = m @ xi.T / xi.shape[1]
        q = np.einsum("kn,kn->k", m, m) / xi.shape[1]
        x = beta * (1.0 - q)
        inside = np.asarray(reaction.valid(x), dtype=bool) & (x < reaction.x_max)
        status = exit_status(step_status, residual, tol, inside)
        # a diverged or invalid state is no TAP state: it has no free energy (as in BP)
        free_energy = np.where(
            (status == DIVERGED) | (status == INVALID),
            np.nan,
            free_energy_tap(xi, beta, m, reaction, field, overlap),
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


@dataclass(frozen=True)
class _System:
    """The equations a solve iterates, in the iteration dtype.

    ``xi`` (P, N), used by both BLAS products (the first as ``xi.T``: a
    transposed float copy doubled the memory the products stream and was not
    faster); ``field`` (N,) or None; ``self_coupling`` (N,) J_ii of a per-site
    reaction, else None; ``amp`` whether the AMP form with time indices is
    iterated.
    """

    xi: np.ndarray
    field: np.ndarray | None
    reaction: object
    self_coupling: np.ndarray | None
    amp: bool

    @classmethod
    def build(cls, xi: np.ndarray, field: np.ndarray | None, reaction) -> _System:
        per_site = isinstance(reaction, (SiteSpectralReaction, NoReaction))
        return cls(
            xi=xi,
            field=None if field is None else field.astype(xi.dtype),
            reaction=reaction,
            self_coupling=reaction.self_coupling.astype(xi.dtype) if per_site else None,
            amp=isinstance(reaction, IIDReaction),
        )

    @functools.cached_property
    def few_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The (P, N) and (N, P) copies the products of a few rows read
        (:mod:`kernels._products`, int8 for ±1 patterns), made on first use: a
        solve that never gets down to a few temperatures needs none (26 ms per
        solve at N = 8000, P = 1100)."""
        return pattern_copies(self.xi, self.xi.dtype, self.int8_patterns)

    @functools.cached_property
    def int8_patterns(self) -> bool:
        """Whether the patterns are ±1 (or 0), which the few-row loops read as int8
        (:func:`kernels._products.int8_exact`), computed on first need: a solve in
        float64 or in BLAS alone never needs it (12 ms at N = 16000, P = 1600)."""
        return int8_exact(self.xi)

    def overlaps(self, m: np.ndarray, out: np.ndarray) -> None:
        """out = m @ xi.T (k, P), unnormalised, for m (k, N): BLAS or the few-row loops."""
        if runs_here(*out.shape, m.shape[1], out.dtype, lambda: self.int8_patterns):
            overlaps(m, self.few_rows[1], out)
        else:
            blas_product(m, self.xi.T, out)

    def local_field(self, scaled: np.ndarray, m: np.ndarray, beta: np.ndarray, r: np.ndarray,
                    out: np.ndarray) -> None:
        """beta h = scaled @ xi + beta field - beta (r + J_ii) m into ``out`` (k, N).

        ``scaled`` (k, P) holds beta g; r (k,) is the part of the reaction
        common to all sites, J_ii only for per-site reactions; m (k, N), beta
        (k,), all in the iteration dtype.
        """
        if runs_here(*scaled.shape, out.shape[1], scaled.dtype, lambda: self.int8_patterns):
            fields(scaled, self.few_rows[0], out)
        else:
            blas_product(scaled, self.xi, out)
        if self.field is not None:
            _add_field(out, beta, self.field)
        if self.self_coupling is None:
            _subtract_reaction(out, m, r, beta)
        else:
            _subtract_site_reaction(out, m, r, beta, self.self_coupling)

    def column_reaction(self, x: np.ndarray) -> np.ndarray:
        """The part of the reaction term common to all sites, for x of shape (k,).

        R(x) itself, or R(x) - R(0) (zero for naive mean field) for a per-site
        reaction, whose self-coupling J_ii ``local_field`` subtracts separately.
        """
        if self.self_coupling is not None:
            return np.asarray(self.reaction.response(x), dtype=self.xi.dtype)
        return np.asarray(self.reaction(x), dtype=self.xi.dtype)


def equation_residual(system: _System, beta: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Residual max_i |m_i - tanh(beta h_i(m))| of the fixed-point equations.

    The time-index-free form of physics.md c, h_i = sum_mu xi^mu_i m^mu -
    R(x) m_i + field_i with x = beta (1 - q) clipped to ``x_max`` (per-site
    reactions: - [R(x) - R(0) + J_ii] m_i), evaluated in the iteration dtype
    with one batched pair of GEMMs (the cost of one step for all K).

    Parameters
    ----------
    system : _System
    beta : ndarray of shape (K,)
    m : ndarray of shape (K, N), float64

    Returns
    -------
    ndarray of shape (K,), float64 (NaN where m is not finite)
    """
    xi = system.xi
    P, N = xi.shape
    dtype = xi.dtype
    m_rows = np.ascontiguousarray(m, dtype=dtype)
    q = np.einsum("kn,kn->k", m_rows, m_rows, dtype=np.float64) / N
    x = np.minimum(beta * (1.0 - q), system.reaction.x_max)
    b = beta.astype(dtype)
    scaled = np.empty((beta.size, P), dtype=dtype)
    np.matmul(m_rows, xi.T, out=scaled)
    scaled *= (b / dtype.type(N))[:, None]
    h = np.empty_like(m_rows)
    system.local_field(scaled, m_rows, b, system.column_reaction(x), h)
    tanh_inplace(h)
    h -= m_rows
    residual = np.abs(h).max(axis=1).astype(np.float64)
    residual[~np.isfinite(q)] = np.nan
    return residual


def _finish_unsolved(system, beta, m, iterations, status, residual, damping, tol, max_iter,
                     early_stop) -> None:
    """Iterate on, in place, the temperatures whose small step left the equations unsolved.

    A damped AMP step below ``tol`` leaves a fixed-point residual of about
    (1 + x / (1 - x)) tol / (1 - d): measured up to 9.5 tol near T_g at N = 1000
    (1 % of the converged points above 7.5 tol). Those temperatures continue
    from their state (memory restarted, no transient) to a step of
    tol / RESIDUAL_FACTOR within their remaining budget, so CONVERGED keeps
    meaning residual <= RESIDUAL_FACTOR tol without costing the others an
    iteration. Updates m, iterations, status and residual (K,) rows in place.
    """
    retry = (status == CONVERGED) & ~(residual <= RESIDUAL_FACTOR * tol)
    retry &= iterations < max_iter
    if not retry.any():
        return
    budget = max_iter - int(iterations[retry].max())
    m_more, more, status_more = _iterate(
        system, beta[retry], m[retry].astype(system.xi.dtype), damping, tol / RESIDUAL_FACTOR,
        max(budget, 1), early_stop, transient=False,
    )
    m[retry], status[retry] = m_more, status_more
    iterations[retry] += more
    residual[retry] = equation_residual(system, beta[retry], m_more)


def _iterate(system, beta, m_start, damping, tol, max_iter, early_stop, transient=True):
    """Damped TAP / AMP iteration with a compacted active set.

    The state is stored by rows, m of shape (k, N) for the k active
    temperatures: both products, m @ xi.T (k, P) and (beta g) @ xi (k, N), are
    then GEMMs on one pattern matrix, called as a numpy user writes them. With
    OpenBLAS 0.3.31's Haswell kernels (AVX2) this pair ran 1.0-1.45x faster than
    the column layout (m (N, k), xi @ m) at N = 2000-8000, k = 1-32, float64 (mixed,
    0.9-1.2x, in float32); the column layout had been faster with the SkylakeX
    (AVX-512) kernels. Below ``kernels._products.FEW_ROWS`` active rows the
    products run in :mod:`kernels._products` instead (``_System.overlaps``,
    ``_System.local_field``). A step is these two products, the tanh and three Numba
    passes (:func:`_hidden_means`, the reaction subtraction,
    :func:`_update_and_test`), with no other numpy call unless a temperature
    finishes or a checkpoint of the early stop is due: the Python overhead
    decides the time of small steps and of the long tail where few temperatures
    are still active. Temperatures that start
    outside the domain run the naive-mean-field transient first (see
    ``TRANSIENT_START``; ``transient=False`` turns this off): x = 0 in the step,
    so g = M and R = R(0).

    Returns m (K, N) float64, iterations (K,) int64 and the iteration's status
    (K,) int8 (CONVERGED: last step below tol; NOT_CONVERGED or DIVERGED), before
    the exit checks of :func:`solve`.
    """
    xi, reaction = system.xi, system.reaction
    P, N = xi.shape
    K = beta.shape[0]
    dtype = xi.dtype
    m_out = np.empty((K, N))
    iterations = np.zeros(K, dtype=np.int64)
    status = np.full(K, NOT_CONVERGED, dtype=np.int8)

    m_rows = np.array(np.broadcast_to(m_start, (K, N)), dtype=dtype, order="C")
    q_sum = np.einsum("kn,kn->k", m_rows, m_rows, dtype=np.float64)
    edge = reaction.edge
    outside = (beta >= edge) & (beta * (1.0 - q_sum / N) >= TRANSIENT_START * edge) & transient
    act = _Active(
        rows=np.arange(K),
        beta=beta.astype(dtype),
        m=m_rows,
        q_sum=q_sum,
        gbar=np.zeros((K, P), dtype=dtype),
        level_previous=np.full(K, np.nan),
        log_sum=np.zeros(K),
        strikes=np.zeros(K, dtype=np.int64),
        transient=outside.copy(),
        started_outside=outside,
    )
    work = _Work.allocate(P, N, K, dtype)
    x_max = reaction.x_max
    alpha = reaction.alpha if system.amp else 0.0  # R(x) = alpha / (1 - x), in _hidden_means
    # |M^mu| <= (1/N) sum_j |xi^mu_j| bounds the hidden means g at any fixed point
    g_limit = AMP_DIVERGENCE_FACTOR * _largest_mean_magnitude(xi) if system.amp else np.inf
    windows = _Windows(next_check=STAGNATION_FIRST_CHECK)

    for t in range(1, max_iter + 1):
        m = act.m
        system.overlaps(m, work.xi_m)
        # g^t = (M^t - c^t gbar^{t-1}) / (1 - c^t), g^0 = M^0 (AMP; gbar is the damped
        # average of the g's, the field history the damped m^t responds to); the
        # transient evaluates the step at x = 0: no memory (g = M), R(0)
        _hidden_means(work.xi_m, N, act.beta, act.q_sum, act.transient, x_max, system.amp,
                      t == 1, damping, alpha, act.gbar, work.x_raw, work.x, work.r, work.scaled,
                      work.g_max)
        r = work.r if system.amp else system.column_reaction(work.x)
        system.local_field(work.scaled, m, act.beta, r, work.h)
        tanh_inplace(work.h)
        n_done = _update_and_test(
            m, work.h, damping, act.q_sum, work.residual, work.g_max, g_limit, work.x_raw,
            x_max, tol, act.transient, act.started_outside, act.level_previous, act.strikes,
            act.log_sum, early_stop, work.outcome,
        )
        outcome = work.outcome
        if early_stop and t == windows.next_check:
            # the transient is judged by its own end (escaping m ~ 0 has long
            # plateaus), the iteration after it by the early stop
            hopeless = _hopeless(act, windows, tol, max_iter)
            stopped = hopeless & (outcome == PENDING) & ~act.transient
            outcome[stopped] = NOT_CONVERGED
            n_done += int(stopped.sum())
        if t == max_iter:
            outcome[outcome == PENDING] = NOT_CONVERGED
            n_done = outcome.size
        if n_done:
            done = outcome != PENDING
            rows = act.rows[done]
            m_out[rows] = m[done]
            iterations[rows] = t
            status[rows] = outcome[done]
            if n_done == outcome.size:
                break
            act.keep(~done)
            work.cut(outcome.size - n_done)
    return m_out, iterations, status


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


def free_energy_tap(
    xi: np.ndarray,
    beta: np.ndarray,
    m: np.ndarray,
    reaction,
    field: np.ndarray | None = None,
    overlap: np.ndarray | None = None,
) -> np.ndarray:
    """TAP free energy per neuron (physics.md section c), J_ii = 0.

    f = -(T/N) sum_i H(m_i) - 1/2 sum_mu (m^mu)^2 + G(q) - (1/N) sum_i field_i m_i,
    with H the binary entropy and G'(q) = R(beta (1 - q)) / 2, normalised by the
    diagonal of the Hamiltonian, G(q = 1) = (1/2N) sum_i J_ii (alpha / 2 for ±1
    patterns): G(q) = G(1) - (T/2) int_0^x R(y) dy with x = beta (1 - q). For
    R = alpha / (1 - x) this is 1/2 alpha q + (alpha T/2) [ln(1 - x) + x].
    Naive mean field (:class:`~kernels.reaction.NoReaction`) has G replaced by
    (1/2N) sum_i J_ii m_i^2 (the diagonal removed from -1/2 sum_mu (m^mu)^2).

    Parameters
    ----------
    xi : ndarray of shape (P, N)
    beta : ndarray of shape (K,)
    m : ndarray of shape (K, N)
    reaction : reaction object of :mod:`kernels.reaction`
    field : None or ndarray of shape (N,)
    overlap : None or ndarray of shape (K, P)
        ``m @ xi.T / N`` when the caller has it already (a solver's output),
        else computed here.

    Returns
    -------
    ndarray of shape (K,), float64
        In units of J; NaN where x is outside the domain of the reaction.
    """
    P, N = xi.shape
    m = np.asarray(m, dtype=np.float64)
    if overlap is None:
        overlap = m @ xi.T / N
    if isinstance(reaction, NoReaction):
        # naive mean field: -(1/2N) sum_{i != j} J_ij m_i m_j = -1/2 sum_mu (m^mu)^2
        # + (1/2N) sum_i J_ii m_i^2, and no reaction part
        f = -_entropy(m) / beta - 0.5 * np.einsum("kp,kp->k", overlap, overlap)
        f += (m * m) @ reaction.self_coupling / (2 * N)
        return f if field is None else f - m @ field / N
    if isinstance(reaction, SiteSpectralReaction):
        # the site-dependent self-coupling replaces the average R(0) in the q term:
        # + (1/2N) sum_i (J_ii - R(0)) m_i^2, whose gradient completes R_i(x) m_i
        spread = reaction.self_coupling - reaction.spectral.alpha
        return (free_energy_tap(xi, beta, m, reaction.spectral, field, overlap)
                + (m * m) @ spread / (2 * N))
    T = 1.0 / beta
    q = np.einsum("kn,kn->k", m, m) / N
    x = beta * (1.0 - q)
    valid = np.asarray(reaction.valid(x), dtype=bool)
    entropy = _entropy(m)
    diagonal = np.einsum("pn,pn->", xi, xi) / (2.0 * N * N)
    f = -T * entropy - 0.5 * np.einsum("kp,kp->k", overlap, overlap) + diagonal
    if field is not None:
        f -= m @ field / N
    with np.errstate(all="ignore"):
        f -= 0.5 * T * _reaction_integral(reaction, np.where(valid, x, 0.0))
    return np.where(valid, f, np.nan)


def _entropy(m: np.ndarray) -> np.ndarray:
    """(1/N) sum_i H(m_i) of (K, N) magnetizations, H the binary entropy."""
    plus, minus = (1.0 + m) / 2.0, (1.0 - m) / 2.0
    return -(_xlogx(plus) + _xlogx(minus)).sum(axis=1) / m.shape[1]


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
    check_dtype(dtype)
    return xi, beta, m0, field
