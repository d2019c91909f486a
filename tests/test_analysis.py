"""sweep.analysis and sweep.plots: seed statistics against direct numpy, transition
estimates against the RS theory (synthetic curves and a real N = 2000 TAP sweep),
exclusion of failed / non-converged points, figures."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr
from cluster_helpers import COMMAND_TIMEOUT, env, write_config
from matplotlib.collections import QuadMesh

import sweep
import sweep.accessor  # noqa: F401  (registers ds.hopfield on Datasets made here)
from kernels import rs
from kernels.solution import CONDENSATION_FLOOR
from kernels.status import CONVERGED, DIVERGED, FAILED, NOT_CONVERGED, PENDING
from sweep import analysis, crossings, plots
from sweep.tasks import FAULT_VARIABLE

STATUSES = np.array([PENDING, CONVERGED, NOT_CONVERGED, DIVERGED, FAILED], dtype=np.int8)

#: Acceptance sweep: TAP at N = 2000 (DESIGN.md defaults, float64), three loads in
#: [0.02, 0.1], 12 temperatures bracketing their RS T_M (0.716, 0.542, 0.315) at
#: spacings of 0.03-0.04, 3 seeds. alpha = 0.12 is injected to fail
#: (HOPSWEEP_FAULT) so failed points come from the real failure path.
ACCEPTANCE_SWEEP = """
name = "acceptance"
root_seed = 2017

[grid]
algorithm = ["tap"]
N = [2000]
alpha = [0.02, 0.05, 0.1, 0.12]
T = [0.27, 0.30, 0.33, 0.36, 0.48, 0.52, 0.56, 0.60, 0.66, 0.70, 0.74, 0.78]
seed = 3
"""
FAILING_ALPHA = 0.12
#: Issue 7: the measured T_M must lie within 0.05 of the RS T_M (grid spacing 0.04
#: plus finite-size rounding of the first-order jump at N = 2000).
T_M_TOLERANCE = 0.05


# --------------------------------------------------------------------------- #
# Synthetic datasets
# --------------------------------------------------------------------------- #


def synthetic(
    m: np.ndarray,
    status: np.ndarray,
    *,
    algorithm=("tap",),
    N=(100,),
    alpha=(0.05,),
    T=None,
    free_energy=None,
) -> xr.Dataset:
    """A results Dataset with the DESIGN.md layout from arrays (algorithm, N, alpha, seed, T)."""
    shape = m.shape
    T = np.linspace(0.1, 1.0, shape[-1]) if T is None else np.asarray(T)
    coords = {
        "algorithm": list(algorithm),
        "N": list(N),
        "alpha": list(alpha),
        "seed": np.arange(shape[3]),
        "T": T,
    }
    dims = ("algorithm", "N", "alpha", "seed", "T")
    data = {
        "m": (dims, m, {"long_name": "overlap", "units": "1"}),
        "m_other": (dims, np.zeros(shape), {"units": "1"}),
        "status": (dims, status.astype(np.int8), {"units": "1"}),
        "iterations": (dims, np.full(shape, 10, dtype=np.int32), {"units": "1"}),
        # a state near pattern 0 condenses on it alone; q of a uniform |m_i| = |m|
        "n_condensed": (dims, (np.abs(m) > CONDENSATION_FLOOR).astype(np.int32), {"units": "1"}),
        "best_pattern": (dims, np.zeros(shape, dtype=np.int32), {"units": "1"}),
        "q": (dims, m**2, {"units": "1"}),
        "free_energy": (
            dims,
            np.zeros(shape) if free_energy is None else free_energy,
            {"units": "J"},
        ),
    }
    return xr.Dataset(data, coords=coords)


@pytest.fixture
def random_results():
    rng = np.random.default_rng(11)
    shape = (2, 2, 3, 6, 5)
    m = rng.normal(0.6, 0.3, size=shape)
    status = rng.choice(STATUSES, size=shape, p=[0.05, 0.6, 0.15, 0.1, 0.1])
    status[0, 0, 0, :, 0] = NOT_CONVERGED  # a point with no usable seed
    status[0, 0, 0, 1:, 1] = DIVERGED  # a point with exactly one
    status[0, 0, 0, 0, 1] = CONVERGED
    m[status != CONVERGED] = 1e6  # must never leak into a mean
    return synthetic(m, status, algorithm=("tap", "bp"), N=(100, 200), alpha=(0.02, 0.05, 0.1))


def numpy_seed_stats(m: np.ndarray, status: np.ndarray):
    """Direct loops: mean, standard error (ddof=1) and count over converged seeds."""
    shape = m.shape[:3] + m.shape[4:]
    mean, err, count = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, int)
    for index in np.ndindex(*shape):
        a, n, k, t = index
        values = [m[a, n, k, s, t] for s in range(m.shape[3]) if status[a, n, k, s, t] == 1]
        count[index] = len(values)
        if values:
            mean[index] = np.mean(values)
        if len(values) > 1:
            err[index] = np.std(values, ddof=1) / np.sqrt(len(values))
    return mean, err, count


def test_seed_mean_matches_direct_numpy_and_excludes_unconverged(random_results):
    ds = random_results
    out = analysis.seed_mean(ds, "m")
    mean, err, count = numpy_seed_stats(ds["m"].values, ds["status"].values)
    np.testing.assert_array_equal(out["n_used"].values, count)
    np.testing.assert_allclose(out["m"].values, mean, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(out["m_err"].values, err, rtol=1e-12, equal_nan=True)
    assert np.nanmax(out["m"].values) < 10.0  # the 1e6 of excluded points never enter
    assert np.isnan(out["m"].values[0, 0, 0, 0]) and out["n_used"].values[0, 0, 0, 0] == 0
    assert np.isnan(out["m_err"].values[0, 0, 0, 1]) and out["n_used"].values[0, 0, 0, 1] == 1


def test_seed_mean_stays_lazy_on_dask_data(random_results):
    lazy = random_results.chunk({"alpha": 1})
    out = lazy.hopfield.seed_mean("m")
    assert out["m"].chunks is not None  # nothing computed yet
    eager = analysis.seed_mean(random_results, "m")
    xr.testing.assert_allclose(out.compute(), eager)


def test_bad_arguments_name_the_fix(random_results):
    with pytest.raises(ValueError, match="var"):
        analysis.seed_mean(random_results, "magnetisation")
    with pytest.raises(ValueError, match="algorithm 'exact'"):
        analysis.compare(random_results, "tap", "exact")
    with pytest.raises(ValueError, match="seed"):
        analysis.seed_mean(random_results.isel(seed=0, drop=True))
    with pytest.raises(ValueError, match="n_boot"):
        analysis.retrieval_temperature(random_results, n_boot=1)


# --------------------------------------------------------------------------- #
# Crossings
# --------------------------------------------------------------------------- #


def test_upper_crossing_by_hand():
    T = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    curves = np.array(
        [
            [1.0, 0.9, 0.7, 0.3, 0.1],  # 0.3 + (0.7 - 0.5) / (0.7 - 0.3) * 0.1 = 0.35
            [0.9, 0.1, 0.8, 0.2, 0.0],  # highest crossing: 0.3 + 0.3 / 0.6 * 0.1 = 0.35
            [0.9, 0.8, np.nan, 0.2, 0.1],  # NaN next: midpoint of 0.2 and 0.3
            [0.9, 0.9, 0.9, 0.9, 0.9],  # above everywhere: clipped to 0.5
            [0.1, 0.2, np.nan, 0.0, 0.4],  # never above: NaN
        ]
    )
    got = crossings.upper_crossing(curves, T, 0.5)
    np.testing.assert_allclose(got, [0.35, 0.35, 0.25, 0.5, np.nan], rtol=1e-12)


def rs_dataset(alpha, T, n_seed=4, noise=0.01, seed=3):
    """Seeds of RS overlap curves with small Gaussian noise, all converged."""
    rng = np.random.default_rng(seed)
    m_theory = rs.overlap(np.asarray(alpha)[:, None], np.asarray(T)[None, :])
    m = m_theory[None, None, :, None, :] + noise * rng.standard_normal(
        (1, 1, len(alpha), n_seed, len(T))
    )
    status = np.full(m.shape, CONVERGED)
    return synthetic(m, status, alpha=alpha, T=T)


def test_retrieval_temperature_recovers_rs_T_M_from_rs_curves():
    alpha = [0.02, 0.05, 0.1]
    T = np.arange(0.2, 0.9, 0.01)
    ds = rs_dataset(alpha, T)
    out = analysis.retrieval_temperature(ds, n_boot=50, rng=1)
    # m jumps from > 0.8 to 0 at T_M: the estimate sits within one grid step (0.01).
    np.testing.assert_allclose(out["T_M"].values[0, 0], rs.retrieval_temperature(alpha), atol=0.01)
    assert np.all(out["T_M_err"].values < 0.01)
    again = analysis.retrieval_temperature(ds, n_boot=50, rng=1)
    xr.testing.assert_identical(out, again)  # bootstrap reproducible from rng


def test_bootstrap_error_reflects_seed_spread():
    T = np.array([0.3, 0.4, 0.5, 0.6])
    m = np.zeros((1, 1, 1, 4, 4))
    m[..., :2] = 0.9
    m[0, 0, 0, :2, 2] = 0.9  # two seeds retrieve at T = 0.5, two do not
    ds = synthetic(m, np.full(m.shape, CONVERGED), T=T)
    out = analysis.retrieval_temperature(ds, n_boot=400, rng=5)
    # Full data: mean 0.45 at T = 0.5 -> crossing 0.4 + (0.9-0.5)/(0.9-0.45)*0.1 = 0.4889.
    assert out["T_M"].item() == pytest.approx(0.4 + 0.4 / 0.45 * 0.1, abs=1e-12)
    # Resamples put 0..4 retrieving seeds at T = 0.5, so T_M spreads over ~0.44-0.55.
    assert 0.01 < out["T_M_err"].item() < 0.1
    identical = synthetic(np.repeat(m[:, :, :, :1], 4, axis=3), np.full(m.shape, CONVERGED), T=T)
    assert analysis.retrieval_temperature(identical, n_boot=50)["T_M_err"].item() == 0.0


def test_critical_load_recovers_rs_alpha_c():
    alpha = np.arange(0.08, 0.16, 0.002)
    ds = rs_dataset(alpha, [0.1, 0.3])
    out = analysis.critical_load(ds, n_boot=20)
    assert out["T"].item() == 0.1
    assert abs(out["alpha_c"].item() - rs.critical_load(0.1)) < 0.002  # one alpha step
    at_03 = analysis.critical_load(ds, T=0.31, n_boot=20)  # nearest grid T = 0.3
    assert abs(at_03["alpha_c"].item() - rs.critical_load(0.3)) < 0.002


def test_transitions_at_a_grid_edge_are_nan_and_flagged_as_bounds():
    """Retrieval at every grid value only bounds the transition: NaN, not the edge +- 0."""
    T = np.arange(0.1, 0.31, 0.05)  # RS T_M(0.02) = 0.716 is above this grid
    ds = rs_dataset([0.02, 0.5], T)  # alpha = 0.5: no retrieval at any T (above alpha_c)
    out = analysis.retrieval_temperature(ds, n_boot=20)
    bound = out["T_M_bound"].values[0, 0]
    np.testing.assert_array_equal(bound, [crossings.LOWER_BOUND, crossings.UPPER_BOUND])
    assert np.isnan(out["T_M"]).all() and np.isnan(out["T_M_err"]).all()
    assert "T_M >= 0.3" in out["T_M_bound"].attrs["comment"]
    assert out["T_M_bound"].attrs["flag_meanings"].split()[crossings.LOWER_BOUND] == "lower_bound"
    alpha = [0.02, 0.04, 0.06]  # all below alpha_c(0.1) = 0.135: the QA report's case
    low_load = analysis.critical_load(rs_dataset(alpha, [0.1, 0.3]), n_boot=20)
    assert np.isnan(low_load["alpha_c"].item()) and np.isnan(low_load["alpha_c_err"].item())
    assert low_load["alpha_c_bound"].item() == crossings.LOWER_BOUND
    nothing = rs_dataset(alpha, [0.1, 0.3])
    nothing["status"][:] = NOT_CONVERGED
    assert analysis.critical_load(nothing, n_boot=20)["alpha_c_bound"].item() == crossings.NO_DATA
    measured = analysis.critical_load(rs_dataset(np.arange(0.08, 0.16, 0.01), [0.1]), n_boot=20)
    assert measured["alpha_c_bound"].item() == crossings.MEASURED
    assert np.isfinite(measured["alpha_c"].item())


def test_crossing_bound_by_hand():
    curves = np.array(
        [
            [1.0, 0.9, 0.7, 0.3],  # crosses inside the grid
            [0.9, 0.9, 0.9, 0.9],  # above up to the end: lower bound
            [np.nan, 0.9, 0.8, 0.6],  # above at the end, NaN elsewhere: lower bound
            [0.4, 0.3, np.nan, 0.0],  # never above: upper bound
            [np.nan, np.nan, np.nan, np.nan],  # no data
            [0.9, 0.8, 0.7, np.nan],  # no converged seed at the end: midpoint, measured
        ]
    )
    np.testing.assert_array_equal(
        crossings.crossing_bound(curves, 0.5),
        [crossings.MEASURED, crossings.LOWER_BOUND, crossings.LOWER_BOUND, crossings.UPPER_BOUND,
         crossings.NO_DATA, crossings.MEASURED],
    )


def test_merges_of_results_with_a_non_index_coordinate_warn_nothing():
    """finite_size and phase_diagram merge two Datasets sharing the coordinate P (N, alpha)."""
    ds = rs_dataset([0.05], np.arange(0.3, 0.7, 0.02))
    ds = ds.assign_coords(P=(("N", "alpha"), np.array([[5]]), {"units": "1"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xarray's FutureWarning on merge(compat=...) included
        for out in (ds.hopfield.finite_size(n_boot=5), ds.hopfield.phase_diagram(n_boot=5),
                    ds.chunk({"alpha": 1}).hopfield.finite_size(n_boot=5).compute()):
            assert out["P"].item() == 5 and "T_M_bound" in out


def test_stability_temperature_from_rs_free_energies():
    alpha = [0.02, 0.05]
    T = np.arange(0.1, 0.8, 0.01)
    shape = (1, 1, 2, 3, T.size)
    a = np.array(alpha)[:, None]

    def per_seed(values):  # (alpha, T) -> (algorithm, N, alpha, seed, T)
        return np.broadcast_to(values[:, None, :], shape).copy()

    m = per_seed(rs.overlap(a, T))
    status = np.full(shape, CONVERGED)
    f_ret = per_seed(rs.free_energy(a, T))
    f_sg = per_seed(rs.free_energy(a, T, "spin_glass"))
    status[np.isnan(f_ret)] = NOT_CONVERGED  # above T_M the retrieval run finds nothing
    retrieval = synthetic(m, status, alpha=alpha, T=T, free_energy=f_ret)
    other = synthetic(
        np.zeros(shape), np.full(shape, CONVERGED), alpha=alpha, T=T, free_energy=f_sg
    )
    expected = rs.stability_temperature(alpha)
    two = analysis.stability_temperature(retrieval, other, n_boot=20)
    np.testing.assert_allclose(two["T_c"].values[0, 0], expected, atol=0.01)
    stacked = xr.concat(
        [retrieval, other], dim=xr.DataArray(["retrieval", "random"], dims="init", name="init")
    )
    one = stacked.hopfield.stability_temperature(n_boot=20)
    np.testing.assert_allclose(one["T_c"].values, two["T_c"].values)
    missing = analysis.stability_temperature(retrieval)
    assert np.all(np.isnan(missing["T_c"].values)) and "init" in missing.attrs["note"]


def test_compare_pairs_seeds_and_drops_unconverged(random_results):
    ds = random_results
    out = ds.hopfield.compare("tap", "bp")
    m, status = ds["m"].values, ds["status"].values
    for index in np.ndindex(*out["difference"].shape):
        n, k, t = index
        pairs = [
            m[0, n, k, s, t] - m[1, n, k, s, t]
            for s in range(m.shape[3])
            if status[0, n, k, s, t] == CONVERGED and status[1, n, k, s, t] == CONVERGED
        ]
        assert out["n_used"].values[index] == len(pairs)
        if pairs:
            assert out["difference"].values[index] == pytest.approx(np.mean(pairs), rel=1e-12)
            assert out["max_abs_difference"].values[index] == pytest.approx(
                np.max(np.abs(pairs)), rel=1e-12
            )
        else:
            assert np.isnan(out["difference"].values[index])


def test_finite_size_reports_deviation_from_theory():
    alpha = [0.05]
    T = np.arange(0.3, 0.7, 0.02)
    ds = rs_dataset(alpha, T, noise=0.0)
    out = ds.hopfield.finite_size(n_boot=20)
    np.testing.assert_allclose(out["m_deviation"].values, 0.0, atol=1e-12)
    assert abs(out["T_M_shift"].item()) < 0.02
    assert out["T_M_theory"].item() == pytest.approx(rs.retrieval_temperature(0.05))


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("kind", plots.KINDS)
def test_save_figure_writes_labelled_figures(tmp_path, kind):
    ds = rs_dataset([0.03, 0.08], np.arange(0.1, 1.0, 0.05))
    path = tmp_path / f"{kind}.png"
    fig = plots.save_figure(ds, path, kind=kind)
    assert path.stat().st_size > 10_000
    for ax in fig.axes:
        if ax.get_label() != "<colorbar>":
            assert "[J]" in ax.get_xlabel() + ax.get_ylabel()  # T axis with units
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]  # below the panels or in one
    labels = [t.get_text() for legend in legends if legend is not None for t in legend.get_texts()]
    assert any("RS" in label for label in labels)  # theory lines named
    with pytest.raises(ValueError, match="kind"):
        plots.save_figure(ds, path, kind="histogram")


def test_phase_diagram_one_panel_per_algorithm(random_results):
    fig = random_results.hopfield.plot_phase(n_boot=10)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels] == ["tap, N = 200", "bp, N = 200"]
    with pytest.raises(ValueError, match="N"):
        plots.phase_diagram(random_results, N=7)


# --------------------------------------------------------------------------- #
# Acceptance: a real sweep
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def tap_sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acceptance")
    config = write_config(directory, ACCEPTANCE_SWEEP, "\n[cluster]\nworkers = 1\n")
    store = directory / "acceptance.zarr"
    done = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(config), "--store", str(store)],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=COMMAND_TIMEOUT,
        env={**env(), FAULT_VARIABLE: f"alpha={FAILING_ALPHA}"},
    )
    assert done.returncode == 1, done.stderr  # exit 1: some points failed (the injected ones)
    return sweep.open_results(store)


def test_real_sweep_T_M_matches_rs(tap_sweep):
    ds = tap_sweep.sel(alpha=[0.02, 0.05, 0.1])
    out = ds.hopfield.retrieval_temperature(n_boot=100, rng=0).compute()
    measured = out["T_M"].sel(algorithm="tap", N=2000).values
    theory = rs.retrieval_temperature(ds["alpha"].values)
    assert np.all(np.abs(measured - theory) < T_M_TOLERANCE), (measured, theory)


def test_real_sweep_seed_means_and_exclusions(tap_sweep):
    ds = tap_sweep
    m, status = ds["m"].values, ds["status"].values
    # The sweep has converged, non-converged (above T_M) and failed (injected) points.
    assert {CONVERGED, FAILED} <= set(np.unique(status))
    assert np.any((status == DIVERGED) | (status == NOT_CONVERGED))
    assert np.all(status[:, :, list(ds["alpha"].values).index(FAILING_ALPHA)] == FAILED)
    out = ds.hopfield.seed_mean("m").compute()
    mean, err, count = numpy_seed_stats(m, status)
    np.testing.assert_array_equal(out["n_used"].values, count)
    np.testing.assert_allclose(out["m"].values, mean, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(out["m_err"].values, err, rtol=1e-12, equal_nan=True)
    failed_alpha = out.sel(alpha=FAILING_ALPHA)
    assert np.all(failed_alpha["n_used"] == 0) and np.all(np.isnan(failed_alpha["m"]))
    assert out["n_used"].sum() == (status == CONVERGED).sum()
    T_M = ds.hopfield.retrieval_temperature(n_boot=20).compute()
    assert np.isnan(T_M["T_M"].sel(alpha=FAILING_ALPHA)).all()
    assert (T_M["T_M_bound"].sel(alpha=FAILING_ALPHA) == crossings.NO_DATA).all()


def test_real_sweep_bounds_are_flagged_not_measured(tap_sweep):
    """Loads 0.02, 0.05 both retrieve at T = 0.27 (RS alpha_c(0.27) ~ 0.12): a bound only."""
    alpha_c = tap_sweep.sel(alpha=[0.02, 0.05]).hopfield.critical_load(n_boot=20).compute()
    assert np.isnan(alpha_c["alpha_c"]).all() and np.isnan(alpha_c["alpha_c_err"]).all()
    assert (alpha_c["alpha_c_bound"] == crossings.LOWER_BOUND).all()
    cold = tap_sweep.sel(alpha=[0.02], T=tap_sweep["T"] < 0.6)  # RS T_M(0.02) = 0.716
    T_M = cold.hopfield.retrieval_temperature(n_boot=20).compute()
    assert np.isnan(T_M["T_M"]).all() and (T_M["T_M_bound"] == crossings.LOWER_BOUND).all()


# --------------------------------------------------------------------------- #
# Basins of attraction
# --------------------------------------------------------------------------- #


def numpy_basin(n_condensed: int, best: int, q: float) -> str:
    """The class of one state, by the rules written out again."""
    if n_condensed > 1:
        return "mixture"
    if n_condensed == 1:
        return "retrieval" if best == 0 else "other_pattern"
    return "spin_glass" if q > analysis.SPIN_GLASS_Q else "paramagnet"


def test_basins_count_every_class_against_loops(random_results):
    rng = np.random.default_rng(5)
    ds = random_results.copy()
    shape = ds["m"].shape
    ds["n_condensed"] = (ds["m"].dims, rng.choice([0, 1, 1, 2], size=shape).astype(np.int32))
    ds["best_pattern"] = (ds["m"].dims, rng.choice([0, 0, 3], size=shape).astype(np.int32))
    ds["q"] = (ds["m"].dims, rng.uniform(0.0, 0.3, size=shape))
    out = ds.hopfield.basins()
    assert out["fraction"].dims == ("basin", "algorithm", "N", "alpha", "T")
    assert list(out["basin"].values) == list(analysis.BASINS)
    status, n, best, q = (ds[v].values for v in ("status", "n_condensed", "best_pattern", "q"))
    for a, k, j, t in np.ndindex(shape[0], shape[1], shape[2], shape[4]):
        used = [numpy_basin(n[a, k, j, s, t], best[a, k, j, s, t], q[a, k, j, s, t])
                for s in range(shape[3]) if status[a, k, j, s, t] == CONVERGED]
        at = out.isel(algorithm=a, N=k, alpha=j, T=t)
        assert int(at["n_used"]) == len(used)
        for name in analysis.BASINS:
            count = used.count(name)
            assert int(at["count"].sel(basin=name)) == count
            if used:
                f = count / len(used)
                assert float(at["fraction"].sel(basin=name)) == pytest.approx(f)
                assert float(at["fraction_err"].sel(basin=name)) == pytest.approx(
                    np.sqrt(f * (1 - f) / len(used)))
            else:
                assert np.isnan(float(at["fraction"].sel(basin=name)))
    used = out["n_used"] > 0
    np.testing.assert_allclose(out["fraction"].sum("basin").where(used).fillna(1.0), 1.0)


def test_basin_map_colours_the_most_frequent_class(random_results, tmp_path):
    ds = random_results.copy()
    shape = ds["m"].shape
    ds["n_condensed"] = (ds["m"].dims, np.ones(shape, dtype=np.int32))
    ds["best_pattern"] = (ds["m"].dims, np.zeros(shape, dtype=np.int32))
    ds["q"] = (ds["m"].dims, np.full(shape, 0.5))
    ds["best_pattern"][{"alpha": 2}] = 4  # the largest load retrieves another pattern
    fig = plots.save_figure(ds, tmp_path / "basins.png", kind="basins")
    assert (tmp_path / "basins.png").stat().st_size > 0
    panel = next(a for a in fig.axes if a.get_title() == "tap, N = 200")
    mesh = next(c for c in panel.collections if isinstance(c, QuadMesh))
    shown = np.ma.filled(mesh.get_array(), np.nan).reshape(shape[4], shape[2])
    used = (ds["status"].sel(algorithm="tap", N=200) == CONVERGED).any("seed")
    used = used.transpose("T", "alpha").values
    expected = np.where(used, [[0, 0, 1]] * shape[4], np.nan)
    np.testing.assert_array_equal(shown, expected)
    labels = [t.get_text() for t in mesh.colorbar.ax.get_yticklabels()]
    assert labels == [name.replace("_", " ") for name in analysis.BASINS]
