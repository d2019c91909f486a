"""Input checks shared by the kernels' public ``solve`` functions.

Each check raises ValueError with a message that names the argument, what it
must be and what was passed, so the caller sees the fix.
"""

from __future__ import annotations

import numpy as np


def check_patterns(xi: np.ndarray, min_spins: int = 1) -> np.ndarray:
    """Patterns as a float64 array of shape (P, N), finite, P >= 1, N >= ``min_spins``.

    Parameters
    ----------
    xi : array_like of shape (P, N)
    min_spins : int, default=1
        Smallest accepted N.

    Returns
    -------
    ndarray of shape (P, N), float64 (not copied when already float64)
    """
    xi = _real_array("xi", xi, "±1 patterns, or real values for correlated models; for 0/1 "
                     "patterns pass 2 * xi - 1")
    if xi.ndim != 2 or xi.shape[0] < 1 or xi.shape[1] < min_spins:
        raise ValueError(
            f"xi must have shape (P, N) with P >= 1 and N >= {min_spins}, got shape {xi.shape}"
        )
    if not np.all(np.isfinite(xi)):
        raise ValueError("xi contains NaN or inf: pass finite patterns")
    return xi


def check_beta(beta: float | np.ndarray, *, allow_zero: bool = False) -> np.ndarray:
    """Inverse temperatures as a non-empty float64 array of shape (K,).

    Parameters
    ----------
    beta : float or array_like of shape (K,)
        Finite, > 0 (>= 0 with ``allow_zero``).
    allow_zero : bool, default=False
        Accept beta = 0 (infinite temperature).

    Returns
    -------
    ndarray of shape (K,), float64
    """
    beta = np.atleast_1d(_real_array("beta", beta, "beta = 1/T"))
    if beta.ndim != 1 or beta.size == 0:
        raise ValueError(
            f"beta must be a scalar or a non-empty array of shape (K,), got shape {beta.shape}"
        )
    positive = beta >= 0 if allow_zero else beta > 0
    if not np.all(np.isfinite(beta) & positive):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"beta must be finite and {bound} (beta = 1/T), got {beta}")
    return beta


def check_start(m0: np.ndarray, K: int, N: int) -> np.ndarray:
    """Initial magnetizations of shape (N,) or (K, N), values in [-1, 1].

    Parameters
    ----------
    m0 : array_like of shape (N,) or (K, N)
    K, N : int
        Number of temperatures and of spins.

    Returns
    -------
    ndarray of shape (N,) or (K, N), float64 (not broadcast)
    """
    m0 = _real_array("m0", m0, "magnetizations in [-1, 1]")
    if m0.shape not in ((N,), (K, N)):
        raise ValueError(
            f"m0 must have shape (N,) = ({N},) or (K, N) = ({K}, {N}), got {m0.shape}"
        )
    if not np.all(np.abs(m0) <= 1.0):
        raise ValueError("m0 must lie in [-1, 1] (magnetizations) and be finite")
    return m0


def check_field(field: np.ndarray | None, N: int) -> np.ndarray | None:
    """External fields: None, or a finite float64 array of shape (N,).

    Parameters
    ----------
    field : None or array_like of shape (N,)
    N : int
        Number of spins.

    Returns
    -------
    None or ndarray of shape (N,), float64
    """
    if field is None:
        return None
    field = _real_array("field", field, "fields h_i")
    if field.shape != (N,):
        raise ValueError(
            f"field must be an array of shape (N,) = ({N},) or None, got shape "
            f"{field.shape} (a field of strength h along pattern 0 is h * xi[0])"
        )
    if not np.all(np.isfinite(field)):
        raise ValueError("field contains NaN or inf: pass finite fields h_i")
    return field


def _real_array(name: str, value, what: str) -> np.ndarray:
    """``value`` as a float64 array if it holds integers or floats (not booleans,
    complex numbers, strings or objects), else a ValueError naming ``name``."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers ({what}), got {array.dtype} values")
    return array.astype(np.float64, copy=False)


def _real(name: str, value) -> float:
    """``value`` as a float, or a ValueError naming ``name`` (strings and booleans
    are refused)."""
    try:
        if isinstance(value, str | bytes | bool | np.bool_):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None


#: Floating types of the iterative solvers (tap, nmf, relaxed BP); the first is the default.
DTYPES = ("float64", "float32")


def check_dtype(dtype) -> str:
    """The name of a supported iteration dtype (a name or a numpy dtype).

    Raises
    ------
    ValueError
        Naming ``dtype`` and the supported types.
    """
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return name


#: The requested ``tol`` is raised to at least this many machine epsilons of the
#: iteration dtype: below it the residual max|m^{t+1} - m^t| is rounding noise
#: (float32: 32 * 1.19e-7 = 3.8e-6; float64: 7.1e-15).
TOL_FLOOR_EPS = 32


def effective_tol(tol: float, dtype) -> float:
    """The tolerance a solver iterating in ``dtype`` uses for a requested ``tol``.

    Returns
    -------
    float
        max(tol, TOL_FLOOR_EPS * eps(dtype)).
    """
    return max(float(tol), TOL_FLOOR_EPS * float(np.finfo(dtype).eps))


#: Iteration budget per temperature of every iterative solver (tap, bp, layered)
#: when none is given; also the default of ``[solver] max_iter``
#: (:class:`kernels.registry.SolverOptions`).
MAX_ITER = 2000


def check_iteration(damping: float, tol: float, max_iter: int) -> None:
    """Damping in [0, 1), finite tol > 0, integer max_iter >= 1.

    Parameters
    ----------
    damping : float
    tol : float
    max_iter : int
    """
    if not 0.0 <= _real("damping", damping) < 1.0:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    if not 0.0 < _real("tol", tol) < np.inf:
        raise ValueError(f"tol must be finite and > 0, got {tol}")
    count = _real("max_iter", max_iter)
    if not (np.isfinite(count) and int(count) == count and count >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter}")
