"""Every registered algorithm runs through the one calling convention."""

import dataclasses

import numpy as np
import pytest

from kernels.initial import initial_state
from kernels.patterns import make, point_rng
from kernels.registry import ALGORITHMS, SolverOptions, unused_options
from kernels.status import CONVERGED, DIVERGED, INVALID, NOT_CONVERGED

N, ALPHA = 16, 0.125  # P = 2, so bp_retrieval_wrong has a pattern 1 to condition on
T = np.array([0.3, 2.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_algorithm_returns_the_solution_contract(name, dtype):
    kind = "features" if name == "layered" else "iid"
    params = {"alpha_D": 1.0} if kind == "features" else {}
    patterns = make(kind, N, ALPHA, point_rng(1, N, ALPHA, 0), **params)
    m0 = initial_state(patterns.xi, "retrieval", point_rng(1, N, ALPHA, 0, "init"))
    options = SolverOptions(max_iter=200, mc_sweeps=200, field=0.3, dtype=dtype)
    sol = ALGORITHMS[name].run(patterns, 1 / T, m0, options, point_rng(1, N, ALPHA, 0, "dynamics"))
    P = patterns.P
    assert sol.m.shape == (2, N) and sol.overlap.shape == (2, P)
    for attr in ("q", "free_energy", "iterations", "residual", "status"):
        assert getattr(sol, attr).shape == (2,), attr
    assert set(sol.status) <= {CONVERGED, NOT_CONVERGED, DIVERGED, INVALID}
    # a diverged state, or one outside the method's domain, has no free energy
    assert np.isnan(sol.free_energy[(sol.status == DIVERGED) | (sol.status == INVALID)]).all()
    # the field along pattern 0 polarises every method towards it at high T
    assert sol.overlap[1, 0] > 0.05


@pytest.mark.parametrize(
    ("kind", "params"), [("iid", {}), ("products", {}), ("features_sign", {"alpha_D": 1.0})]
)
def test_layered_refuses_patterns_that_are_not_linear_mixtures(kind, params):
    patterns = make(kind, N, ALPHA, point_rng(1, N, ALPHA, 0), **params)
    with pytest.raises(ValueError, match="kind = 'features'"):
        ALGORITHMS["layered"].run(patterns, 1 / T, patterns.xi[0], SolverOptions(), None)


#: A value away from the default for every SolverOptions field.
CHANGED = {
    "damping": 0.3,
    "tol": 1e-5,
    "max_iter": 7,
    "dtype": "float32",
    "reaction": "spectral",
    "mc_sweeps": 50,
    "mc_chains": 3,
    "field": 0.2,
}


def _run(name: str, options: SolverOptions):
    kind = "features" if name == "layered" else "iid"
    params = {"alpha_D": 1.0} if kind == "features" else {}
    patterns = make(kind, N, ALPHA, point_rng(1, N, ALPHA, 0), **params)
    m0 = initial_state(patterns.xi, "retrieval", point_rng(1, N, ALPHA, 0, "init"))
    return ALGORITHMS[name].run(patterns, 1 / T, m0, options, point_rng(1, N, ALPHA, 0, "dynamics"))


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_options_an_algorithm_does_not_read_have_no_effect_on_it(name):
    # `hopsweep run` notes options that no selected algorithm reads (from
    # Algorithm.reads); that note must be true: changing any other option leaves
    # every result bit-identical.
    assert set(CHANGED) == {f.name for f in dataclasses.fields(SolverOptions)}
    base = SolverOptions(max_iter=200, mc_sweeps=200)
    reference = _run(name, base)
    for option in sorted(set(CHANGED) - ALGORITHMS[name].reads):
        got = _run(name, dataclasses.replace(base, **{option: CHANGED[option]}))
        for attr in ("m", "free_energy", "iterations", "residual", "status"):
            np.testing.assert_array_equal(getattr(got, attr), getattr(reference, attr), option)


def test_unused_options_names_the_algorithms_that_would_read_them():
    options = SolverOptions(mc_sweeps=5000, dtype="float32", reaction="spectral")
    assert unused_options(["tap"], options) == {"mc_sweeps": ["mc"]}
    assert unused_options(["bp", "exact"], options) == {
        "dtype": ["tap", "nmf", "bp_relaxed", "bp_retrieval", "bp_retrieval_wrong"],
        "mc_sweeps": ["mc"],
        "reaction": ["tap"],
    }
    assert unused_options(["tap", "mc"], options) == {}
    assert unused_options(["exact"], SolverOptions()) == {}  # defaults are never noted
