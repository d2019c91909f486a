"""Belief propagation for the Hopfield model on its bipartite (RBM) graph.

Spins s_i = ±1 talk to one Gaussian hidden unit lambda_mu per pattern through
edge factors exp(beta lambda_mu xi^mu_i s_i / sqrt(N)) (physics.md sections b, d).
The messages are

- spin -> hidden: cavity magnetizations m_{i->mu} = tanh(beta (H_i - u_{mu->i})),
  with the total field H_i = h_i + sum_mu u_{mu->i};
- hidden -> spin: fields u_{mu->i}, either *relaxed* (Gaussian, by the central
  limit theorem), u = xi^mu_i A_{mu->i} / (sqrt(N) (1 - beta V_{mu->i})), with
  A_{mu->i} = sum_{j != i} xi^mu_j m_{j->mu} / sqrt(N) and
  V_{mu->i} = sum_{j != i} (xi^mu_j)^2 (1 - m_{j->mu}^2) / N, or *full*, by
  quadrature over lambda (:mod:`kernels._bp_full`).

With ``retrieved = c`` the hidden unit of the condensed pattern c is treated by
its saddle point: it sends the macroscopic field u_{c->i} = xi^c_i M to every
spin, M = (1/N) sum_j xi^c_j m_j (full magnetizations), and the other patterns
use the messages above. ``retrieved = None`` is the symmetric BP, which cannot
hold a retrieval state at large N: relaxed messages are wrong for a condensed
pattern (such a solved state is INVALID, see "Exit checks"), and full BP lets
cross-talk, not the start, pick which pattern condenses.

Iteration (one temperature at a time, so the memory is one P x N array of
messages whatever K): all messages are updated in parallel from the
previous total fields, damped as u <- (1 - d) u_new + d u_old and
M <- (1 - d) M_new + d M_old (relaxed messages in float64, or float32 with
``dtype="float32"``). The start is consistent: the first hidden update is
undamped, computed from cavity magnetizations m_{i->mu} = m0_i, and so is the
first condensed overlap M = (1/N) xi^c . m0 (physics.md section d). Cavity
magnetizations come from t_i = tanh(beta H_i) by the addition formula where
|beta u_{mu->i}| is small (the vectorised relaxed sweep), and from the fields,
tanh(beta H_i - beta u_{mu->i}), elsewhere and in full BP: near T = 0 both
tanh round to ±1 and the addition formula is 0/0.

Exit checks. The residual of BP's fixed-point equations at a state (messages u,
magnetizations m = tanh(beta H)) is measured by one *undamped* update, u' = F(u)
from the state's cavity magnetizations and M' = (1/N) xi^c . m:

    residual = max_i |tanh(beta (h_i + xi^c_i M' + sum_mu u'_{mu->i})) - m_i|,

(h_i the external field; M' = 0 without ``retrieved``). Once an iteration's step
max_i |m_i^{t+1} - m_i^t| <= tol and max_i |H_i^{t+1} - H_i^t| <= sqrt(tol), the
residual is measured at the new state; the iteration stops there if residual <=
RESIDUAL_FACTOR tol (its free energy is taken before the update), and goes on
from the updated messages otherwise (a step can dip below tol at a turning point
of a slow spiral: alpha = 0.05, N = 1000, T = 1.226, step 8.8e-9 at a residual of
2.3e-7), checking again after 1, 2, 4, ... iterations. A temperature
that stops otherwise has its residual measured at its last state. The reported
``residual`` is always that of the returned state. CONVERGED needs residual
<= RESIDUAL_FACTOR tol (:func:`kernels.solution.exit_status`) and, for relaxed
messages, a state inside the method's domain: x = beta (1 - q) < x_e
(:func:`domain_edge`; 1 / (1 + sqrt(alpha)) for ±1 patterns) and no pattern with
Gaussian messages condensed, |m^mu| <= condensation_threshold(N, P) for every mu
other than ``retrieved`` (N-independent from N ~ 500 on, so a state gets the
same status at every large N). A solved state outside that domain is INVALID,
with no free energy: below T_g the paramagnet m = 0 solves the equations but is
no TAP state, and a condensed pattern's hidden unit is not Gaussian (physics.md
d). DIVERGED is kept for blow-ups (beta V_mu >= 1 during the iteration, or
non-finite values). Near a marginal point the iteration contracts slowly and the
distance to the fixed point can exceed the residual several times (alpha = 0.05,
T = 1.226: |m| = 1.5e-7 at residual 7.7e-9, the fixed point being m = 0).

Bethe free energy per neuron (derived for these messages, with message
normalisation psi_{mu->i}(s) = exp(beta u_{mu->i} s)):

    f = c0 + [M^2 / 2] - (T / N) [ sum_i ln 2 cosh(beta H_i) + sum_mu ln Z_mu
                                   - sum_{i, mu} ln Z_{i mu} ],

with c0 = sum_{mu,i} (xi^mu_i)^2 / (2 N^2) (alpha / 2 for ±1 patterns, the J_ii = 0
constant), ln Z_{i mu} = ln cosh(beta H_i) - ln cosh(beta (H_i - u_{mu->i})) and
the hidden-node term ln Z_mu = ln int dlambda p0(lambda) prod_i chi_{i->mu}(lambda),
p0 = N(0, 1/beta). Relaxed: ln Z_mu = -ln(1 - beta V_mu) / 2 + beta A_mu^2 /
(2 (1 - beta V_mu)); full: by quadrature. The bracket [M^2 / 2] and the sums
without the condensed pattern apply with ``retrieved``, and then the condensed
unit's Gaussian fluctuation around its saddle point adds -ln(1 - beta V_c) / 2 to
the ln Z terms, V_c = (1/N) sum_i (xi^c_i)^2 (1 - m_i^2) (the O(1/N) term that
makes f equal f_TAP exactly at m = 0; NaN if 1 - beta V_c <= 0). At m = 0 this
is the RS paramagnet exactly; at common fixed points it matches f_TAP
(physics.md c) to O(1/N).

This module is over 800 lines because relaxed BP's sweep kernels (rational
tanh, fixed-order and vectorised rows), its retrieval saddle point, exit checks
and Bethe free energy share one message layout; full BP's quadrature lives
apart in :mod:`kernels._bp_full`.
"""

from __future__ import annotations

import math
import operator

import numba
import numpy as np

from . import _bp_full
from ._bp_full import log_cosh
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
from ._reproducible import lane_log_product, lane_sum, reproducible
from .reaction import IIDReaction, SpectralReaction
from .solution import RESIDUAL_FACTOR, Solution, condensation_threshold, exit_status
from .status import CONVERGED, DIVERGED, INVALID, NOT_CONVERGED

__all__ = ["domain_edge", "solve", "tanh_small"]

#: Largest |x| for which :func:`tanh_small` (Cephes rational form) is accurate to
#: machine precision; rows of messages with a larger |beta u| use libm tanh.
TANH_RATIONAL_MAX = 0.625

# Range test of the fast path on z = x^2.
_TANH_Z_MAX = TANH_RATIONAL_MAX * TANH_RATIONAL_MAX

#: 1 / (1 + eps) is summed as the series 1 - eps + ... - eps^7 when eps <= this
#: bound (truncation error eps^8 <= 1e-16), instead of a division per edge.
RECIPROCAL_SERIES_EPS = 0.01

# Cephes tanh: tanh(x) = x + x z P(z) / Q(z), z = x^2, for |x| <= 0.625.
_TANH_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)

#: Stagnation stop: a temperature whose distance to convergence (the larger of
#: residual / tol and field change / sqrt(tol), see ``solve``) has not improved on
#: its best by the factor STAGNATION_FACTOR within STAGNATION_WINDOW iterations
#: stops as NOT_CONVERGED (an oscillating or chaotic iteration).
STAGNATION_WINDOW = 200
STAGNATION_FACTOR = 0.9

# Multiply-adds may be fused (FMA), nothing reassociated: the kernels' bits must
# not depend on which code path (vector or scalar) a loop takes, see
# kernels._reproducible.
_FASTMATH = {"contract"}

#: Rows of at least this many sites take :func:`_sweep_row_vector`, whose running
#: sums LLVM may reassociate into vector partial sums. Its only other code path
#: (the scalar loop behind the runtime alias check, taken when an array it writes
#: starts less than VF x UF entries after one it reads) then cannot run: distinct
#: rows that long never lie that close (VF x UF <= 128 entries on any x86 vector
#: unit), so the order of the sums depends on N and the CPU only, never on where
#: the arrays lie. Shorter rows (where the one-ulp differences were seen, N = 16)
#: take :func:`_sweep_row`, whose sums have a fixed order on every path.
VECTOR_SUM_MIN_N = 256

# The flags of _sweep_row_vector (see VECTOR_SUM_MIN_N).
_FASTMATH_VECTOR_SUMS = {"reassoc", "contract"}


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _tanh_fraction(x):
    """(numerator, denominator) of tanh(x) for |x| <= TANH_RATIONAL_MAX, denominator > 0."""
    z = x * x
    p = (_TANH_P[0] * z + _TANH_P[1]) * z + _TANH_P[2]
    q = ((z + _TANH_Q[0]) * z + _TANH_Q[1]) * z + _TANH_Q[2]
    return x * q + x * z * p, q


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def tanh_small(x: float) -> float:
    """tanh(x) for |x| <= TANH_RATIONAL_MAX, branch-free so loops vectorise.

    Parameters
    ----------
    x : float

    Returns
    -------
    float
        tanh(x) to about one ulp inside the range; meaningless outside it.
    """
    numerator, denominator = _tanh_fraction(x)
    return numerator / denominator


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _cavity_row_libm(xi_row, beta, beta_H, u_row, xm_cav, w_cav):
    """Cavity quantities of one hidden unit with libm tanh, for the rare rows with
    some |beta u_{mu->i}| > TANH_RATIONAL_MAX.

    The cavity magnetization is taken from the fields, m_{i->mu} =
    tanh(beta H_i - beta u_{mu->i}), not from t_i = tanh(beta H_i) by the
    addition formula: once t_i and tanh(beta u_{mu->i}) both round to ±1
    (T -> 0, tiny N) that formula is 0/0.

    Parameters
    ----------
    xi_row, u_row : ndarray of shape (N,)
        Pattern mu and its messages u_{mu->i}.
    beta : float
    beta_H : ndarray of shape (N,), float64
        beta H_i.
    xm_cav, w_cav : ndarray of shape (N,)
        Filled with xi^mu_i m_{i->mu} and (xi^mu_i)^2 (1 - m_{i->mu}^2), in their
        own dtype.

    Returns
    -------
    (float, float)
        Their sums, in float64.
    """
    A = 0.0
    V = 0.0
    for i in range(xi_row.shape[0]):
        xm = xi_row[i] * math.tanh(beta_H[i] - beta * u_row[i])
        w = xi_row[i] * xi_row[i] - xm * xm
        xm_cav[i] = xm
        w_cav[i] = w
        A += xm
        V += w
    return A, V


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _relaxed_bethe_terms(xi, beta, H, u, xm_cav, w_cav):
    """sum_mu ln Z_mu - sum_{i mu} ln Z_{i mu} of the relaxed messages.

    ln Z_mu = -ln(1 - beta V_mu) / 2 + beta A_mu^2 / (2 (1 - beta V_mu)) and
    ln Z_{i mu} = ln(cosh y + m_{i->mu} sinh y), y = beta u_{mu->i}. For
    |y| <= TANH_RATIONAL_MAX, with tau = tanh y, this is ln of the ratio
    r = (1 + m tau)^2 / (1 - tau^2) = (1 - tau^2) / (1 - t tau)^2 halved
    (t = tanh(beta H_i)), r in [0.19, 3.6]: the ratios' logs are summed by
    :func:`kernels._reproducible.lane_log_product` (products of 64 such ratios
    cannot under- or overflow, one log per product). A row
    with a larger |y| is redone with libm (:func:`_cavity_row_libm`), its edges as
    ln cosh(beta H_i) - ln cosh(beta H_i - y). ``u`` may be float32 (the sums are
    float64); ``xm_cav``, ``w_cav`` are float64 work rows of that fallback.
    """
    P, N = xi.shape
    beta_H = beta * H
    t = np.tanh(beta_H)
    s = (1.0 - t) * (1.0 + t)
    ratios = np.empty(N)
    total = 0.0
    for mu in range(P):
        # Fast pass, valid if every |y| <= TANH_RATIONAL_MAX: with tanh y = n / d
        # and r = 1 / (d - t n), m_{i->mu} = (t d - n) r and the edge ratio is
        # (1 - tau^2) / (1 - t tau)^2 = (d - n)(d + n) r^2, which times s_i is also
        # 1 - m_{i->mu}^2: one division per edge; the loop only writes, so it
        # vectorises, and the sums follow in a fixed order.
        outside = False
        for i in range(N):
            y = beta * u[mu, i]
            outside |= abs(y) > TANH_RATIONAL_MAX
            n, d = _tanh_fraction(y)
            r = 1.0 / (d - t[i] * n)
            ratio = ((d - n) * r) * ((d + n) * r)
            xm_cav[i] = xi[mu, i] * ((t[i] * d - n) * r)
            w_cav[i] = xi[mu, i] * xi[mu, i] * s[i] * ratio
            ratios[i] = ratio
        if outside:  # rare: libm cavity magnetizations and ln cosh edges
            A, V = _cavity_row_libm(xi[mu], beta, beta_H, u[mu], xm_cav, w_cav)
            log_edges = 0.0
            for i in range(N):
                y = beta * u[mu, i]
                log_edges += 2.0 * (log_cosh(beta_H[i]) - log_cosh(beta_H[i] - y))
        else:
            A, V = lane_sum(xm_cav), lane_sum(w_cav)
            log_edges = lane_log_product(ratios)
        A /= math.sqrt(N)
        V /= N
        denominator = 1.0 - beta * V
        total += -0.5 * math.log(denominator) + beta * A * A / (2.0 * denominator)
        total -= 0.5 * log_edges
    return total


@numba.njit(error_model="numpy", inline="always")
def _rational_constants(t):
    """TANH_RATIONAL_MAX^2 and the Cephes coefficients p0, p1, p2, q0, q1, q2 in the
    dtype of the array ``t`` (float64, or float32 for dtype="float32")."""
    real = t.dtype.type
    return (
        real(_TANH_Z_MAX),
        real(_TANH_P[0]),
        real(_TANH_P[1]),
        real(_TANH_P[2]),
        real(_TANH_Q[0]),
        real(_TANH_Q[1]),
        real(_TANH_Q[2]),
    )


# Inlined into the numba IR of its callers, so it is compiled with their flags.
@numba.njit(error_model="numpy", inline="always")
def _cavity_edge(xi_i, t_i, y, p0, p1, p2, q0, q1, q2):
    """Cavity quantities of one edge of the relaxed sweep for |y| <= TANH_RATIONAL_MAX.

    With y = beta u_{mu->i}, tanh(y) = n / d (Cephes: z = y^2, n = y (d + z P(z)),
    d = Q(z), coefficients p0..q2 in the arrays' dtype) and t_i = tanh(beta H_i),
    the addition formula gives m_{i->mu} = (t_i d - n) / (d - t_i n). Returns
    (xi_i m_{i->mu}, xi_i^2 - (xi_i m_{i->mu})^2, z); z > TANH_RATIONAL_MAX^2
    marks an edge outside the range.
    """
    z = y * y
    p = (p0 * z + p1) * z + p2
    d = ((z + q0) * z + q1) * z + q2
    n = y * (d + z * p)
    xm = xi_i * ((t_i * d - n) / (d - t_i * n))
    return xm, xi_i * xi_i - xm * xm, z


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _sweep_row(xi_row, beta, t, u_row, xm_cav, w_cav):
    """Cavity quantities of one hidden unit for the relaxed sweep.

    Parameters
    ----------
    xi_row, u_row : ndarray of shape (N,)
        Pattern mu and its messages u_{mu->i}.
    beta : float
        In the arrays' dtype.
    t : ndarray of shape (N,)
        tanh(beta H_i). Its dtype (float64 or float32) sets the arithmetic.
    xm_cav, w_cav : ndarray of shape (N,)
        Filled with xi^mu_i m_{i->mu} and (xi^mu_i)^2 - (xi^mu_i m_{i->mu})^2
        = (xi^mu_i)^2 (1 - m_{i->mu}^2).

    Returns
    -------
    (float, float, bool)
        sum_i xi^mu_i m_{i->mu}, sum_i w_i, and whether some |beta u| exceeds
        TANH_RATIONAL_MAX: the row is then invalid and is redone by
        :func:`_cavity_row_libm`.

    Notes
    -----
    Exact while |beta u| <= TANH_RATIONAL_MAX: tanh(beta u) = n / d
    (Cephes, n = y (d + z P(z)), d = Q(z), z = y^2) and by the addition formula
    m_{i->mu} = (t d - n) / (d - t n), one division per edge. The range test is
    done on z, which the rational form needs anyway. About 20 flops per edge.
    w = xi^2 - x^2 is exact to rounding in
    absolute terms (error ~1e-16 xi^2), which is all V_mu and eps_i need.
    """
    N = xi_row.shape[0]
    z_max, p0, p1, p2, q0, q1, q2 = _rational_constants(t)
    # No running sum here: the loop only writes (and ORs a flag, exact in any
    # order), so it vectorises without reassociation; the sums follow in a fixed
    # order (kernels._reproducible).
    outside = False
    for i in range(N):
        xm, w, z = _cavity_edge(xi_row[i], t[i], beta * u_row[i], p0, p1, p2, q0, q1, q2)
        outside |= z > z_max
        xm_cav[i] = xm
        w_cav[i] = w
    return lane_sum(xm_cav), lane_sum(w_cav), outside


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH_VECTOR_SUMS)
def _sweep_row_vector(xi_row, beta, t, u_row, xm_cav, w_cav):
    """:func:`_sweep_row` with its sums in the loop, vectorised by reassociation:
    for rows of at least VECTOR_SUM_MIN_N sites only (same arguments and results)."""
    N = xi_row.shape[0]
    z_max, p0, p1, p2, q0, q1, q2 = _rational_constants(t)
    A = V = t.dtype.type(0.0)
    outside = False
    for i in range(N):
        xm, w, z = _cavity_edge(xi_row[i], t[i], beta * u_row[i], p0, p1, p2, q0, q1, q2)
        outside |= z > z_max
        xm_cav[i] = xm
        w_cav[i] = w
        A += xm
        V += w
    return A, V, outside


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _relaxed_sweep(xi, xi_sq_max, beta, t, beta_H, u, damping, H_new, xm_cav, w_cav):
    """One parallel update of all relaxed hidden -> spin messages, in place.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns of the non-condensed hidden units, in the iteration dtype.
    xi_sq_max : float
        max (xi^mu_i)^2, bounding the cavity correction of the variance.
    beta : float
    t : ndarray of shape (N,)
        tanh(beta H_i) of the previous total fields (cavity magnetizations are
        m_{i->mu} = tanh(beta H_i - beta u_{mu->i}), by the addition formula).
        Its dtype, float64 or float32, is the iteration dtype: ``xi``, ``u``,
        ``H_new`` and the work rows share it.
    beta_H : ndarray of shape (N,), float64
        beta H_i, for the rows outside the fast path (:func:`_cavity_row_libm`).
    u : ndarray of shape (P, N)
        Messages u_{mu->i}, overwritten by (1 - damping) u_new + damping u.
    damping : float
    H_new : ndarray of shape (N,)
        Overwritten by sum_mu u_{mu->i} of the updated messages.
    xm_cav, w_cav : ndarray of shape (N,)
        Work rows (see :func:`_sweep_row`).

    Returns
    -------
    float
        max_mu beta V_mu; a value >= 1 means the Gaussian hidden unit is not
        normalisable (the sweep stops there and the messages are invalid).

    Notes
    -----
    With x_i = xi^mu_i m_{i->mu} the relaxed message is
    u_new = xi^mu_i (A_mu - x_i / sqrt(N)) / (sqrt(N) D (1 + eps_i)), with
    D = 1 - beta V_mu and eps_i = beta w_i / (N D), so per edge
    (1 - damping) u_new = xi^mu_i (a - b x_i) g(w_i) with the per-pattern
    constants a = (1 - damping) A_mu / (sqrt(N) D), b = (1 - damping) / (N D)
    and g = 1 / (1 + eps) summed as 1 + sum_{k=1..7} (-beta / (N D))^k w^k
    (Horner in w, truncation error eps^8 <= 1e-16) when
    eps <= RECIPROCAL_SERIES_EPS for every edge; else one division per edge.
    The row sums A_mu, V_mu are accumulated in the iteration dtype; the
    per-pattern constants are formed from them in float64 and rounded once to it.
    """
    P, N = xi.shape
    real = t.dtype.type
    inv_sqrt_n = 1.0 / math.sqrt(N)
    inv_n = 1.0 / N
    keep = 1.0 - damping
    beta_r, damping_r, one = real(beta), real(damping), real(1.0)
    H_new[:] = 0.0
    beta_v_max = 0.0
    for mu in range(P):
        if N >= VECTOR_SUM_MIN_N:
            A, V, outside = _sweep_row_vector(xi[mu], beta_r, t, u[mu], xm_cav, w_cav)
        else:
            A, V, outside = _sweep_row(xi[mu], beta_r, t, u[mu], xm_cav, w_cav)
        if outside:  # rare (large |beta u|): redo the row with libm tanh
            A, V = _cavity_row_libm(xi[mu], beta, beta_H, u[mu], xm_cav, w_cav)
        A = float(A) * inv_sqrt_n
        V = float(V) * inv_n
        beta_v = beta * V
        if not beta_v < 1.0:  # also catches NaN
            return beta_v
        beta_v_max = max(beta_v_max, beta_v)
        inv_D = 1.0 / (1.0 - beta_v)
        eps_scale = beta * inv_n * inv_D
        if eps_scale * xi_sq_max <= RECIPROCAL_SERIES_EPS:
            a = real(keep * A * inv_sqrt_n * inv_D)
            b = real(keep * inv_n * inv_D)
            c1 = -eps_scale
            c2 = c1 * c1
            c3 = c2 * c1
            c4 = c2 * c2
            c5 = c4 * c1
            c6 = c3 * c3
            c7 = c6 * c1
            c1, c2, c3, c4 = real(c1), real(c2), real(c3), real(c4)
            c5, c6, c7 = real(c5), real(c6), real(c7)
            for i in range(N):
                x = w_cav[i]
                g = one + x * (c1 + x * (c2 + x * (c3 + x * (c4 + x * (c5 + x * (c6 + x * c7))))))
                u[mu, i] = xi[mu, i] * (a - b * xm_cav[i]) * g + damping_r * u[mu, i]
                H_new[i] += u[mu, i]
        else:
            A_r, V_r = real(A), real(V)
            inv_sqrt_n_r, inv_n_r, keep_r = real(inv_sqrt_n), real(inv_n), real(keep)
            for i in range(N):
                denominator = one - beta_r * (V_r - w_cav[i] * inv_n_r)
                u_new = xi[mu, i] * (A_r - xm_cav[i] * inv_sqrt_n_r) * inv_sqrt_n_r / denominator
                u[mu, i] = keep_r * u_new + damping_r * u[mu, i]
                H_new[i] += u[mu, i]
    return beta_v_max


class _Messages:
    """Hidden -> spin messages of the non-condensed patterns at one temperature."""

    def __init__(self, xi_rest, beta, relaxed, xi_sq_max, xi_iter):
        """``xi_iter`` is ``xi_rest`` in the iteration dtype (float64 or float32)."""
        self.xi = xi_rest
        self.beta = beta
        self.relaxed = relaxed
        P, N = xi_rest.shape
        dtype = xi_iter.dtype
        self.u = np.zeros((P, N), dtype=dtype)
        if relaxed:
            self.xi_iter = xi_iter
            self.xi_sq_max = xi_sq_max
            self.work = (np.empty(N, dtype=dtype), np.empty(N, dtype=dtype))
            # float32: t and H_new are copied through buffers of the iteration dtype.
            self.t = np.empty(N, dtype=dtype) if dtype != np.float64 else None
            self.H_new = np.empty(N, dtype=dtype) if dtype != np.float64 else None
        elif P > 0:
            self.grid = _bp_full.lambda_grid(xi_rest, beta)

    def sweep(
        self,
        t: np.ndarray,
        beta_H: np.ndarray,
        damping: float,
        H_new: np.ndarray,
        u: np.ndarray | None = None,
    ) -> bool:
        """Update the messages u (``self.u`` unless given, shape (P, N)) from
        t = tanh(beta H) and beta H; H_new <- sum_mu u. False if diverged."""
        u = self.u if u is None else u
        if self.xi.shape[0] == 0:
            H_new[:] = 0.0
            return True
        if not self.relaxed:
            return _bp_full.full_sweep(self.xi, self.beta, *self.grid, beta_H, u, damping, H_new)
        t_iter, H_iter = (t, H_new) if self.t is None else (self.t, self.H_new)
        if self.t is not None:
            t_iter[:] = t
        beta_v = _relaxed_sweep(
            self.xi_iter,
            self.xi_sq_max,
            self.beta,
            t_iter,
            beta_H,
            u,
            damping,
            H_iter,
            *self.work,
        )
        if self.H_new is not None:
            H_new[:] = H_iter
        return bool(beta_v < 1.0)

    def bethe_terms(self, H: np.ndarray) -> float:
        """sum_mu ln Z_mu - sum_{i mu} ln Z_{i mu} at total fields H (N,)."""
        if self.xi.shape[0] == 0:
            return 0.0
        if self.relaxed:
            N = self.xi.shape[1]
            return _relaxed_bethe_terms(self.xi, self.beta, H, self.u, np.empty(N), np.empty(N))
        cavity_field = self.beta * (H[None, :] - self.u)
        log_z = _bp_full.log_partition(self.xi, self.beta, *self.grid, cavity_field)
        log_cosh_total = np.logaddexp(self.beta * H, -self.beta * H) - np.log(2.0)
        log_cosh_cavity = np.logaddexp(cavity_field, -cavity_field) - np.log(2.0)
        log_z_edges = self.xi.shape[0] * np.sum(log_cosh_total) - np.sum(log_cosh_cavity)
        return float(np.sum(log_z) - log_z_edges)


def _check_inputs(xi, beta, m0, retrieved, relaxed, field, damping, tol, max_iter):
    """Check the inputs of :func:`solve`; return xi, beta (K,), m0 (K, N), field (N,)
    and retrieved (an int, or None)."""
    xi = np.ascontiguousarray(check_patterns(xi, min_spins=2))
    P, N = xi.shape
    beta = check_beta(beta)
    K = beta.shape[0]
    if retrieved is not None:
        retrieved = _pattern_index(retrieved, P)
    if not isinstance(relaxed, bool | np.bool_):
        raise ValueError(f"relaxed must be True or False, got {relaxed!r}")
    if m0 is None:
        m0 = np.where(xi[0 if retrieved is None else retrieved] >= 0, 1.0, -1.0)
    m0 = np.broadcast_to(check_start(m0, K, N), (K, N))
    field = check_field(np.zeros(N) if field is None else field, N)
    check_iteration(damping, tol, max_iter)
    return xi, beta, m0, field, retrieved


def _pattern_index(retrieved, P: int) -> int:
    """``retrieved`` as an int in [0, P) (Python or numpy integers, 0-d included)."""
    try:
        index = operator.index(retrieved)
    except TypeError:
        index = None
    if index is None or isinstance(retrieved, bool | np.bool_) or not 0 <= index < P:
        raise ValueError(
            f"retrieved must be None or a pattern index in [0, {P}), got {retrieved!r}"
        )
    return index


def _split_patterns(xi: np.ndarray, retrieved: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(xi^c (N,), the other patterns (P - 1, N)); xi^c = 0 without ``retrieved``."""
    if retrieved is None:
        return np.zeros(xi.shape[1]), xi
    return xi[retrieved], np.ascontiguousarray(np.delete(xi, retrieved, axis=0))


# The two helpers of the outer iteration below replace a chain of numpy calls and
# round exactly as those did: no fastmath (no contraction into FMAs).
@numba.njit(cache=True, error_model="numpy")
def _fields(xi_c, M, field, H_new, beta, H, beta_H):
    """H <- (xi^c M + field) + H_new and beta_H <- beta H, in place."""
    for i in range(H.shape[0]):
        h = xi_c[i] * M + field[i]
        h = h + H_new[i]
        H[i] = h
        beta_H[i] = h * beta


@numba.njit(cache=True, error_model="numpy")
def _max_change(new, old):
    """max_i |new_i - old_i|, NaN if any difference is NaN (as ``np.max``)."""
    largest = 0.0
    for i in range(new.shape[0]):
        change = abs(new[i] - old[i])
        if change > largest:
            largest = change
        elif change != change:
            return change
    return largest


def _solve_one(xi_c, rest, c0, beta, m0, relaxed, field, damping, tol, max_iter):
    """Iterate one temperature; returns (m, free_energy, iterations, residual, status).

    xi_c (N,) is the condensed pattern (zeros for the symmetric BP), rest =
    (xi_rest, max xi_rest^2, xi_rest in the iteration dtype) the patterns with
    messages and c0 the J_ii = 0 constant of the free energy.
    """
    N = xi_c.shape[0]
    messages = _Messages(rest[0], beta, relaxed, rest[1], rest[2])
    H_new = np.empty(N)
    H = np.empty(N)
    work = np.empty(N)

    def update_fields(M):
        """H <- field + xi^c M + sum_mu u, beta_H <- beta H and work <- tanh(beta H)."""
        _fields(xi_c, M, field, H_new, beta, H, beta_H)
        np.tanh(beta_H, out=work)

    # Consistent start: undamped first updates from m_{i->mu} = m0_i and M(m0);
    # the start's fields are beta H = artanh(m0) (infinite where |m0_i| = 1).
    M = xi_c @ m0 / N
    with np.errstate(divide="ignore"):
        beta_H = np.arctanh(m0)
    if not messages.sweep(m0, beta_H, 0.0, H_new):
        return m0.copy(), np.nan, 0, np.nan, DIVERGED
    update_fields(M)
    m = work.copy()
    H_old = np.empty(N)
    field_tol = math.sqrt(tol)
    best, best_at = np.inf, 0
    iteration = 0
    failed_checks, next_check = 0, 0

    def free_energy() -> float:
        """Bethe free energy per neuron of the current messages and fields."""
        log_z = np.sum(np.logaddexp(beta_H, -beta_H)) + messages.bethe_terms(H)
        # Gaussian fluctuation of the condensed hidden unit around its saddle
        # point (0 for the symmetric BP, where xi_c = 0); NaN if it is unstable.
        V_c = float(np.sum(xi_c * xi_c * (1.0 - m * m))) / N
        with np.errstate(invalid="ignore"):
            log_z -= 0.5 * np.log(1.0 - beta * V_c)
        return c0 + 0.5 * M * M - log_z / (beta * N)

    def check() -> float:
        """Equation residual at the current state (module docstring, "Exit
        checks"): one undamped update, which leaves the next state in H, beta_H
        and work (m is kept); NaN if it is not normalisable."""
        if not messages.sweep(m, beta_H, 0.0, H_new):
            return np.nan
        update_fields(xi_c @ m / N)
        return _max_change(work, m)

    for iteration in range(1, int(max_iter) + 1):
        if not messages.sweep(m, beta_H, damping, H_new):
            return m, np.nan, iteration, np.nan, DIVERGED
        M = (1.0 - damping) * (xi_c @ m / N) + damping * M
        H_old[:] = H
        update_fields(M)
        step = _max_change(work, m)
        field_change = _max_change(H, H_old)
        if not (math.isfinite(step) and math.isfinite(field_change)):
            return m, np.nan, iteration, np.nan, DIVERGED
        m[:] = work
        if step <= tol and field_change <= field_tol and iteration >= next_check:
            # the free energy first: the check moves the messages on
            f = free_energy()
            residual = check()
            if residual <= RESIDUAL_FACTOR * tol:
                return m, f, iteration, residual, CONVERGED
            # a step that dipped below tol at a turning point: the check's
            # undamped update is the next iteration; check again after 1, 2, 4, ...
            if not math.isfinite(residual):
                return m, np.nan, iteration, np.nan, DIVERGED
            M = xi_c @ m / N
            m[:] = work
            next_check = iteration + (1 << failed_checks)
            failed_checks += 1
        # distance to convergence, in units of tol for both criteria
        progress = max(step, field_change * field_tol)
        if progress < STAGNATION_FACTOR * best:
            best, best_at = progress, iteration
        elif iteration - best_at >= STAGNATION_WINDOW:
            break
    f = free_energy()
    return m, f, iteration, check(), NOT_CONVERGED


@reproducible
def solve(
    xi: np.ndarray,
    beta: float | np.ndarray,
    m0: np.ndarray | None = None,
    *,
    retrieved: int | None = None,
    relaxed: bool = True,
    field: np.ndarray | None = None,
    damping: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = MAX_ITER,
    dtype: str = "float64",
) -> Solution:
    """Belief propagation fixed points, one per inverse temperature.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
        Patterns, ±1; real values (correlated models) and 0 (diluted) accepted.
    beta : float or ndarray of shape (K,)
        Inverse temperatures (units 1/J), > 0.
    m0 : None or ndarray of shape (N,) or (K, N), values in [-1, 1]
        Start. None: on the retrieved pattern (pattern 0 if ``retrieved`` is
        None), m_i = sign(xi^c_i), as :func:`kernels.tap.solve`.
    retrieved : int or None, default=None
        Index of the condensed pattern, treated by its saddle point (physics.md
        section d); None gives the symmetric BP.
    relaxed : bool, default=True
        Gaussian (relaxed) hidden -> spin messages, O(N P) per sweep; False
        computes them exactly by quadrature over lambda, O(N P G) per sweep with
        G ~ 10^2 nodes (:mod:`kernels._bp_full`): small and moderate N.
    field : None or ndarray of shape (N,), default=None
        External fields h_i (along pattern 0: ``h * xi[0]``).
    damping : float in [0, 1), default=0.5
        Weight of the old messages (and old condensed overlap).
    tol : float, default=1e-8
        The iteration stops once max_i |m_i^{t+1} - m_i^t| <= tol, the total
        fields have settled, max_i |H_i^{t+1} - H_i^t| <= sqrt(tol) (units of J:
        near T = 0 saturated magnetizations can stay put for an iteration while
        the messages still move, and move later), and the equation residual is
        <= RESIDUAL_FACTOR tol (module docstring, "Exit checks").
    max_iter : int, default=MAX_ITER (2000)
        Sweep budget per temperature.
    dtype : {"float64", "float32"}, default="float64"
        Storage and arithmetic of the relaxed messages (the patterns are cast
        once to it; exact for ±1 and 0). "float32" runs the sweep about twice as
        fast and is accurate to about 1e-6 in m (up to 1e-4 near T_g, where the
        iteration slows down and rounding errors add up); ``tol`` is then raised to at least
        32 float32 epsilons (3.8e-6, :func:`kernels._checks.effective_tol`),
        below which the residual is rounding noise. The outer iteration (fields,
        magnetizations, free energy) stays float64. Full BP (``relaxed=False``)
        supports float64 only.

    Returns
    -------
    Solution
        ``m`` (K, N) = tanh(beta H_i); ``overlap`` (K, P); ``q`` (K,);
        ``free_energy`` (K,): Bethe free energy per neuron (units of J) at the
        returned state, NaN where DIVERGED or INVALID; ``iterations``;
        ``residual``: the equation residual at the returned state (module
        docstring, "Exit checks"; NaN where DIVERGED); ``status``: CONVERGED
        (residual <= RESIDUAL_FACTOR tol, inside the domain), INVALID (residual
        met, relaxed messages outside their domain: x >= x_e, or a pattern with
        Gaussian messages condensed; ``best_pattern`` tells which), NOT_CONVERGED
        (budget spent, stagnation, see STAGNATION_WINDOW, or residual missed) or
        DIVERGED (beta V_mu >= 1 or non-finite values; ``m`` is then the last
        finite iterate).

    Raises
    ------
    ValueError
        Naming the argument with the wrong shape or value.
    """
    xi, beta, m0, field, retrieved = _check_inputs(
        xi, beta, m0, retrieved, relaxed, field, damping, tol, max_iter
    )
    dtype = check_dtype(dtype)
    if dtype != "float64":
        if not relaxed:
            raise ValueError(f"dtype={dtype!r} needs relaxed=True (full BP is float64 only)")
        tol = effective_tol(tol, dtype)
    K, N = m0.shape
    m = np.empty((K, N))
    free_energy = np.empty(K)
    iterations = np.empty(K, dtype=np.int64)
    residual = np.empty(K)
    status = np.empty(K, dtype=np.int8)
    xi_c, xi_rest = _split_patterns(xi, retrieved)
    # max (xi^mu_i)^2 over the patterns with messages (bound of the series test).
    xi_sq_max = float(np.max(np.abs(xi_rest), initial=0.0)) ** 2
    rest = (xi_rest, xi_sq_max, np.ascontiguousarray(xi_rest, dtype=dtype))
    c0 = float(np.sum(xi * xi)) / (2.0 * N * N)
    for k in range(K):
        m[k], free_energy[k], iterations[k], residual[k], status[k] = _solve_one(
            xi_c,
            rest,
            c0,
            float(beta[k]),
            m0[k],
            relaxed,
            field,
            damping,
            tol,
            max_iter,
        )
    overlap = m @ xi.T / N
    q = np.mean(m * m, axis=1)
    inside = np.ones(K, dtype=bool)
    if relaxed:
        inside = _relaxed_domain(xi, retrieved, beta, q, overlap)
    status = exit_status(status, residual, tol, inside)
    free_energy[(status == DIVERGED) | (status == INVALID)] = np.nan
    return Solution(
        m=m,
        overlap=overlap,
        q=q,
        free_energy=free_energy,
        iterations=iterations,
        residual=residual,
        status=status,
    )


def domain_edge(xi: np.ndarray) -> float:
    """x_e: relaxed BP (like TAP) has no state at x = beta (1 - q) >= x_e.

    Parameters
    ----------
    xi : ndarray of shape (P, N)

    Returns
    -------
    float
        1 / (1 + sqrt(alpha)), alpha = P / N, for ±1 patterns (the Marchenko-Pastur
        edge, :class:`kernels.reaction.IIDReaction`); otherwise the edge of the
        empirical spectrum of J (:class:`kernels.reaction.SpectralReaction`).
    """
    P, N = xi.shape
    if np.all(np.abs(xi) == 1.0):
        return IIDReaction(alpha=P / N).edge
    return SpectralReaction.from_patterns(xi).edge


def _relaxed_domain(xi, retrieved, beta, q, overlap) -> np.ndarray:
    """Whether each relaxed-BP state (K,) lies in the method's domain: x < x_e
    (:func:`domain_edge`) and no pattern with Gaussian messages condensed
    (|m^mu| <= condensation_threshold(N, P) for every mu != ``retrieved``)."""
    P, N = xi.shape
    gaussian = np.ones(P, dtype=bool)
    if retrieved is not None:
        gaussian[retrieved] = False
    threshold = condensation_threshold(N, P)
    condensed = np.any(np.abs(overlap[:, gaussian]) > threshold, axis=1)
    return (beta * (1.0 - q) < domain_edge(xi)) & ~condensed
