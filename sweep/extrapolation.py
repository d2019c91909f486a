"""Finite-size extrapolation of per-sample transitions to N -> infinity.

A transition located per sample (:mod:`kernels.transition`: T_M at fixed alpha,
or alpha_c at fixed T) is averaged over the samples of each size N and fitted
with

    y(N) = a + b N^-nu,

weighted by the standard error of each size's mean. ``a`` is the N -> infinity
value. Its error bar is the spread of ``a`` over bootstrap resamples of the
samples (each size resampled on its own: samples of different sizes are
independent disorder), so it carries the sample-to-sample spread that
dominates these estimates (physics.md g). The fit's quality is chi^2 per degree
of freedom of the weighted means.

Why nu = 1 by default. The transition of one sample moves with the crosstalk
noise of its patterns, a sum of O(N^-1/2) Gaussian fluctuations of mean zero:
the sample-to-sample spread shrinks as N^-1/2 (measured: the standard deviation
falls about 3-fold from N = 1000 to 8000), and the shift of the *mean* comes at
second order in those fluctuations, O(1/N). Measured over N = 1000-8000
(physics.md g), the means move less than their error bars, so nu cannot be
fitted from such data, and nu = 0.5, 2/3 and 1 give a within each other's
errors (T_M(0.1): 0.325, 0.324, 0.322; alpha_c(0.1): 0.131, 0.133, 0.1346;
RS 0.315 and 0.1350); nu = 1 gives the smallest error bars and matches RS.
Pass ``nu=None`` to fit it (needs three sizes or more; meaningful only when the
drift is well resolved), or another fixed value to test the sensitivity.

The numeric core (:func:`fit_finite_size`) works on numpy arrays;
:func:`extrapolate` applies it to every line of a transition Dataset (xarray is
imported only there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from kernels import rs
from kernels.status import TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE

#: Default finite-size exponent (see the module docstring for why).
DEFAULT_NU = 1.0
#: Bounds of a fitted exponent.
NU_BOUNDS = (0.1, 3.0)
#: Bootstrap resamples for the error bars of a fit.
N_BOOTSTRAP = 1000
#: Fewest usable samples per size (a standard error needs two).
MIN_SAMPLES = 2
#: Sample statuses that enter the fit by default: located transitions and
#: non-monotone samples, whose estimate is their largest retrieving point (the
#: definition of the transition). Bound statuses have no estimate.
FIT_STATUSES = (TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE)
#: The transitions a Dataset can hold: variable -> (dimension it is a line of,
#: RS value as a function of that coordinate, units; the store's own units win).
TRANSITIONS = {
    "T_M": ("alpha", rs.retrieval_temperature, "J / k_B"),
    "alpha_c": ("T", rs.critical_load, "1"),
}


class InsufficientData(ValueError):
    """Too few sizes or samples to fit a + b N^-nu."""


@dataclass(frozen=True)
class FiniteSizeFit:
    """A fit y(N) = a + b N^-nu of per-size sample means.

    Attributes
    ----------
    value, error : float
        a (the N -> infinity value) and its bootstrap standard error.
    slope, slope_error : float
        b and its bootstrap standard error.
    nu, nu_error : float
        The exponent; ``nu_error`` is NaN when nu was fixed.
    chi2_dof : float
        chi^2 of the weighted means per degree of freedom (NaN when dof = 0).
    dof : int
        Sizes minus fitted parameters.
    sizes : ndarray of shape (S,), int
        The sizes N used (those with >= MIN_SAMPLES samples).
    means, mean_errors : ndarray of shape (S,)
        Sample mean and its standard error at each size.
    counts : ndarray of shape (S,), int
        Samples used at each size.
    """

    value: float
    error: float
    slope: float
    slope_error: float
    nu: float
    nu_error: float
    chi2_dof: float
    dof: int
    sizes: np.ndarray
    means: np.ndarray
    mean_errors: np.ndarray
    counts: np.ndarray

    def predict(self, N) -> np.ndarray:
        """a + b N^-nu at sizes N (array_like), same shape."""
        return self.value + self.slope * np.asarray(N, dtype=np.float64) ** -self.nu


def _linear_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of y = a + b x, batched over leading axes of y.

    x, w of shape (S,); y of shape (..., S). Returns a, b of shape (...).
    """
    sw, swx, swxx = w.sum(), (w * x).sum(), (w * x * x).sum()
    swy, swxy = (y * w).sum(axis=-1), (y * w * x).sum(axis=-1)
    det = sw * swxx - swx * swx
    return (swxx * swy - swx * swxy) / det, (sw * swxy - swx * swy) / det


def _chi2(N: np.ndarray, y: np.ndarray, w: np.ndarray, nu: float) -> tuple[float, float, float]:
    """a, b and chi^2 of the weighted fit at a fixed nu (y of shape (S,))."""
    x = N ** -nu
    a, b = _linear_fit(x, y, w)
    return float(a), float(b), float((w * (y - a - b * x) ** 2).sum())


def _fit(N: np.ndarray, y: np.ndarray, w: np.ndarray, nu: float | None) -> tuple[float, ...]:
    """(a, b, nu, chi^2) of one set of means, nu fixed or fitted within NU_BOUNDS."""
    if nu is not None:
        a, b, chi2 = _chi2(N, y, w, nu)
        return a, b, nu, chi2
    best = optimize.minimize_scalar(
        lambda v: _chi2(N, y, w, v)[2], bounds=NU_BOUNDS, method="bounded"
    )
    a, b, chi2 = _chi2(N, y, w, float(best.x))
    return a, b, float(best.x), chi2


def _check_nu(nu: float | None) -> float | None:
    if nu is None:
        return None
    nu = float(nu)
    if not np.isfinite(nu) or nu <= 0:
        raise ValueError(f"nu: must be a finite exponent > 0, or None to fit it; got {nu!r}")
    return nu


def fit_finite_size(
    sizes: Sequence[int] | np.ndarray,
    samples: Sequence[np.ndarray],
    *,
    nu: float | None = DEFAULT_NU,
    n_boot: int = N_BOOTSTRAP,
    rng: np.random.Generator,
) -> FiniteSizeFit:
    """Fit a + b N^-nu to per-sample transitions at several sizes.

    Parameters
    ----------
    sizes : array_like of shape (S,), int
        System sizes N.
    samples : sequence of S arrays
        The per-sample estimates at each size (NaN entries are dropped); sizes
        with fewer than MIN_SAMPLES finite estimates are left out.
    nu : float or None, default=DEFAULT_NU
        Fixed exponent, or None to fit it within NU_BOUNDS.
    n_boot : int, default=N_BOOTSTRAP
        Bootstrap resamples (each size's samples resampled with replacement;
        the weights stay those of the data).
    rng : numpy.random.Generator
        Source of the resamples (results are reproducible for a given state).

    Returns
    -------
    FiniteSizeFit

    Raises
    ------
    InsufficientData
        Fewer usable sizes than fitted parameters (2 with nu fixed, 3 fitted).
    ValueError
        For a bad ``nu`` or ``n_boot``, or mismatched ``sizes`` and ``samples``.
    """
    nu = _check_nu(nu)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot: must be an integer >= 2 (bootstrap resamples), got {n_boot!r}")
    sizes = np.asarray(sizes)
    if sizes.ndim != 1 or len(samples) != sizes.size:
        raise ValueError(
            f"samples: need one array per size, got {len(samples)} for {sizes.size} sizes"
        )
    kept = [
        (int(n), values[np.isfinite(values)])
        for n, values in zip(sizes, (np.asarray(s, dtype=np.float64).ravel() for s in samples),
                             strict=True)
    ]
    kept = [(n, v) for n, v in kept if v.size >= MIN_SAMPLES]
    n_params = 2 if nu is not None else 3
    if len(kept) < n_params:
        raise InsufficientData(
            f"need >= {n_params} sizes with >= {MIN_SAMPLES} usable samples each to fit "
            f"a + b N^-nu ({'nu fixed' if nu is not None else 'nu fitted'}), got {len(kept)}"
        )
    N = np.array([n for n, _ in kept], dtype=np.float64)
    counts = np.array([v.size for _, v in kept])
    means = np.array([v.mean() for _, v in kept])
    mean_errors = np.array([v.std(ddof=1) for _, v in kept]) / np.sqrt(counts)
    # a size whose samples all agree would get infinite weight: floor its error
    # at the smallest non-zero one (or 1 when all are zero)
    floor = mean_errors[mean_errors > 0].min() if (mean_errors > 0).any() else 1.0
    w = 1.0 / np.maximum(mean_errors, floor) ** 2

    a, b, nu_fit, chi2 = _fit(N, means, w, nu)
    boot = np.stack(
        [v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1) for _, v in kept], axis=1
    )
    if nu is not None:
        a_boot, b_boot = _linear_fit(N ** -nu, boot, w)
        nu_boot = np.full(n_boot, nu)
    else:
        a_boot, b_boot, nu_boot, _ = np.array([_fit(N, row, w, None) for row in boot]).T
    dof = N.size - n_params
    return FiniteSizeFit(
        value=a,
        error=float(np.std(a_boot, ddof=1)),
        slope=b,
        slope_error=float(np.std(b_boot, ddof=1)),
        nu=nu_fit,
        nu_error=float(np.std(nu_boot, ddof=1)) if nu is None else np.nan,
        chi2_dof=chi2 / dof if dof > 0 else np.nan,
        dof=dof,
        sizes=N.astype(np.int64),
        means=means,
        mean_errors=mean_errors,
        counts=counts,
    )


def is_transition(ds) -> bool:
    """Whether a Dataset is a transition-mode store (holds ``T_M`` or ``alpha_c``)."""
    return any(name in ds.data_vars for name in TRANSITIONS)


def transition_variable(ds) -> str:
    """Name of the transition a Dataset holds (``T_M`` or ``alpha_c``).

    Raises
    ------
    ValueError
        When it holds neither (or both), naming what a transition store has.
    """
    found = [name for name in TRANSITIONS if name in ds.data_vars]
    if len(found) != 1:
        raise ValueError(
            f"ds: need exactly one of the variables {sorted(TRANSITIONS)} (a transition-mode "
            f"store, opened with sweep.open_results), found {found or 'none'}"
        )
    return found[0]


def extrapolate(
    ds,
    *,
    nu: float | None = DEFAULT_NU,
    statuses: Sequence[int] = FIT_STATUSES,
    n_boot: int = N_BOOTSTRAP,
    rng: np.random.Generator | int | None = None,
):
    """N -> infinity value of every transition line of a transition Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Transition results: dims (algorithm, N, alpha, seed) with ``T_M``, or
        (algorithm, N, T, seed) with ``alpha_c``, and ``status`` holding
        ``TRANSITION_*`` codes (:mod:`kernels.status`).
    nu : float or None, default=DEFAULT_NU
        Finite-size exponent, fixed (default 1, see the module docstring) or
        None to fit it.
    statuses : sequence of int, default=FIT_STATUSES
        Sample statuses whose estimates enter the fit.
    n_boot : int, default=N_BOOTSTRAP
        Bootstrap resamples.
    rng : numpy.random.Generator, int or None
        Bootstrap source; None uses ``sweep.crossings.BOOTSTRAP_SEED``.

    Returns
    -------
    xarray.Dataset
        For ``name`` = T_M (alpha_c), over (algorithm, alpha) ((algorithm, T)):
        ``name`` (a), ``name_err`` (bootstrap), ``name_slope``,
        ``name_slope_err``, ``name_nu``, ``name_nu_err``, ``name_chi2_dof``,
        ``name_dof``, ``name_theory`` (RS, kernels.rs); over (..., N):
        ``name_mean``, ``name_mean_err``, ``n_used``. NaN where a line has too
        few sizes or samples. Attributes: ``model``, ``nu`` ("fitted" or its
        value), ``n_boot``, ``statuses``.
    """
    import xarray as xr

    from .crossings import bootstrap_rng

    name = transition_variable(ds)
    line_dim, theory, units = TRANSITIONS[name]
    units = ds[name].attrs.get("units", units)
    missing = [d for d in ("algorithm", "N", line_dim, "seed") if d not in ds.dims]
    if missing or "status" not in ds.data_vars:
        raise ValueError(
            f"ds: a {name} store has dims (algorithm, N, {line_dim}, seed) and a status "
            f"variable; missing {missing or ['status']}"
        )
    generator = bootstrap_rng(rng)
    usable = ds["status"].isin(list(statuses))
    values = ds[name].where(usable).transpose("algorithm", line_dim, "N", "seed").values
    algorithms, lines, sizes = (ds[d].values for d in ("algorithm", line_dim, "N"))
    shape = (algorithms.size, lines.size)
    scalars = {k: np.full(shape, np.nan) for k in
               ("", "_err", "_slope", "_slope_err", "_nu", "_nu_err", "_chi2_dof", "_dof")}
    means, errors = np.full(values.shape[:3], np.nan), np.full(values.shape[:3], np.nan)
    n_used = np.isfinite(values).sum(axis=-1)
    for i, j in np.ndindex(shape):
        try:
            fit = fit_finite_size(sizes, list(values[i, j]), nu=nu, n_boot=n_boot, rng=generator)
        except InsufficientData:
            continue
        for key, value in (("", fit.value), ("_err", fit.error), ("_slope", fit.slope),
                           ("_slope_err", fit.slope_error), ("_nu", fit.nu),
                           ("_nu_err", fit.nu_error), ("_chi2_dof", fit.chi2_dof),
                           ("_dof", fit.dof)):
            scalars[key][i, j] = value
        at = np.searchsorted(sizes, fit.sizes)
        means[i, j, at], errors[i, j, at] = fit.means, fit.mean_errors
    line_dims, size_dims = ("algorithm", line_dim), ("algorithm", line_dim, "N")
    described = {
        "": ("N -> infinity extrapolation a of the mean over samples", units),
        "_err": ("bootstrap standard error of the extrapolation", units),
        "_slope": ("finite-size amplitude b of a + b N^-nu", units),
        "_slope_err": ("bootstrap standard error of b", units),
        "_nu": ("finite-size exponent nu of a + b N^-nu", "1"),
        "_nu_err": ("bootstrap standard error of nu (NaN when fixed)", "1"),
        "_chi2_dof": ("chi^2 per degree of freedom of the fit to the size means", "1"),
        "_dof": ("degrees of freedom of the fit (sizes minus parameters)", "1"),
    }
    data = {
        f"{name}{key}": (line_dims, scalars[key], {"long_name": f"{name}: {text}", "units": u})
        for key, (text, u) in described.items()
    }
    data[f"{name}_mean"] = (size_dims, means, {"long_name": f"{name}: mean over samples",
                                               "units": units})
    data[f"{name}_mean_err"] = (size_dims, errors, {
        "long_name": f"{name}: standard error of the mean over samples", "units": units})
    data["n_used"] = (size_dims, n_used, {"long_name": "samples entering the fit", "units": "1"})
    data[f"{name}_theory"] = ((line_dim,), np.asarray(theory(lines), dtype=np.float64), {
        "long_name": f"{name}: replica-symmetric theory (kernels.rs)", "units": units})
    return xr.Dataset(
        data,
        coords={"algorithm": algorithms, line_dim: lines, "N": sizes},
        attrs={
            "model": "a + b * N**-nu",
            "nu": "fitted" if nu is None else float(nu),
            "n_boot": int(n_boot),
            "statuses": [int(s) for s in statuses],
            "transition": name,
        },
    )
