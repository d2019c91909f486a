"""Finite-size extrapolation (sweep/extrapolation.py) on synthetic a + b N^-nu data.

The data are drawn from a known model with sample-to-sample noise shrinking as
N^-1/2 (as measured, physics.md g); the fit must recover the known a with error
bars that cover it as often as they claim.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kernels import rs
from kernels.status import (
    TRANSITION_LOCATED,
    TRANSITION_LOWER_BOUND,
    TRANSITION_NOT_MONOTONE,
    TRANSITION_PENDING,
)
from sweep import extrapolation

SIZES = np.array([1000, 2000, 4000, 8000])
#: Per-sample standard deviation at N = 1000, shrinking as N^-1/2 (about the T_M spread).
SPREAD_1000 = 0.04
SAMPLES = 16


def synthetic(rng, a, b, nu, sizes=SIZES, samples=SAMPLES, spread=SPREAD_1000):
    """Per-size arrays of samples a + b N^-nu + noise."""
    return [
        a + b * n ** -nu + spread * np.sqrt(1000 / n) * rng.standard_normal(samples)
        for n in sizes
    ]


def test_extrapolation_recovers_a_known_limit_with_honest_error_bars():
    """Over 200 synthetic campaigns the true a lies within +-2 reported sigma in
    90-99 % of them (95 % expected), the estimate is unbiased, and the reported
    error matches the actual scatter of the estimates."""
    rng = np.random.default_rng(15)
    a, b = 0.315, 8.0  # shift 0.008 at N = 1000, as for T_M(0.1)
    fits = [
        extrapolation.fit_finite_size(SIZES, synthetic(rng, a, b, 1.0), n_boot=300, rng=rng)
        for _ in range(200)
    ]
    values = np.array([f.value for f in fits])
    errors = np.array([f.error for f in fits])
    covered = np.mean(np.abs(values - a) <= 2 * errors)
    assert 0.90 <= covered <= 0.99, covered
    assert abs(values.mean() - a) < 3 * values.std() / np.sqrt(values.size)
    assert 0.8 < errors.mean() / values.std() < 1.25
    # the raw largest-N mean would be biased by b / 8000 = 0.001: the fit removes it
    assert np.mean([f.means[-1] for f in fits]) - a > 0.0005
    # chi^2 / dof of correctly modelled data averages about 1
    assert 0.6 < np.mean([f.chi2_dof for f in fits]) < 1.5


def test_a_wrong_exponent_shows_in_the_fit_quality():
    rng = np.random.default_rng(3)
    data = synthetic(rng, 0.3, 1.0, 0.5, samples=64, spread=0.005)
    wrong = extrapolation.fit_finite_size(SIZES, data, nu=1.0, rng=rng)
    right = extrapolation.fit_finite_size(SIZES, data, nu=0.5, rng=rng)
    assert wrong.chi2_dof > 10 * right.chi2_dof
    assert abs(right.value - 0.3) < 3 * right.error < abs(wrong.value - 0.3)


def test_a_fitted_exponent_is_recovered_when_the_drift_is_resolved():
    rng = np.random.default_rng(5)
    sizes = np.array([250, 500, 1000, 2000, 4000, 8000, 16000])
    data = synthetic(rng, 0.3, 2.0, 0.5, sizes=sizes, samples=64, spread=0.002)
    fit = extrapolation.fit_finite_size(sizes, data, nu=None, n_boot=200, rng=rng)
    assert abs(fit.nu - 0.5) < 3 * fit.nu_error < 0.1
    assert abs(fit.value - 0.3) < 3 * fit.error
    assert fit.dof == sizes.size - 3


def test_too_little_data_is_reported_and_bad_arguments_name_the_key():
    rng = np.random.default_rng(0)
    with pytest.raises(extrapolation.InsufficientData, match="sizes"):
        extrapolation.fit_finite_size([1000, 2000], [[0.3, 0.31], [0.3]], rng=rng)
    with pytest.raises(extrapolation.InsufficientData):
        extrapolation.fit_finite_size([1000, 2000], [[0.3, 0.31], [0.3, 0.29]], nu=None, rng=rng)
    with pytest.raises(ValueError, match="nu"):
        extrapolation.fit_finite_size(SIZES, synthetic(rng, 0.3, 1.0, 1.0), nu=-1.0, rng=rng)
    with pytest.raises(ValueError, match="n_boot"):
        extrapolation.fit_finite_size(SIZES, synthetic(rng, 0.3, 1.0, 1.0), n_boot=1, rng=rng)
    with pytest.raises(ValueError, match="T_M"):
        extrapolation.extrapolate(xr.Dataset({"m": ("x", [1.0])}))


def transition_store(rng, alphas=(0.03, 0.06, 0.1), b=5.0, samples=SAMPLES):
    """A Dataset shaped like a T_M transition store, from the RS line plus b / N."""
    theory = rs.retrieval_temperature(np.array(alphas))
    noise = rng.standard_normal((1, SIZES.size, len(alphas), samples))
    T_M = theory[None, None, :, None] + b / SIZES[None, :, None, None] + SPREAD_1000 * np.sqrt(
        1000 / SIZES
    )[None, :, None, None] * noise
    status = np.full(T_M.shape, TRANSITION_LOCATED, dtype=np.int8)
    dims = ("algorithm", "N", "alpha", "seed")
    return xr.Dataset(
        {"T_M": (dims, T_M), "status": (dims, status)},
        coords={"algorithm": ["tap"], "N": SIZES, "alpha": list(alphas),
                "seed": np.arange(samples)},
    )


def test_extrapolate_fits_every_line_of_a_store_and_uses_only_the_asked_statuses():
    ds = transition_store(np.random.default_rng(8))
    out = extrapolation.extrapolate(ds, n_boot=300, rng=1)
    theory = rs.retrieval_temperature(ds["alpha"].values)
    assert np.allclose(out["T_M_theory"].values, theory)
    deviation = (out["T_M"] - out["T_M_theory"]) / out["T_M_err"]
    assert (np.abs(deviation) < 3).all()
    assert out["T_M_err"].attrs["units"] == "J / k_B" and out.attrs["nu"] == 1.0
    assert (out["n_used"] == SAMPLES).all()

    # bound and pending samples never enter, whatever value they carry; non-monotone
    # samples enter by default and can be left out
    spoiled = ds.copy(deep=True)
    spoiled["T_M"][0, 0, 0, :3] = 99.0
    spoiled["status"][0, 0, 0, :2] = [TRANSITION_LOWER_BOUND, TRANSITION_PENDING]
    spoiled["status"][0, 0, 0, 2] = TRANSITION_NOT_MONOTONE
    included = extrapolation.extrapolate(spoiled, n_boot=300, rng=1)
    assert int(included["n_used"][0, 0, 0]) == SAMPLES - 2
    assert float(included["T_M_mean"][0, 0, 0]) > 5
    excluded = extrapolation.extrapolate(
        spoiled, statuses=(TRANSITION_LOCATED,), n_boot=300, rng=1
    )
    assert int(excluded["n_used"][0, 0, 0]) == SAMPLES - 3
    clean = ds["T_M"][0, 0, 0, 3:].mean()
    assert float(excluded["T_M_mean"][0, 0, 0]) == pytest.approx(float(clean))

    # a line with a single usable size cannot be fitted: NaN, not an exception
    sparse = ds.copy(deep=True)
    sparse["status"][0, 1:, 1, :] = TRANSITION_PENDING
    partial = extrapolation.extrapolate(sparse, n_boot=50, rng=1)
    assert np.isnan(partial["T_M"][0, 1]) and np.isfinite(partial["T_M"][0, 0])
