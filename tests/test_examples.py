"""The example campaigns of the README, run small through the real CLI.

Each test loads a config from examples/, shrinks its grid (same algorithms,
pattern model and solver), runs ``hopsweep run`` and ``hopsweep plot`` in a
subprocess and checks the physics the README shows with it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import tomli_w
from cluster_helpers import hopsweep

from sweep import open_results
from sweep.plots import phase_diagram

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(tmp_path: Path, name: str, grid: dict, patterns: dict | None = None) -> Path:
    """Run examples/<name>.toml with ``grid`` updated (and ``[patterns]`` replaced); return
    the store."""
    config = tomllib.loads((EXAMPLES / f"{name}.toml").read_text())
    config["grid"].update(grid)
    if patterns is not None:
        config["patterns"] = patterns
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(config))
    store = tmp_path / f"{name}.zarr"
    run = hopsweep("run", str(path), "--store", str(store), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    plot = hopsweep("plot", str(store), "-o", str(tmp_path / f"{name}.png"), cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    return store


def test_bp_vs_tap_on_the_same_instances(tmp_path):
    # N = 500, alpha = 0.05: T = 0.2 and 0.35 lie deep in retrieval (RS T_M = 0.542)
    store = run_example(
        tmp_path, "bp_vs_tap", {"N": [500], "alpha": [0.05], "T": [0.2, 0.35, 1.5], "seed": 2}
    )
    ds = open_results(store).sel(N=500, alpha=0.05)
    algorithms = ["tap", "bp_retrieval", "bp_retrieval_wrong", "bp_relaxed", "nmf"]
    assert list(ds.algorithm.values) == algorithms
    retrieval = ds.sel(T=[0.2, 0.35])
    status = retrieval.status.load()
    # BP told the right pattern and TAP both converge to the retrieval state and agree
    # to O(1/sqrt(N)) on the overlap (physics.md section d)
    assert (status.sel(algorithm=["tap", "bp_retrieval"]) == 1).all()
    m = retrieval.m.load()
    assert (m.sel(algorithm="tap") > 0.95).all()
    np.testing.assert_allclose(m.sel(algorithm="bp_retrieval"), m.sel(algorithm="tap"),
                               atol=2 / np.sqrt(500))
    # BP told the wrong pattern, and symmetric BP, cannot hold the retrieval state
    assert (status.sel(algorithm=["bp_retrieval_wrong", "bp_relaxed"]) != 1).all()
    # far above T_g = 1 + sqrt(alpha) every method converges to the paramagnet
    para = ds.sel(T=1.5)
    assert (para.status.load() == 1).all()
    assert float(np.abs(para.m).max()) < 1e-6
    # the plot draws one panel per algorithm, side by side
    fig = phase_diagram(open_results(store))
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split(",")[0] for t in titled] == algorithms


def test_correlated_patterns_retrieve_far_less_than_independent_ones(tmp_path):
    """Retrieval at alpha = 0.1 survives for independent patterns, not for correlated ones.

    features_sign patterns with alpha_D = 0.1 share D = N / 10 features; at load
    alpha = 0.1 (P = D) their overlaps are O(1), and TAP started on a pattern
    leaves it (m < 0.5), while independent patterns stay retrieved (RS m(0.1, 0.1)
    = 0.998). At alpha = 0.02 both are retrieved.
    """
    grid = {"N": [500], "alpha": [0.02, 0.1], "T": [0.1], "seed": 3}
    correlated = open_results(run_example(tmp_path / "features", "correlated", grid))
    independent = open_results(
        run_example(tmp_path / "iid", "correlated", grid, patterns={"kind": "iid"})
    )
    assert '"features_sign"' in correlated.attrs["spec"]
    assert '"features_sign"' not in independent.attrs["spec"]
    m_corr = correlated.m.sel(algorithm="tap", N=500, T=0.1).load()
    m_iid = independent.m.sel(algorithm="tap", N=500, T=0.1).load()
    assert (m_corr.sel(alpha=0.02) > 0.9).all() and (m_iid.sel(alpha=0.02) > 0.9).all()
    assert (m_iid.sel(alpha=0.1) > 0.95).all()
    assert float(m_corr.sel(alpha=0.1).mean()) < 0.5


def test_transition_examples_locate_T_M_and_alpha_c_near_rs(tmp_path):
    """Small versions of examples/transitions.toml and examples/critical_load.toml:
    per-sample transitions stored, ordered as the RS lines, their means within the
    finite-size spread of RS (samples differ by about +-0.05 in T_M at N = 300)."""
    from kernels import rs
    from kernels.status import TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE

    store = run_example(tmp_path / "T_M", "transitions",
                        {"N": [300, 600], "alpha": [0.03, 0.1], "seed": 4})
    ds = open_results(store)
    assert np.isin(ds.status, [TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE]).all()
    means = ds.T_M.mean(("algorithm", "N", "seed")).values
    np.testing.assert_allclose(means, rs.retrieval_temperature(ds.alpha.values), atol=0.06)
    fit = ds.hopfield.extrapolate(n_boot=200)
    deviation = (fit.T_M - fit.T_M_theory) / fit.T_M_err
    assert (np.abs(deviation) < 4).all(), fit

    store = run_example(tmp_path / "alpha_c", "critical_load",
                        {"N": [400], "T": [0.1, 0.3], "seed": 4})
    ds = open_results(store)
    means = ds.alpha_c.mean(("algorithm", "N", "seed")).values
    assert means[0] > means[1]
    np.testing.assert_allclose(means, rs.critical_load(ds["T"].values), atol=0.03)
