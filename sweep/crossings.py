"""Where a seed-averaged curve crosses a threshold: estimate, bootstrap error, bound flag.

The numpy cores (:func:`upper_crossing`, :func:`crossing_bound`) and their
xarray wrapper (:func:`crossing_dataset`), which the transition lines of
:mod:`sweep.analysis` (T_M, alpha_c, T_c) are made of. Where the grid does not
reach the crossing, the estimate is NaN and a CF flag says which bound holds.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .points import SEED

#: Bootstrap resamples of the seeds for the errors of transition estimates.
N_BOOTSTRAP = 200
#: Seed of the bootstrap generator when none is given (results are reproducible).
BOOTSTRAP_SEED = 0


#: ``<name>_bound`` flags of a transition estimate (CF flags): where the estimate
#: is not measured it is NaN and this says why.
MEASURED, LOWER_BOUND, UPPER_BOUND, NO_DATA = 0, 1, 2, 3
BOUND_MEANINGS = "measured lower_bound upper_bound no_data"


def bootstrap_rng(rng) -> np.random.Generator:
    return (
        rng
        if isinstance(rng, np.random.Generator)
        else np.random.default_rng(BOOTSTRAP_SEED if rng is None else rng)
    )


# --------------------------------------------------------------------------- #
# Threshold crossings (numpy cores)
# --------------------------------------------------------------------------- #


def upper_crossing(values: np.ndarray, coord: np.ndarray, threshold: float) -> np.ndarray:
    """Highest coordinate at which ``values`` exceed ``threshold``, interpolated.

    Parameters
    ----------
    values : ndarray of shape (..., K)
        Curve sampled at ``coord``; NaN counts as not above.
    coord : ndarray of shape (K,)
        Increasing grid (temperatures or loads).
    threshold : float

    Returns
    -------
    ndarray of shape (...)
        With j the last index where values > threshold: coord[j] if j = K - 1
        (clipped to the grid); else the linear interpolation to the threshold
        between j and j + 1, or their midpoint if values[j + 1] is NaN; NaN if
        the curve never exceeds the threshold.
    """
    values = np.asarray(values, dtype=float)
    coord = np.asarray(coord, dtype=float)
    K = values.shape[-1]
    above = values > threshold
    j = K - 1 - np.argmax(above[..., ::-1], axis=-1)
    j_next = np.minimum(j + 1, K - 1)
    v_j = np.take_along_axis(values, j[..., None], axis=-1)[..., 0]
    v_next = np.take_along_axis(values, j_next[..., None], axis=-1)[..., 0]
    x_j, x_next = coord[j], coord[j_next]
    with np.errstate(invalid="ignore", divide="ignore"):
        interpolated = x_j + (v_j - threshold) / (v_j - v_next) * (x_next - x_j)
    crossing = np.where(np.isnan(v_next), 0.5 * (x_j + x_next), interpolated)
    crossing = np.where(j == K - 1, x_j, crossing)
    return np.where(above.any(axis=-1), crossing, np.nan)


def _masked_mean(values: np.ndarray, ok: np.ndarray, axis: int) -> np.ndarray:
    count = ok.sum(axis=axis)
    total = np.where(ok, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def crossing_bound(values: np.ndarray, threshold: float) -> np.ndarray:
    """Whether :func:`upper_crossing` of ``values`` is a measurement or a grid edge.

    Parameters
    ----------
    values : ndarray of shape (..., K)
        Curve over an increasing grid; NaN where nothing was measured.
    threshold : float

    Returns
    -------
    ndarray of shape (...), int8
        ``LOWER_BOUND`` where the last grid value exceeds ``threshold`` (the
        crossing is at or beyond the grid's end), ``UPPER_BOUND`` where no value
        does (it is below the grid's start, if anywhere), ``NO_DATA`` where all
        are NaN, else ``MEASURED``.
    """
    values = np.asarray(values, dtype=float)
    flag = np.full(values.shape[:-1], MEASURED, dtype=np.int8)
    flag[~(values > threshold).any(axis=-1)] = UPPER_BOUND
    flag[np.isnan(values).all(axis=-1)] = NO_DATA
    flag[values[..., -1] > threshold] = LOWER_BOUND
    return flag


def _bootstrap_crossing(
    values: np.ndarray, ok: np.ndarray, coord: np.ndarray, threshold: float, resamples: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crossing of the seed mean, its bootstrap standard deviation and its bound flag.

    values, ok : (..., S, K) per seed; resamples : (B, S) seed indices. The
    crossing and its error are NaN unless the flag is ``MEASURED``.
    """
    mean = _masked_mean(values, ok, -2)
    bound = crossing_bound(mean, threshold)
    estimate = np.where(bound == MEASURED, upper_crossing(mean, coord, threshold), np.nan)
    boot_values = values[..., resamples, :]  # (..., B, S, K)
    boot_ok = ok[..., resamples, :]
    boot = upper_crossing(_masked_mean(boot_values, boot_ok, -2), coord, threshold)  # (..., B)
    finite = np.isfinite(boot)
    n = finite.sum(axis=-1)
    centred = np.where(finite, boot - _masked_mean(boot, finite, -1)[..., None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(n > 1, np.sqrt((centred**2).sum(axis=-1) / (n - 1)), np.nan)
    return estimate, np.where(bound == MEASURED, err, np.nan), bound


def crossing_dataset(
    values: xr.DataArray,
    ok: xr.DataArray,
    along: str,
    threshold: float,
    n_boot: int,
    rng,
    name: str,
    long_name: str,
    units: str,
) -> xr.Dataset:
    """Crossing along ``along`` of the seed mean, with bootstrap errors, as a Dataset."""
    if n_boot < 2:
        raise ValueError(f"n_boot: must be >= 2 for a bootstrap error, got {n_boot}")
    values = values.sortby(along)
    ok = ok.sortby(along)
    if values.chunks is not None:
        values = values.chunk({SEED: -1, along: -1})
        ok = ok.chunk({SEED: -1, along: -1})
    n_seed = values.sizes[SEED]
    resamples = bootstrap_rng(rng).integers(0, n_seed, size=(n_boot, n_seed))
    coord = values[along].values
    estimate, err, bound = xr.apply_ufunc(
        _bootstrap_crossing,
        values,
        ok,
        input_core_dims=[[SEED, along], [SEED, along]],
        output_core_dims=[[], [], []],
        kwargs={"coord": coord, "threshold": threshold, "resamples": resamples},
        dask="parallelized",
        output_dtypes=[float, float, np.int8],
    )
    attrs = {"threshold": threshold, "n_boot": n_boot}
    low, high = coord[0], coord[-1]
    return xr.Dataset(
        {
            name: estimate.assign_attrs(attrs, long_name=long_name, units=units),
            f"{name}_err": err.assign_attrs(
                attrs, long_name=f"bootstrap error of {name} (seeds)", units=units
            ),
            f"{name}_bound": bound.assign_attrs(
                long_name=f"whether {name} is measured or only bounded by the {along} grid",
                units="1",
                flag_values=[MEASURED, LOWER_BOUND, UPPER_BOUND, NO_DATA],
                flag_meanings=BOUND_MEANINGS,
                comment=(
                    f"{name} is NaN unless measured. lower_bound: the seed mean is above "
                    f"{threshold:g} at the largest {along} of the grid, {name} >= {high:g}; "
                    f"upper_bound: above it at no {along} of the grid, {name} < {low:g} if "
                    f"it exists; no_data: no converged seed at any {along}"
                ),
            ),
        }
    )
