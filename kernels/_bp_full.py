"""Full (non-relaxed) BP hidden -> spin messages, by quadrature over lambda.

The message of hidden unit mu to spin i (physics.md section b) is

    psi_{mu->i}(s) ∝ int dlambda exp(-beta lambda^2 / 2 + beta lambda xi^mu_i s / sqrt(N))
                       prod_{j != i} chi_j(lambda),
    chi_j(lambda) = cosh(b_j) + m_{j->mu} sinh(b_j),  b_j = beta lambda xi^mu_j / sqrt(N),

and u_{mu->i} = ln(psi(+1) / psi(-1)) / (2 beta). It is exact for any size of
lambda, so it also describes a condensed pattern (lambda ~ sqrt(N) m); which
pattern condenses is still not up to the start in symmetric BP without a field
(the spins' messages to that unit leave out its own field, so its marginal has
two peaks and cross-talk picks one). The
integral is a trapezoidal sum on a uniform grid (exponentially accurate for
this smooth, fast-decaying integrand), in log space: ln chi_j is summed over j
once per grid node and the own term removed per i.

Grid: since ln chi_j(lambda) <= |b_j| and the integrand's maximum is at least its
value 1 at lambda = 0, the integrand is below exp(-LOG_CUT) outside
|lambda| <= S1 + sqrt(S1^2 + 2 LOG_CUT / beta), S1 = max_mu sum_j |xi^mu_j| / sqrt(N);
the spacing is QUAD_SPACING / sqrt(beta), a fraction of the narrowest width a
hidden marginal can have (its variance is at least 1 / beta, by Cramer-Rao,
since -d^2/dlambda^2 of its log is at most beta).

Cost per sweep O(P N G'), G' = G / COARSE_STRIDE + the fine nodes where the
hidden marginal lives (tens, out of G = 2 L sqrt(beta) / QUAD_SPACING, a few
hundred): one log per (node, edge), no exponential for ±1 and 0 patterns.
Memory O(G + N): the per-edge terms are recomputed in the message loop rather
than stored as (G, N) arrays (G grows like sqrt(beta)). On one core, N = 1000,
P = 50, beta = 2: 0.085 s per sweep. Meant for small and moderate N.

Every term is formed from the cavity fields h_j = beta (H_j - u_{mu->j}), not
from m_{j->mu} = tanh(h_j): near T = 0 the latter round to ±1, and chi_j needs
1 - |m_j| to full relative precision where b_j opposes h_j.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: Integrand values below exp(-LOG_CUT) times its maximum are dropped (grid range).
LOG_CUT = 60.0
#: Every COARSE_STRIDE-th node is evaluated first to locate the support of each
#: hidden marginal; only the fine nodes there are computed (see ``_support``).
COARSE_STRIDE = 8
#: Grid spacing in units of the narrowest hidden-marginal width 1 / sqrt(beta).
#: The trapezoidal error for a Gaussian of width sigma is ~exp(-2 pi^2 sigma^2 / h^2),
#: about 1e-34 here.
QUAD_SPACING = 0.5
#: Rows with some e = exp(-2 |b|) below this (|b| > 345: a condensed pattern at
#: T < ~0.003) take their messages in log space, where the ratios 2 e / D and
#: 2 / D (D = (1 + sigma m) + (1 - sigma m) e) would underflow or overflow.
D_TINY = 1e-300

# FMA contraction only, no reassociation: sums keep their source order on every
# code path (kernels._reproducible).
_FASTMATH = {"contract"}


def lambda_grid(xi: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and log weights for the hidden units of ``xi``.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
    beta : float

    Returns
    -------
    lam : ndarray of shape (G,)
        Nodes lambda_g (the Hubbard-Stratonovich field; lambda ~ sqrt(N) m for a
        condensed pattern). G - 1 is a multiple of COARSE_STRIDE.
    log_weight : ndarray of shape (G,)
        ln(h p0(lambda_g)), p0 = N(0, 1 / beta) the hidden prior, h the spacing.
    """
    N = xi.shape[1]
    s1 = float(np.max(np.sum(np.abs(xi), axis=1))) / math.sqrt(N)
    half_width = s1 + math.sqrt(s1 * s1 + 2.0 * LOG_CUT / beta)
    h = QUAD_SPACING / math.sqrt(beta)
    n_half = COARSE_STRIDE * int(math.ceil(half_width / (h * COARSE_STRIDE)))
    lam = h * np.arange(-n_half, n_half + 1, dtype=np.float64)
    log_weight = math.log(h) + 0.5 * math.log(beta / (2.0 * math.pi)) - 0.5 * beta * lam * lam
    return lam, log_weight


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def log_cosh(x):
    """ln cosh(x) without overflow; +inf for x = ±inf."""
    a = abs(x)
    return a + math.log1p(math.exp(-2.0 * a)) - math.log(2.0)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _log_chi(b, h):
    """ln chi_j = ln(cosh b + tanh(h) sinh b) = ln cosh(b + h) - ln cosh(h), for any
    size of b and of the cavity field h (±inf: a frozen spin, ln chi = b sign(h))."""
    if math.isinf(h):
        return b if h > 0.0 else -b
    return log_cosh(b + h) - log_cosh(h)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _saturation(h_cav, e_h, inv_norm):
    """Per spin of a row: e_h = exp(-2 |h_j|) and inv_norm = 2 / (1 + e_h), from
    which (1 ± |m_j|) = inv_norm (1 or e_h) exactly, however close |m_j| is to 1."""
    for j in range(h_cav.shape[0]):
        e_h[j] = math.exp(-2.0 * abs(h_cav[j]))
        inv_norm[j] = 2.0 / (1.0 + e_h[j])


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _edge(a, e_unit, x, h, e_h, inv_norm):
    """(b, e, D) of one edge at one node: chi_j = e^{|b|} D / 2.

    With b = a xi_j, sigma = sign(b), e = exp(-2 |b|) (``e_unit`` = exp(-2 |a|) for
    xi_j = ±1, 1 for xi_j = 0) and the cavity magnetization m_j = tanh(h_j),
    D = (1 + sigma m) + (1 - sigma m) e. D is formed from h_j, not from m_j: with
    e_h = exp(-2 |h_j|) and inv_norm = 2 / (1 + e_h), D = inv_norm (1 + e_h e)
    where sigma agrees with the sign of h_j and inv_norm (e_h + e) where it does
    not, exact to rounding even where m_j rounds to ±1 (T -> 0) and 1 - sigma m
    would lose all its digits.
    """
    b = a * x
    if x == 1.0 or x == -1.0:
        e = e_unit
    elif x == 0.0:
        e = 1.0
    else:
        e = math.exp(-2.0 * abs(b))
    if (b >= 0.0) == (h >= 0.0):
        return b, e, inv_norm * (1.0 + e_h * e)
    return b, e, inv_norm * (e_h + e)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _log_chi_terms(xi_row, scale, lam, h_cav, e_h, inv_norm, g_lo, g_hi, stride, e_unit, S):
    """Fill e_unit[g] = exp(-2 scale |lambda_g|) and S[g] = sum_j ln chi_j(lambda_g)
    for g in range(g_lo, g_hi, stride) (see :func:`_edge`).

    Returns the number of entries with e < D_TINY (|b| > 345, T -> 0), where the
    messages' ratios 2 e / D and 2 / D may under- or overflow (see
    :func:`_row_messages_log`). Where D < D_TINY as well (|h_j| > 345 too, against
    the sign of b) ln chi_j is summed by :func:`_log_chi` instead of ln D.
    """
    N = xi_row.shape[0]
    n_tiny = 0
    for g in range(g_lo, g_hi, stride):
        a = scale * lam[g]
        e_unit[g] = math.exp(-2.0 * abs(a))
        total = 0.0
        for j in range(N):
            b, e, d = _edge(a, e_unit[g], xi_row[j], h_cav[j], e_h[j], inv_norm[j])
            if e < D_TINY:
                n_tiny += 1
            if d >= D_TINY:
                total += abs(b) + math.log(0.5 * d)
            else:  # only where e < D_TINY as well (D >= e)
                total += _log_chi(b, h_cav[j])
        S[g] = total
    return n_tiny


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _support(xi_row, beta, lam, log_weight, h_cav, work):
    """Fill the work arrays on the window of nodes that carries the integrand.

    ``h_cav`` (N,) are the cavity fields beta (H_j - u_{mu->j}) of the row's spins
    (±inf allowed) and ``work`` the tuple of :func:`_support_work`.

    A coarse pass (every COARSE_STRIDE-th node) brackets the support: between two
    coarse nodes ln(integrand) F exceeds the larger end value by at most
    beta^2 c2 h_c^2 / 8 (F'' <= beta^2 c2, c2 = sum_j xi_j^2 / N, h_c the coarse
    spacing), so intervals whose ends stay LOG_CUT plus that bound below the
    coarse maximum carry less than exp(-LOG_CUT) of the integral and are skipped.

    Returns
    -------
    g_lo, g_hi : int
        The window range(g_lo, g_hi) of fine nodes, filled in e_unit and S.
    n_tiny : int
        Entries of that window with e < D_TINY (see :func:`_log_chi_terms`).
    """
    e_unit, S, e_h, inv_norm = work
    G = lam.shape[0]
    N = xi_row.shape[0]
    scale = beta / math.sqrt(N)
    _saturation(h_cav, e_h, inv_norm)
    _log_chi_terms(xi_row, scale, lam, h_cav, e_h, inv_norm, 0, G, COARSE_STRIDE, e_unit, S)
    F_max = -np.inf
    for g in range(0, G, COARSE_STRIDE):
        F_max = max(F_max, log_weight[g] + S[g])
    h_coarse = COARSE_STRIDE * (lam[1] - lam[0])
    c2 = np.sum(xi_row * xi_row) / N
    threshold = F_max - LOG_CUT - beta * beta * c2 * h_coarse * h_coarse / 8.0
    g_lo, g_hi = G, 0
    for g in range(0, G - COARSE_STRIDE, COARSE_STRIDE):
        right = g + COARSE_STRIDE
        if max(log_weight[g] + S[g], log_weight[right] + S[right]) >= threshold:
            g_lo = min(g_lo, g)
            g_hi = max(g_hi, right + 1)
    n_tiny = _log_chi_terms(xi_row, scale, lam, h_cav, e_h, inv_norm, g_lo, g_hi, 1, e_unit, S)
    return g_lo, g_hi, n_tiny


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _support_work(G, N):
    """Work arrays of :func:`_support`: e_unit and S of shape (G,), e_h and
    inv_norm of shape (N,). Nothing of shape (G, N): G grows like sqrt(beta)."""
    return np.empty(G), np.empty(G), np.empty(N), np.empty(N)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _row_messages(xi_row, beta, lam, log_weight, h_cav, work, u_new):
    """Exact messages u_{mu->i} (N,) of one hidden unit from cavity fields (N,)."""
    N = xi_row.shape[0]
    g_lo, g_hi, n_tiny = _support(xi_row, beta, lam, log_weight, h_cav, work)
    e_unit, S, e_h, inv_norm = work
    if g_hi <= g_lo:
        # no node carries the integrand: the cavity magnetizations are not finite;
        # non-finite messages make full_sweep return False, so the solver reports
        # DIVERGED
        u_new[:] = np.nan
        return
    if n_tiny > 0:  # rare (T -> 0): the ratios below would under- or overflow
        _row_messages_log(xi_row, beta, lam, log_weight, h_cav, S, g_lo, g_hi, u_new)
        return
    scale = beta / math.sqrt(N)
    F = log_weight[g_lo:g_hi] + S[g_lo:g_hi]
    weight = np.exp(F - np.max(F))
    for i in range(N):
        psi_plus = 0.0
        psi_minus = 0.0
        for g in range(g_lo, g_hi):
            b, e, d = _edge(scale * lam[g], e_unit[g], xi_row[i], h_cav[i], e_h[i], inv_norm[i])
            # exp(+-b - ln chi_i) = 2 / D (sign of b) or 2 e / D (opposite sign)
            aligned = 2.0 * weight[g - g_lo] / d
            if b >= 0.0:
                psi_plus += aligned
                psi_minus += aligned * e
            else:
                psi_minus += aligned
                psi_plus += aligned * e
        u_new[i] = (math.log(psi_plus) - math.log(psi_minus)) / (2.0 * beta)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _row_messages_log(xi_row, beta, lam, log_weight, h_cav, S, g_lo, g_hi, u_new):
    """:func:`_row_messages` in log space, on the window range(g_lo, g_hi).

    ln psi_{mu->i}(s) = logsumexp_g [ln w_g + S_g - ln chi_i(lambda_g) + b_i s],
    b_i = beta lambda_g xi_i / sqrt(N), with ln chi_i from :func:`_log_chi`:
    finite wherever the cavity integrand is, at a few exp per (node, edge).
    """
    N = xi_row.shape[0]
    scale = beta / math.sqrt(N)
    n_nodes = g_hi - g_lo
    log_plus = np.empty(n_nodes)
    log_minus = np.empty(n_nodes)
    for i in range(N):
        top_plus = -np.inf
        top_minus = -np.inf
        for k in range(n_nodes):
            g = g_lo + k
            b = scale * lam[g] * xi_row[i]
            cavity = log_weight[g] + S[g] - _log_chi(b, h_cav[i])
            log_plus[k] = cavity + b
            log_minus[k] = cavity - b
            top_plus = max(top_plus, log_plus[k])
            top_minus = max(top_minus, log_minus[k])
        sum_plus = 0.0
        sum_minus = 0.0
        for k in range(n_nodes):
            sum_plus += math.exp(log_plus[k] - top_plus)
            sum_minus += math.exp(log_minus[k] - top_minus)
        u_new[i] = (top_plus - top_minus + math.log(sum_plus) - math.log(sum_minus)) / (2.0 * beta)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _sweep(xi, beta, lam, log_weight, beta_H, u, damping, H_new):
    P, N = xi.shape
    work = _support_work(lam.shape[0], N)
    h_cav = np.empty(N)
    u_new = np.empty(N)
    H_new[:] = 0.0
    for mu in range(P):
        for i in range(N):
            h_cav[i] = beta_H[i] - beta * u[mu, i]
        _row_messages(xi[mu], beta, lam, log_weight, h_cav, work, u_new)
        for i in range(N):
            u[mu, i] = (1.0 - damping) * u_new[i] + damping * u[mu, i]
            H_new[i] += u[mu, i]


def full_sweep(xi, beta, lam, log_weight, beta_H, u, damping, H_new) -> bool:
    """One parallel update of all exact hidden -> spin messages, in place.

    Parameters
    ----------
    xi : ndarray of shape (P, N)
    beta : float
    lam, log_weight : ndarray of shape (G,)
        From :func:`lambda_grid`.
    beta_H : ndarray of shape (N,)
        beta H_i of the previous total fields (may be ±inf). The messages are
        computed from the cavity fields beta (H_i - u_{mu->i}), not from the
        cavity magnetizations, which round to ±1 near T = 0.
    u : ndarray of shape (P, N)
        Messages, overwritten by (1 - damping) u_new + damping u.
    damping : float
    H_new : ndarray of shape (N,)
        Overwritten by sum_mu u_{mu->i}.

    Returns
    -------
    bool
        False if a message is not finite.
    """
    _sweep(xi, beta, lam, log_weight, beta_H, u, damping, H_new)
    return bool(np.all(np.isfinite(H_new)))


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _log_partition(xi, beta, lam, log_weight, h_cav):
    P, N = xi.shape
    work = _support_work(lam.shape[0], N)
    S = work[1]
    out = np.empty(P)
    for mu in range(P):
        g_lo, g_hi, _ = _support(xi[mu], beta, lam, log_weight, h_cav[mu], work)
        if g_hi <= g_lo:  # non-finite cavity fields (see _row_messages)
            out[mu] = np.nan
            continue
        F = log_weight[g_lo:g_hi] + S[g_lo:g_hi]
        F_max = np.max(F)
        out[mu] = F_max + math.log(np.sum(np.exp(F - F_max)))
    return out


def log_partition(xi, beta, lam, log_weight, h_cav) -> np.ndarray:
    """ln Z_mu = ln int dlambda p0(lambda) prod_i chi_{i->mu}(lambda), shape (P,).

    Parameters
    ----------
    xi : ndarray of shape (P, N)
    beta : float
    lam, log_weight : ndarray of shape (G,)
        From :func:`lambda_grid`.
    h_cav : ndarray of shape (P, N)
        Cavity fields beta (H_i - u_{mu->i}) (±inf allowed), whose tanh are the
        cavity magnetizations m_{i->mu}.
    """
    return _log_partition(xi, beta, lam, log_weight, np.ascontiguousarray(h_cav))
