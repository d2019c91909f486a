"""Seed averages, transition lines and comparisons on a sweep's results Dataset.

Works on any Dataset with the layout of DESIGN.md ("The dataset"): dimensions
(algorithm, N, alpha, seed, T), variables ``m, q, free_energy, iterations,
status, ...``. Only points with ``status == converged`` enter an average; the
number used is reported as ``n_used``. Reductions stay lazy (Dask-backed) when
the input is; call ``.compute()`` on the result. No physics is computed here:
theory lines come from :mod:`kernels.rs`.

The ``ds.hopfield`` accessor over these functions is registered by
:mod:`sweep.accessor` (opening results does it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from kernels import rs
from kernels.transition import RETRIEVAL_OVERLAP

from .basins import BASINS, SPIN_GLASS_Q, basins  # noqa: F401  (sweep.analysis.basins)
from .crossings import N_BOOTSTRAP, crossing_dataset
from .extrapolation import extrapolate  # noqa: F401  (sweep.analysis.extrapolate, DESIGN.md)
from .points import SEED, check_dims, check_var, usable

#: Seed-mean overlap above which a point counts as retrieving (T_M, alpha_c, T_c):
#: the per-sample threshold of kernels.transition, applied to seed means.
RETRIEVAL_THRESHOLD = RETRIEVAL_OVERLAP


# --------------------------------------------------------------------------- #
# Seed averages
# --------------------------------------------------------------------------- #


def _standard_error(values: xr.DataArray, mean: xr.DataArray, n: xr.DataArray) -> xr.DataArray:
    """sqrt(sum (x - mean)^2 / (n - 1) / n) over seeds (NaN-skipping); NaN where n < 2."""
    squares = ((values - mean) ** 2).sum(SEED, skipna=True)
    n_valid = n.where(n > 1)
    return np.sqrt(squares / (n_valid - 1) / n_valid)


def seed_mean(ds: xr.Dataset, var: str = "m") -> xr.Dataset:
    """Mean and standard error over seeds of one variable, converged points only.

    Parameters
    ----------
    ds : xarray.Dataset
        Results with a ``seed`` dimension and a ``status`` variable.
    var : str, default="m"
        Variable to average.

    Returns
    -------
    xarray.Dataset
        Over the remaining dimensions: ``<var>`` (mean), ``<var>_err`` (standard
        error, sample std with ddof=1 over sqrt(n); NaN for n < 2) and ``n_used``
        (number of converged seeds; the mean is NaN where it is 0).
    """
    check_var(ds, var)
    check_dims(ds, SEED)
    ok = usable(ds)
    values = ds[var].where(ok)
    n_used = ok.sum(SEED)
    mean = values.mean(SEED, skipna=True)
    err = _standard_error(values, mean, n_used)
    attrs = dict(ds[var].attrs)
    out = xr.Dataset(
        {
            var: mean.assign_attrs(attrs, long_name=f"seed mean of {attrs.get('long_name', var)}"),
            f"{var}_err": err.assign_attrs(
                units=attrs.get("units", "1"), long_name=f"standard error of the seed mean of {var}"
            ),
            "n_used": n_used.assign_attrs(units="1", long_name="converged seeds entering the mean"),
        }
    )
    return out


# --------------------------------------------------------------------------- #
# Transition lines
# --------------------------------------------------------------------------- #


def retrieval_temperature(
    ds: xr.Dataset, threshold: float = RETRIEVAL_THRESHOLD, n_boot: int = N_BOOTSTRAP, rng=None
) -> xr.Dataset:
    """Measured retrieval temperature T_M per (algorithm, N, alpha).

    T_M is the highest grid temperature at which the seed-mean overlap ``m``
    (converged seeds only) exceeds ``threshold``, linearly interpolated to the
    threshold between that temperature and the next one (their midpoint when
    no seed converged at the next one: no retrieval state was found there).
    Where the grid only bounds T_M, T_M is NaN and ``T_M_bound`` says how:
    ``LOWER_BOUND`` (retrieval up to the hottest T of the grid), ``UPPER_BOUND``
    (retrieval at no T of the grid), ``NO_DATA`` (no converged seed).

    Parameters
    ----------
    ds : xarray.Dataset
        Results with dimensions (..., seed, T) and variables ``m``, ``status``.
    threshold : float, default=0.5
        Overlap separating retrieval from non-retrieval.
    n_boot : int, default=200
        Bootstrap resamples of the seeds for ``T_M_err``.
    rng : None, int or numpy.random.Generator
        Bootstrap generator (None: a fixed seed, reproducible).

    Returns
    -------
    xarray.Dataset
        ``T_M`` and ``T_M_err`` (units of J) and ``T_M_bound`` (int8 CF flags:
        ``MEASURED``, ``LOWER_BOUND``, ``UPPER_BOUND``, ``NO_DATA``) over the
        dimensions other than seed and T.
    """
    check_dims(ds, SEED, "T")
    return crossing_dataset(
        ds["m"],
        usable(ds),
        "T",
        threshold,
        n_boot,
        rng,
        "T_M",
        "measured retrieval temperature",
        "J",
    )


def critical_load(
    ds: xr.Dataset,
    T: float | None = None,
    threshold: float = RETRIEVAL_THRESHOLD,
    n_boot: int = N_BOOTSTRAP,
    rng=None,
) -> xr.Dataset:
    """Measured critical load alpha_c per (algorithm, N) at one temperature.

    The largest alpha at which the seed-mean overlap exceeds ``threshold``,
    interpolated as in :func:`retrieval_temperature` (along alpha). With
    retrieval at every load of the grid alpha_c is only bounded from below: it
    is NaN and ``alpha_c_bound`` is ``LOWER_BOUND`` (``UPPER_BOUND`` with
    retrieval at no load, ``NO_DATA`` without a converged seed).

    Parameters
    ----------
    ds : xarray.Dataset
        Results with dimensions (..., alpha, seed, T).
    T : float, optional
        Temperature (nearest grid value); default the lowest one in the grid.
    threshold, n_boot, rng
        As in :func:`retrieval_temperature`.

    Returns
    -------
    xarray.Dataset
        ``alpha_c`` and ``alpha_c_err`` (dimensionless) and ``alpha_c_bound``
        (flags as ``T_M_bound``) over the remaining dimensions, with the
        temperature used as coordinate ``T``.
    """
    check_dims(ds, SEED, "T", "alpha")
    T_used = float(ds["T"].min()) if T is None else float(ds["T"].sel(T=T, method="nearest"))
    at = ds.sel(T=T_used)
    out = crossing_dataset(
        at["m"],
        usable(at),
        "alpha",
        threshold,
        n_boot,
        rng,
        "alpha_c",
        "measured critical load",
        "1",
    )
    return out.assign_coords(T=T_used)


INIT = "init"
RETRIEVAL_INIT = "retrieval"


def stability_temperature(
    ds: xr.Dataset,
    other: xr.Dataset | None = None,
    threshold: float = RETRIEVAL_THRESHOLD,
    n_boot: int = N_BOOTSTRAP,
    rng=None,
) -> xr.Dataset:
    """Measured T_c: where retrieval states stop being the lower free energy.

    Needs free energies of a retrieval state and of a non-retrieval state on the
    same disorder, given either as

    - ``ds`` with an ``init`` dimension holding ``"retrieval"`` and another
      initialisation (e.g. ``"random"``, ``"paramagnetic"``; the first other one is
      used), or
    - two Datasets: ``ds`` run with ``init = "retrieval"`` and ``other`` with a
      non-retrieval init (same algorithm, N, alpha, seed and T coordinates; the
      common ones are used).

    Per seed and temperature the difference f_retrieval - f_other enters when
    both points converged, the retrieval run has m > threshold and the other run
    has |m| <= threshold (and ``m_other`` <= threshold: no other pattern
    retrieved). T_c is the highest temperature at which the seed-mean difference
    is negative, interpolated to zero as in :func:`retrieval_temperature`.

    Returns
    -------
    xarray.Dataset
        ``T_c`` and ``T_c_err`` (units of J), ``T_c_bound`` (flags as
        ``T_M_bound``: ``LOWER_BOUND`` where retrieval is lower at the hottest T
        of the grid). Without the inputs above (no ``init`` dimension and no
        ``other``) ``T_c`` and ``T_c_err`` are NaN, there is no ``T_c_bound``,
        and the Dataset's ``note`` attribute says why.
    """
    check_dims(ds, SEED, "T")
    if other is None:
        inits = [str(v) for v in ds[INIT].values] if INIT in ds.dims else []
        others = [v for v in inits if v != RETRIEVAL_INIT]
        if RETRIEVAL_INIT not in inits or not others:
            template = ds["m"].isel({SEED: 0, "T": 0}, drop=True)
            if INIT in template.dims:
                template = template.isel({INIT: 0}, drop=True)
            nan = xr.full_like(template, np.nan, dtype=float)
            return xr.Dataset(
                {"T_c": nan.assign_attrs(units="J"), "T_c_err": nan.assign_attrs(units="J")},
                attrs={
                    "note": "T_c needs a retrieval and a non-retrieval run: "
                    "an 'init' dimension or a second Dataset (other=)"
                },
            )
        retrieval = ds.sel({INIT: RETRIEVAL_INIT}, drop=True)
        other = ds.sel({INIT: others[0]}, drop=True)
    else:
        retrieval = ds
    retrieval, other = xr.align(retrieval, other, join="inner")
    check_var(retrieval, "free_energy")
    check_var(other, "free_energy")
    ok = (
        usable(retrieval)
        & usable(other)
        & (retrieval["m"] > threshold)
        & (abs(other["m"]) <= threshold)
    )
    if "m_other" in other.data_vars:  # the other run must not retrieve any pattern either
        ok = ok & (other["m_other"] <= threshold)
    advantage = other["free_energy"] - retrieval["free_energy"]  # > 0: retrieval lower
    return crossing_dataset(
        advantage, ok, "T", 0.0, n_boot, rng, "T_c", "measured retrieval stability temperature", "J"
    )


# --------------------------------------------------------------------------- #
# Theory, finite size, comparisons
# --------------------------------------------------------------------------- #


#: The RS transition lines of :func:`theory_lines`: what each is, and how it is computed.
THEORY_LINES = {
    "T_g": ("spin-glass temperature 1 + sqrt(alpha) (RS)", rs.spin_glass_temperature),
    "T_M": ("retrieval temperature T_M (RS)", rs.retrieval_temperature),
    "T_c": ("retrieval stability temperature T_c (RS)", rs.stability_temperature),
}


def theory_lines(alpha, names: Sequence[str] = tuple(THEORY_LINES)) -> xr.Dataset:
    """Replica-symmetric transition lines T_g, T_M, T_c (kernels.rs) over ``alpha``.

    Parameters
    ----------
    alpha : array_like of shape (A,)
        Loads.
    names : sequence of {"T_g", "T_M", "T_c"}, default=all three
        The lines to compute (T_c, a root search per load, is the costly one).

    Returns
    -------
    xarray.Dataset
        ``T_g``, ``T_M``, ``T_c`` (units of J; T_c is NaN above alpha ~ 0.052),
        those of ``names``, with coordinate ``alpha``.
    """
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    return xr.Dataset(
        {
            name: ("alpha", THEORY_LINES[name][1](alpha),
                   {"long_name": THEORY_LINES[name][0], "units": "J"})
            for name in names
        },
        coords={"alpha": alpha},
    )


def theory_overlap(alpha, T) -> xr.DataArray:
    """RS retrieval overlap m(alpha, T) (0 without retrieval) over 1-D ``alpha`` and ``T``."""
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    T = np.atleast_1d(np.asarray(T, dtype=float))
    values = rs.overlap(alpha[:, None], T[None, :])
    return xr.DataArray(
        values,
        coords={"alpha": alpha, "T": T},
        dims=("alpha", "T"),
        attrs={"long_name": "retrieval overlap m (RS theory)", "units": "1"},
    )


def finite_size(
    ds: xr.Dataset, threshold: float = RETRIEVAL_THRESHOLD, n_boot: int = N_BOOTSTRAP, rng=None
) -> xr.Dataset:
    """How the measured overlap and T_M approach the RS theory as N grows.

    Returns
    -------
    xarray.Dataset
        Over (algorithm, N, alpha, T): ``m``, ``m_err``, ``n_used`` (seed means),
        ``m_theory`` (RS), ``m_deviation`` = m - m_theory. Over (algorithm, N,
        alpha): ``T_M``, ``T_M_err``, ``T_M_bound`` (measured), ``T_M_theory``
        (RS), ``T_M_shift`` = T_M - T_M_theory (NaN where T_M is only bounded).
    """
    check_dims(ds, "N", "alpha", SEED, "T")
    means = seed_mean(ds, "m")
    m_theory = theory_overlap(ds["alpha"].values, ds["T"].values)
    T_M = retrieval_temperature(ds, threshold=threshold, n_boot=n_boot, rng=rng)
    T_M_theory = theory_lines(ds["alpha"].values, names=("T_M",))["T_M"]
    # both from ds: the same coordinates (e.g. P), nothing to reconcile
    out = xr.merge([means, T_M], compat="override", join="exact")
    out["m_theory"] = m_theory
    out["m_deviation"] = (out["m"] - m_theory).assign_attrs(
        long_name="seed-mean overlap minus RS overlap", units="1"
    )
    out["T_M_theory"] = T_M_theory
    out["T_M_shift"] = (out["T_M"] - T_M_theory).assign_attrs(
        long_name="measured minus RS retrieval temperature", units="J"
    )
    return out


def compare(ds: xr.Dataset, a: str, b: str, var: str = "m") -> xr.Dataset:
    """Paired differences between two algorithms on the same disorder samples.

    Patterns depend only on (root seed, N, alpha, seed), so the same seed is the
    same instance for every algorithm; the difference is taken per seed where
    both points converged, then averaged.

    Parameters
    ----------
    ds : xarray.Dataset
        Results with both algorithms on the ``algorithm`` axis.
    a, b : str
        Algorithm names.
    var : str, default="m"
        Variable to compare.

    Returns
    -------
    xarray.Dataset
        Over (N, alpha, T): ``difference`` (seed mean of a - b), ``difference_err``
        (standard error), ``max_abs_difference``, ``n_used``, and the seed means
        ``<var>_a``, ``<var>_b`` over the same seeds.
    """
    check_var(ds, var)
    names = [str(x) for x in ds["algorithm"].values]
    for label, value in (("a", a), ("b", b)):
        if value not in names:
            raise ValueError(
                f"{label}: algorithm {value!r} is not in the dataset; choose one of {names}"
            )
    ok = usable(ds)
    both = ok.sel(algorithm=a, drop=True) & ok.sel(algorithm=b, drop=True)
    va = ds[var].sel(algorithm=a, drop=True).where(both)
    vb = ds[var].sel(algorithm=b, drop=True).where(both)
    diff = va - vb
    mean = diff.mean(SEED)
    n_used = both.sum(SEED)
    units = ds[var].attrs.get("units", "1")
    return xr.Dataset(
        {
            "difference": mean.assign_attrs(
                long_name=f"seed mean of {var}({a}) - {var}({b})", units=units
            ),
            "difference_err": _standard_error(diff, mean, n_used).assign_attrs(
                long_name="standard error of the paired difference", units=units
            ),
            "max_abs_difference": abs(diff)
            .max(SEED)
            .assign_attrs(long_name=f"largest |{var}({a}) - {var}({b})| over seeds", units=units),
            "n_used": n_used.assign_attrs(long_name="seeds where both converged", units="1"),
            f"{var}_{a}": va.mean(SEED).assign_attrs(units=units),
            f"{var}_{b}": vb.mean(SEED).assign_attrs(units=units),
        },
        attrs={"a": a, "b": b, "var": var},
    )


def phase_diagram(
    ds: xr.Dataset, threshold: float = RETRIEVAL_THRESHOLD, n_boot: int = N_BOOTSTRAP, rng=None
) -> xr.Dataset:
    """Everything a phase-diagram figure shows, in one Dataset.

    Returns
    -------
    xarray.Dataset
        Seed-mean ``m``, ``m_err``, ``n_used`` over (algorithm, N, alpha, T);
        measured ``T_M``, ``T_M_err``, ``T_M_bound``; RS lines ``T_g_theory``,
        ``T_M_theory``, ``T_c_theory`` over alpha.
    """
    lines = theory_lines(ds["alpha"].values)
    T_M = retrieval_temperature(ds, threshold=threshold, n_boot=n_boot, rng=rng)
    # both from ds: the same coordinates (e.g. P), nothing to reconcile
    out = xr.merge([seed_mean(ds, "m"), T_M], compat="override", join="exact")
    for name in lines.data_vars:
        out[f"{name}_theory"] = lines[name]
    return out
