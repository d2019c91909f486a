"""Replica-symmetric (Amit-Gutfreund-Sompolinsky) theory of the Hopfield model.

The reference every solver's retrieval overlap and transition lines are checked
against (physics.md section f and "Reference numbers"). One condensed pattern,
z ~ N(0, 1), beta = 1 / T, sigma = sqrt(alpha r), C = beta (1 - q)::

    m = E_z tanh beta (m + sigma z),    q = E_z tanh^2 beta (m + sigma z),
    r = q / (1 - C)^2.

Method
------
A solution is labelled by the noise-to-signal ratio of the local field,
k = sigma / m. At fixed (T, k) the m-equation, m = E_z tanh(beta m (1 + k z)),
is a Curie-Weiss-like equation with a unique positive root (T < 1), solved by a
bracketed Newton iteration; the load then follows in closed form,
``alpha(T, k) = sigma^2 (1 - C)^2 / q``. At fixed T, alpha(T, k) rises from 0
(k = 0, Curie-Weiss) to a single maximum and falls back to 0 (k -> infinity,
C -> 1). The maximum is the critical load alpha_c(T); for alpha < alpha_c(T)
the smaller root k is the stable retrieval state (the larger one is the
unstable saddle that separates it from the spin-glass state). The retrieval
temperature T_M(alpha), where the retrieval branch disappears discontinuously,
is the inverse of alpha_c(T) on its decreasing side. At T = 0 the same
construction uses the T = 0 equations (y = m / sqrt(2 alpha r) = 1 / (sqrt(2) k),
m = erf(y)). The m = 0 branch (spin glass below T_g = 1 + sqrt(alpha),
paramagnet above) is a one-dimensional equation in sigma.

Gaussian averages E_z f(a + b z) use Gauss-Hermite quadrature while the
integrand is smooth on the scale of z (b < ``SPLIT_WIDTH``); for broader fields
the step of tanh (kink of ln 2 cosh) at a + b z = 0 is integrated exactly
(erf, E|x|) and the localized remainder by Gauss-Legendre quadrature on the
half-lines of the field u = a + b z. Both are accurate to ~1e-12.

All public functions take scalars or arrays (broadcast together) and return a
float for scalar input. Everything is in units of J (T, free energy); alpha is
dimensionless.

This module is over 700 lines because every public quantity (m, q, T_M, T_c,
alpha_c, free energies) comes from the same parametrisation by k and the same
Gaussian quadratures; split apart, each piece would import all the others.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import interpolate, special

#: Gauss-Hermite nodes for E_z f(a + b z) when the field is narrow.
HERMITE_NODES = 100
#: Field width b = beta sigma above which the split (erf + remainder) rule is used.
SPLIT_WIDTH = 1.0
#: Gauss-Legendre nodes on each half-line of the field u for the split rule.
LEGENDRE_NODES = 64
#: Cut-off of the field |u| for the localized remainders (e^{-2 U} ~ 4e-18).
FIELD_CUTOFF = 20.0

#: Tolerance on m of the bracketed Newton solve of the m-equation.
NEWTON_TOL = 1e-13
#: Residual |E tanh - m| below which that solve stops (rounding level of the quadrature).
RESIDUAL_TOL = 1e-15
#: Iteration cap of that solve (it converges in ~5-10 steps).
NEWTON_MAX_ITER = 100
#: Absolute tolerance on the bracket of the outer one-dimensional roots (k, sigma, T, alpha).
ROOT_XTOL = 1e-12
#: Iteration cap of those roots (Illinois converges in ~10-20 steps).
ROOT_MAX_ITER = 200
#: Smallest load of the bracket in :func:`stability_line` (retrieval wins below it for T < 1).
STABILITY_LOAD_FLOOR = 1e-6

#: Largest noise-to-signal ratio k scanned for the maximum of alpha(T, k); the
#: maximum lies at k ~ 0.45 for every T < 1.
K_SCAN_MAX = 1.5
#: Points per level and levels of the zooming grid search for that maximum.
K_SCAN_POINTS = 16
K_SCAN_LEVELS = 3

#: Doublings of k that bracket the unstable saddle (alpha(T, k) ~ 1/k^2 for large k).
SADDLE_MAX_DOUBLINGS = 40

#: Temperatures of the cached alpha_c(T) table that T_M(alpha) inverts.
T_TABLE_POINTS = 101

#: Branches of :func:`free_energy`.
BRANCHES = ("retrieval", "spin_glass", "paramagnet")

_SQRT2 = np.sqrt(2.0)
_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)


def _hermite_rule() -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)
    return z, w / np.sqrt(2.0 * np.pi)


def _legendre_rule() -> tuple[np.ndarray, np.ndarray]:
    u, w = np.polynomial.legendre.leggauss(LEGENDRE_NODES)
    return (u + 1.0) * FIELD_CUTOFF / 2.0, w * FIELD_CUTOFF / 2.0


_Z, _WZ = _hermite_rule()
_U, _WU = _legendre_rule()
_E2U = np.exp(-2.0 * _U)
#: tanh(u) - 1, sech^2(u), sech^2 tanh(u), ln(2 cosh u) - u on the half-line u > 0.
_TANH_REM = -2.0 * _E2U / (1.0 + _E2U)
_SECH2 = 4.0 * _E2U / (1.0 + _E2U) ** 2
_SECH2_TANH = _SECH2 * (1.0 - _E2U) / (1.0 + _E2U)
_LOGCOSH_REM = np.log1p(_E2U)


# --------------------------------------------------------------------------- #
# Gaussian averages
# --------------------------------------------------------------------------- #


def _field_density(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Density of u = a + b z at u = +U_j and u = -U_j, shape (n, LEGENDRE_NODES)."""
    a = a[:, None]
    b = b[:, None]
    norm = 1.0 / (b * np.sqrt(2.0 * np.pi))
    plus = norm * np.exp(-0.5 * ((_U - a) / b) ** 2)
    minus = norm * np.exp(-0.5 * ((_U + a) / b) ** 2)
    return plus, minus


def _tanh_moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E tanh(x), E sech^2(x), E sech^2(x) tanh(x) for x = a + b z.

    Parameters
    ----------
    a, b : ndarray of shape (n,)
        Mean and width (b >= 0) of the field in units of T.

    Returns
    -------
    tanh_mean, sech2_mean, sech2_tanh_mean : ndarray of shape (n,)
    """
    tanh_mean = np.empty_like(a)
    sech2_mean = np.empty_like(a)
    sech2_tanh_mean = np.empty_like(a)
    narrow = b < SPLIT_WIDTH
    if narrow.any():
        x = a[narrow, None] + b[narrow, None] * _Z
        t = np.tanh(x)
        s = 1.0 - t * t
        tanh_mean[narrow] = t @ _WZ
        sech2_mean[narrow] = s @ _WZ
        sech2_tanh_mean[narrow] = (s * t) @ _WZ
    broad = ~narrow
    if broad.any():
        ab, bb = a[broad], b[broad]
        plus, minus = _field_density(ab, bb)
        odd = (plus - minus) * _WU
        even = (plus + minus) * _WU
        tanh_mean[broad] = special.erf(ab / (_SQRT2 * bb)) + odd @ _TANH_REM
        sech2_mean[broad] = even @ _SECH2
        sech2_tanh_mean[broad] = odd @ _SECH2_TANH
    return tanh_mean, sech2_mean, sech2_tanh_mean


def _log_cosh_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """E ln(2 cosh(a + b z)), shape (n,) for a, b of shape (n,)."""
    out = np.empty_like(a)
    narrow = b < SPLIT_WIDTH
    if narrow.any():
        x = a[narrow, None] + b[narrow, None] * _Z
        out[narrow] = np.logaddexp(x, -x) @ _WZ
    broad = ~narrow
    if broad.any():
        ab, bb = a[broad], b[broad]
        plus, minus = _field_density(ab, bb)
        out[broad] = _abs_mean(ab, bb) + ((plus + minus) * _WU) @ _LOGCOSH_REM
    return out


def _abs_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """E |a + b z| for b > 0."""
    return b * _SQRT_2_OVER_PI * np.exp(-0.5 * (a / b) ** 2) + a * special.erf(a / (_SQRT2 * b))


# --------------------------------------------------------------------------- #
# Retrieval states along a ray k = sigma / m
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Ray:
    """RS retrieval solution labelled by (T, k); every field has the shape of k."""

    m: np.ndarray
    q: np.ndarray
    C: np.ndarray
    alpha: np.ndarray


def _ray_overlap(beta: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Positive root m of m = E tanh(beta m (1 + k z)) (beta > 1), bracketed Newton.

    Elements stop once their Newton step is below ``NEWTON_TOL`` or their
    residual below ``RESIDUAL_TOL`` (near T = 1 the slope is tiny and the step
    is dominated by rounding).
    """
    beta = np.broadcast_to(beta, k.shape)
    m = np.ones_like(k)
    lo = np.zeros_like(k)
    hi = np.ones_like(k)
    active = np.arange(k.size)
    for _ in range(NEWTON_MAX_ITER):
        ba, ka, ma = beta[active], k[active], m[active]
        b = ba * ka * ma
        tanh_mean, sech2_mean, sech2_tanh_mean = _tanh_moments(ba * ma, b)
        gap = tanh_mean - ma
        above = gap > 0.0
        lo_a = np.where(above, ma, lo[active])
        hi_a = np.where(above, hi[active], ma)
        slope = ba * (sech2_mean - 2.0 * ka * b * sech2_tanh_mean) - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            m_new = ma - gap / slope
        outside = ~((m_new >= lo_a) & (m_new <= hi_a))
        m_new = np.where(outside, 0.5 * (lo_a + hi_a), m_new)
        m[active], lo[active], hi[active] = m_new, lo_a, hi_a
        done = (np.abs(m_new - ma) < NEWTON_TOL) | (np.abs(gap) < RESIDUAL_TOL)
        active = active[~done]
        if active.size == 0:
            break
    return m


def _ray(T: np.ndarray, k: np.ndarray) -> _Ray:
    """Retrieval solution with noise-to-signal ratio k at temperature T (0 <= T < 1).

    T and k broadcast; alpha is -inf where the state is outside the physical
    domain C < 1 (never seen in practice, kept as a guard).
    """
    T, k = np.broadcast_arrays(np.asarray(T, float), np.asarray(k, float))
    shape = T.shape
    T = T.ravel()
    k = k.ravel()
    m = np.empty_like(k)
    q = np.ones_like(k)
    C = np.zeros_like(k)
    hot = T > 0.0
    if hot.any():
        beta = 1.0 / T[hot]
        kh = k[hot]
        mh = _ray_overlap(beta, kh)
        _, sech2_mean, _ = _tanh_moments(beta * mh, beta * kh * mh)
        m[hot] = mh
        q[hot] = 1.0 - sech2_mean
        C[hot] = beta * sech2_mean
    cold = ~hot
    if cold.any():
        kc = k[cold]
        noisy = kc > 0.0
        y = np.full_like(kc, np.inf)
        y[noisy] = 1.0 / (_SQRT2 * kc[noisy])
        mc = special.erf(y)
        Cc = np.zeros_like(kc)
        Cc[noisy] = _SQRT_2_OVER_PI * np.exp(-(y[noisy] ** 2)) / (kc[noisy] * mc[noisy])
        m[cold] = mc
        C[cold] = Cc
    sigma = k * m
    alpha = np.where(C < 1.0, sigma**2 * (1.0 - C) ** 2 / q, -np.inf)
    return _Ray(m.reshape(shape), q.reshape(shape), C.reshape(shape), alpha.reshape(shape))


def _critical_ray(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alpha_c(T) = max_k alpha(T, k) and its argmax k, for T of shape (n,).

    Zooming grid search, then a parabola through the last three grid points.
    alpha_c = 0 (k = 0) for T >= 1.
    """
    T = np.asarray(T, float)
    alpha_c = np.zeros_like(T)
    k_star = np.zeros_like(T)
    ordered = T < 1.0
    if not ordered.any():
        return alpha_c, k_star
    Tr = T[ordered][:, None]
    lo = np.zeros(Tr.shape[0])
    hi = np.full(Tr.shape[0], K_SCAN_MAX)
    rows = np.arange(Tr.shape[0])
    steps = np.linspace(0.0, 1.0, K_SCAN_POINTS)
    for _ in range(K_SCAN_LEVELS):
        grid = lo[:, None] + (hi - lo)[:, None] * steps
        values = _ray(Tr, grid).alpha
        i = np.clip(np.argmax(values, axis=1), 1, K_SCAN_POINTS - 2)
        lo, mid, hi = grid[rows, i - 1], grid[rows, i], grid[rows, i + 1]
        f_lo, f_mid, f_hi = values[rows, i - 1], values[rows, i], values[rows, i + 1]
    h = mid - lo
    curvature = f_hi - 2.0 * f_mid + f_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature < 0.0, 0.5 * h * (f_lo - f_hi) / curvature, 0.0)
    k_best = mid + np.clip(shift, -h, h)
    alpha_c[ordered] = np.maximum(_ray(Tr[:, 0], k_best).alpha, f_mid)
    k_star[ordered] = k_best
    return alpha_c, k_star


def _root(fun, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Roots of an increasing vectorised function, one per element, in [lo, hi].

    ``fun(x, index)`` evaluates the elements ``index`` (integer array into the
    full problem) at ``x`` (same length); fun(lo) <= 0 <= fun(hi) and ``fun`` may
    return -inf / +inf outside its domain. Illinois (modified regula falsi),
    with a bisection step wherever an end value is infinite; the bracket is kept
    at every step and an element stops once its bracket is below ``ROOT_XTOL``.
    """
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    everything = np.arange(lo.size)
    f_lo, f_hi = fun(lo, everything), fun(hi, everything)
    root = np.where(f_lo == 0.0, lo, 0.5 * (lo + hi))
    root = np.where(f_hi == 0.0, hi, root)
    last = np.zeros(lo.shape, dtype=np.int8)
    active = everything[(f_lo != 0.0) & (f_hi != 0.0)]
    for _ in range(ROOT_MAX_ITER):
        if active.size == 0:
            break
        a_lo, a_hi, fa_lo, fa_hi = lo[active], hi[active], f_lo[active], f_hi[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = a_lo - fa_lo * (a_hi - a_lo) / (fa_hi - fa_lo)
        secant = np.isfinite(fa_lo) & np.isfinite(fa_hi) & (x > a_lo) & (x < a_hi)
        x = np.where(secant, x, 0.5 * (a_lo + a_hi))
        fx = fun(x, active)
        positive = fx > 0.0
        exact = fx == 0.0
        a_last = last[active]
        fa_lo = np.where(positive & (a_last == 1), 0.5 * fa_lo, fa_lo)
        fa_hi = np.where(~positive & (a_last == -1), 0.5 * fa_hi, fa_hi)
        hi[active] = np.where(positive | exact, x, a_hi)
        lo[active] = np.where(positive | exact, a_lo, x)
        f_hi[active] = np.where(positive | exact, fx, fa_hi)
        f_lo[active] = np.where(positive | exact, fa_lo, fx)
        last[active] = np.where(positive, 1, -1)
        root[active] = np.where(exact, x, 0.5 * (lo[active] + hi[active]))
        active = active[~exact & (hi[active] - lo[active] >= ROOT_XTOL)]
    return root


def _retrieval_k(alpha: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Stable retrieval k at (alpha, T), NaN where alpha > alpha_c(T) (shape (n,))."""
    temperatures, which = np.unique(T, return_inverse=True)
    alpha_c, k_star = (x[which] for x in _critical_ray(temperatures))
    exists = (alpha <= alpha_c) & (T < 1.0)
    k = np.full_like(alpha, np.nan)
    if exists.any():
        a, t = alpha[exists], T[exists]
        k[exists] = _root(lambda x, i: _ray(t[i], x).alpha - a[i], np.zeros_like(a), k_star[exists])
    return k


# --------------------------------------------------------------------------- #
# The m = 0 branch (spin glass / paramagnet)
# --------------------------------------------------------------------------- #


def _glass_state(alpha: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q, C, sigma) of the m = 0 RS solution, shape (n,) each.

    Spin glass (q > 0) for alpha > 0 and T < T_g = 1 + sqrt(alpha); paramagnet
    (q = sigma = 0, C = beta, or C = 0 at T = 0) otherwise.
    """
    q = np.zeros_like(alpha)
    sigma = np.zeros_like(alpha)
    C = np.zeros_like(alpha)
    hot = T > 0.0
    C[hot] = 1.0 / T[hot]
    glass = (alpha > 0.0) & (T < spin_glass_temperature(alpha))
    cold = glass & ~hot
    sigma[cold] = np.sqrt(alpha[cold]) + _SQRT_2_OVER_PI
    q[cold] = 1.0
    C[cold] = _SQRT_2_OVER_PI / sigma[cold]
    warm = glass & hot
    if warm.any():
        a, beta = alpha[warm], 1.0 / T[warm]

        def excess_load(s, i):
            sech2_mean = _tanh_moments(np.zeros_like(s), beta[i] * s)[1]
            qs, Cs = 1.0 - sech2_mean, beta[i] * sech2_mean
            physical = (Cs < 1.0) & (qs > 0.0)
            load = np.full_like(s, -np.inf)
            load[physical] = s[physical] ** 2 * (1.0 - Cs[physical]) ** 2 / qs[physical]
            return load - a[i]

        # alpha_SG(sigma) <= sigma^2 and C <= sqrt(2/pi)/sigma, so sqrt(alpha) + 1 brackets it.
        s = _root(excess_load, np.zeros_like(a), np.sqrt(a) + 1.0)
        sech2_mean = _tanh_moments(np.zeros_like(s), beta * s)[1]
        sigma[warm] = s
        q[warm] = 1.0 - sech2_mean
        C[warm] = beta * sech2_mean
    return q, C, sigma


# --------------------------------------------------------------------------- #
# Input handling
# --------------------------------------------------------------------------- #


def _as_array(name: str, value, *, upper: float | None = None) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)) or np.any(array < 0.0):
        raise ValueError(f"{name}: must be finite and >= 0, got {value!r} (pass {name} >= 0)")
    if upper is not None and np.any(array > upper):
        raise ValueError(f"{name}: must be <= {upper}, got {value!r}")
    return array


def _broadcast(alpha, T, *extra: np.ndarray) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Checked alpha and T (and already-checked extras), broadcast and flattened."""
    arrays = np.broadcast_arrays(_as_array("alpha", alpha), _as_array("T", T), *extra)
    return [x.ravel().copy() for x in arrays], arrays[0].shape


def _shaped(values: np.ndarray, shape: tuple[int, ...]):
    return float(values[0]) if shape == () else values.reshape(shape)


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class RSState:
    """Replica-symmetric order parameters (floats, or arrays of one shape).

    Attributes
    ----------
    m : float or ndarray
        Overlap with the condensed pattern (0 on the spin-glass / paramagnetic branch).
    q : float or ndarray
        Edwards-Anderson parameter.
    r : float or ndarray
        Mean squared overlap with the non-condensed patterns, scaled by N / P.
    """

    m: float | np.ndarray
    q: float | np.ndarray
    r: float | np.ndarray


def solve(alpha, T, m0=1.0) -> RSState:
    """Solve the RS saddle-point equations.

    Parameters
    ----------
    alpha : float or array_like
        Load P / N, >= 0.
    T : float or array_like
        Temperature in units of J, >= 0 (T = 0 uses the T = 0 equations).
    m0 : float or array_like, default=1.0
        Starting overlap. The retrieval solution is returned where it exists
        and m0 lies above the unstable retrieval saddle (its basin along m);
        otherwise the m = 0 solution (spin glass for T < 1 + sqrt(alpha),
        paramagnet above). m0 = 0 always selects the m = 0 branch.

    Returns
    -------
    RSState
        m, q, r broadcast over (alpha, T, m0).
    """
    (a, t, start), shape = _broadcast(alpha, T, _as_array("m0", m0, upper=1.0))
    m = np.zeros_like(a)
    q, C, _ = _glass_state(a, t)
    k = _retrieval_k(a, t)
    found = np.isfinite(k)
    if found.any():
        ray = _ray(t[found], k[found])
        basin = start[found] > _saddle_overlap(a[found], t[found])
        m[found] = np.where(basin, ray.m, 0.0)
        q[found] = np.where(basin, ray.q, q[found])
        C[found] = np.where(basin, ray.C, C[found])
    r = np.zeros_like(q)
    ordered = q > 0.0
    r[ordered] = q[ordered] / (1.0 - C[ordered]) ** 2
    return RSState(_shaped(m, shape), _shaped(q, shape), _shaped(r, shape))


def _saddle_overlap(alpha: np.ndarray, T: np.ndarray) -> np.ndarray:
    """m of the unstable retrieval saddle (the larger root k of alpha(T, k) = alpha)."""
    _, k_star = _critical_ray(T)
    k_hi = np.maximum(k_star, K_SCAN_MAX)
    for _ in range(SADDLE_MAX_DOUBLINGS):
        short = _ray(T, k_hi).alpha > alpha
        if not short.any():
            break
        k_hi = np.where(short, 2.0 * k_hi, k_hi)
    k = _root(lambda x, i: alpha[i] - _ray(T[i], x).alpha, k_star, k_hi)
    return _ray(T, k).m


def spin_glass_temperature(alpha):
    """Paramagnet to spin-glass temperature T_g = 1 + sqrt(alpha) (units of J)."""
    value = 1.0 + np.sqrt(_as_array("alpha", alpha))
    return float(value) if np.ndim(value) == 0 else value


def critical_load(T):
    """Critical load alpha_c(T): largest alpha with an RS retrieval solution.

    Parameters
    ----------
    T : float or array_like
        Temperature in units of J, >= 0. alpha_c(0) = 0.13791; alpha_c = 0 for T >= 1.

    Returns
    -------
    float or ndarray
        alpha_c, dimensionless.
    """
    t = _as_array("T", T)
    alpha_c, _ = _critical_ray(t.ravel())
    return _shaped(alpha_c, t.shape)


def overlap(alpha, T):
    """Retrieval overlap m(alpha, T) of the RS theory, 0 where there is no retrieval state.

    Parameters
    ----------
    alpha : float or array_like
        Load, >= 0.
    T : float or array_like
        Temperature in units of J, >= 0.

    Returns
    -------
    float or ndarray
        m in [0, 1].
    """
    (a, t), shape = _broadcast(alpha, T)
    k = _retrieval_k(a, t)
    m = np.zeros_like(a)
    found = np.isfinite(k)
    if found.any():
        m[found] = _ray(t[found], k[found]).m
    return _shaped(m, shape)


@functools.lru_cache(maxsize=1)
def _load_table() -> tuple[interpolate.CubicSpline, float, float]:
    """Spline of sqrt(alpha_c(T)) on [0, 1], the temperature of its maximum and the maximum."""
    T = np.linspace(0.0, 1.0, T_TABLE_POINTS)
    root_load = np.sqrt(_critical_ray(T)[0])
    spline = interpolate.CubicSpline(T, root_load)
    i = int(np.argmax(root_load))
    return spline, float(T[i]), float(root_load[i] ** 2)


def retrieval_temperature(alpha):
    """Temperature T_M(alpha) above which no retrieval state exists.

    The retrieval branch disappears discontinuously (m jumps to 0) at the
    largest T with alpha_c(T) >= alpha, found by inverting a cached cubic
    spline of sqrt(alpha_c(T)) on 101 temperatures (interpolation error < 1e-8
    in T). T_M(0) = 1 (Curie-Weiss); T_M ~ 1 - 1.95 sqrt(alpha) for small alpha.

    Parameters
    ----------
    alpha : float or array_like
        Load, >= 0.

    Returns
    -------
    float or ndarray
        T_M in units of J; NaN where alpha exceeds the largest critical load
        (about 0.1382, reached at T ~ 0.02 because of the RS re-entrance).
    """
    a = _as_array("alpha", alpha)
    flat = a.ravel()
    spline, T_peak, alpha_max = _load_table()
    target = np.sqrt(flat)
    inside = flat <= alpha_max
    lo = np.full_like(flat, T_peak)
    hi = np.ones_like(flat)
    # sqrt(alpha_c) decreases on [T_peak, 1]: bisect T on spline(T) - target < 0.
    T_M = _root(lambda x, i: target[i] - spline(x), lo, hi)
    T_M = np.where(inside, T_M, np.nan)
    T_M = np.where(flat == 0.0, 1.0, T_M)
    return _shaped(T_M, a.shape)


def free_energy_functional(alpha, T, m, q, r):
    """RS free energy per neuron as a function of its order parameters (T > 0).

    f = alpha/2 + m^2/2 + (alpha T/2) [ln(1 - C) - beta q / (1 - C)]
        + alpha beta r (1 - q) / 2 - T E_z ln 2 cosh beta (m + sqrt(alpha r) z),
    with C = beta (1 - q). Stationary in (m, q, r) exactly at the RS equations.

    Parameters
    ----------
    alpha, T, m, q, r : float or array_like
        Load (>= 0), temperature (> 0, units of J), order parameters (q, r >= 0).

    Returns
    -------
    float or ndarray
        f in units of J; NaN where 1 - C <= 0 (outside the RS domain).
    """
    arrays = np.broadcast_arrays(*(np.asarray(x, float) for x in (alpha, T, m, q, r)))
    shape = arrays[0].shape
    a, t, mm, qq, rr = (x.ravel() for x in arrays)
    if np.any(t <= 0.0):
        raise ValueError(f"T: must be > 0 for the finite-T functional, got {T!r}")
    if np.any(a < 0.0) or np.any(rr < 0.0):
        raise ValueError("alpha and r: must be >= 0")
    beta = 1.0 / t
    C = beta * (1.0 - qq)
    inside = C < 1.0
    f = np.full_like(a, np.nan)
    if inside.any():
        a, t, mm, qq, rr, beta, C = (x[inside] for x in (a, t, mm, qq, rr, beta, C))
        sigma = np.sqrt(a * rr)
        log_cosh = _log_cosh_mean(beta * mm, beta * sigma)
        f[inside] = (
            0.5 * a
            + 0.5 * mm**2
            + 0.5 * a * t * (np.log1p(-C) - beta * qq / (1.0 - C))
            + 0.5 * a * beta * rr * (1.0 - qq)
            - t * log_cosh
        )
    return _shaped(f, shape)


def _ground_energy(alpha: np.ndarray, m: np.ndarray, C: np.ndarray) -> np.ndarray:
    """T = 0 limit of the RS free energy (q = 1, r = 1 / (1 - C)^2, C < 1)."""
    r = 1.0 / (1.0 - C) ** 2
    sigma = np.sqrt(alpha * r)
    noisy = sigma > 0.0
    field = np.abs(m)
    field[noisy] = _abs_mean(m[noisy], sigma[noisy])
    return 0.5 * alpha + 0.5 * m**2 - 0.5 * alpha / (1.0 - C) + 0.5 * alpha * r * C - field


def _paramagnet_free_energy(alpha: np.ndarray, T: np.ndarray) -> np.ndarray:
    """-T ln 2 + alpha/2 + (alpha T/2) ln(1 - 1/T); NaN for alpha > 0 and T <= 1."""
    f = -T * np.log(2.0)
    loaded = alpha > 0.0
    hot = loaded & (T > 1.0)
    f[loaded & ~hot] = np.nan
    f[hot] += 0.5 * alpha[hot] * (1.0 + T[hot] * np.log1p(-1.0 / T[hot]))
    return f


def _branch_free_energy(alpha: np.ndarray, T: np.ndarray, branch: str) -> np.ndarray:
    """Free energy of one branch for flat alpha, T of shape (n,); NaN where it does not exist."""
    if branch == "paramagnet":
        return _paramagnet_free_energy(alpha, T)
    f = np.full_like(alpha, np.nan)
    if branch == "retrieval":
        k = _retrieval_k(alpha, T)
        ordered = np.isfinite(k)
        ray = _ray(T[ordered], k[ordered])
        m, q, C = ray.m, ray.q, ray.C
    else:
        q, C, _ = _glass_state(alpha, T)
        ordered = q > 0.0
        f[~ordered] = _paramagnet_free_energy(alpha[~ordered], T[~ordered])
        m, q, C = np.zeros_like(alpha)[ordered], q[ordered], C[ordered]
    a, t = alpha[ordered], T[ordered]
    values = np.empty_like(a)
    cold = t == 0.0
    values[cold] = _ground_energy(a[cold], m[cold], C[cold])
    hot = ~cold
    r = q[hot] / (1.0 - C[hot]) ** 2
    values[hot] = free_energy_functional(a[hot], t[hot], m[hot], q[hot], r)
    f[ordered] = values
    return f


def free_energy(alpha, T, branch: str = "retrieval"):
    """RS free energy per neuron on one branch of solutions.

    Parameters
    ----------
    alpha : float or array_like
        Load, >= 0.
    T : float or array_like
        Temperature in units of J, >= 0 (T = 0 gives the ground-state energy).
    branch : {"retrieval", "spin_glass", "paramagnet"}
        ``retrieval``: the stable retrieval state (NaN where it does not exist,
        T > T_M); ``spin_glass``: the m = 0 solution (equal to the paramagnet
        above T_g = 1 + sqrt(alpha)); ``paramagnet``: m = q = r = 0,
        -T ln 2 + alpha/2 + (alpha T/2) ln(1 - 1/T), defined for T > 1 (NaN below).

    Returns
    -------
    float or ndarray
        f in units of J.
    """
    if branch not in BRANCHES:
        raise ValueError(f"branch: must be one of {BRANCHES}, got {branch!r}")
    (a, t), shape = _broadcast(alpha, T)
    return _shaped(_branch_free_energy(a, t, branch), shape)


def stability_temperature(alpha):
    """Temperature T_c(alpha) below which retrieval states are the global minima.

    T_c is where the retrieval and spin-glass free energies cross (T_c < T_M).
    It exists only for alpha below ``stability_load()`` (about 0.0517): above
    it the spin glass has the lower free energy at every T and NaN is returned.

    Parameters
    ----------
    alpha : float or array_like
        Load, >= 0.

    Returns
    -------
    float or ndarray
        T_c in units of J, or NaN.
    """
    a = _as_array("alpha", alpha)
    flat = a.ravel().copy()
    T_c = np.full_like(flat, np.nan)
    gap0 = _free_energy_gap(flat, np.zeros_like(flat))
    exists = gap0 < 0.0
    if exists.any():
        ae = flat[exists]
        T_M = retrieval_temperature(ae)
        T_c[exists] = _root(lambda x, i: _free_energy_gap(ae[i], x), np.zeros_like(ae), T_M)
    return _shaped(T_c, a.shape)


def stability_line(T):
    """The RS T_c line parametrised by temperature: the load alpha at which the
    retrieval and spin-glass free energies are equal at T.

    Unlike T_c(alpha) (:func:`stability_temperature`) this follows the line
    through its re-entrant part: from alpha = 0 at T = 1 it reaches its largest
    load, about 0.0535, near T = 0.085 and comes back to ``stability_load()``
    (0.05185) at T = 0, so loads just above ``stability_load()`` have retrieval
    as the global minimum only in a window of temperatures.

    Parameters
    ----------
    T : float or array_like
        Temperature in units of J, >= 0.

    Returns
    -------
    float or ndarray
        alpha, dimensionless; NaN for T >= 1 (no retrieval state).
    """
    t = _as_array("T", T).ravel()
    alpha = np.full_like(t, np.nan)
    inside = t < 1.0
    ti = t[inside]
    # retrieval wins at vanishing load, and does not exist beyond alpha_c(T)
    lo = np.full_like(ti, STABILITY_LOAD_FLOOR)
    hi = critical_load(ti)
    alpha[inside] = _root(lambda x, i: _free_energy_gap(x, ti[i]), lo, hi)
    return _shaped(alpha, np.shape(T))


def _free_energy_gap(alpha: np.ndarray, T: np.ndarray) -> np.ndarray:
    """f_retrieval - f_spin_glass; +inf where no retrieval state exists."""
    gap = _branch_free_energy(alpha, T, "retrieval") - _branch_free_energy(alpha, T, "spin_glass")
    return np.where(np.isnan(gap), np.inf, gap)


@functools.lru_cache(maxsize=1)
def stability_load() -> float:
    """Load at which T_c reaches 0: retrieval and spin-glass ground states have equal energy."""
    return float(stability_line(0.0))
