"""Transition mode of the engine: config validation, the store, resume after SIGKILL.

The searches themselves are tested in test_transition.py; here the engine must
validate a ``[transition]`` table key by key, store one transition per sample
with CF attributes, and, killed mid-run, resume to the very same values.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import zarr
from cluster_helpers import hopsweep, hopsweep_popen, run_args, slow_env, wait_for_progress

from kernels import patterns, transition
from kernels.registry import SolverOptions
from kernels.status import TRANSITION_LOCATED, TRANSITION_MEANINGS, TRANSITION_NOT_MONOTONE
from sweep.config import parse_spec
from sweep.errors import SpecError
from sweep.tasks import NESTED_ALPHA_KEY

#: 12 tasks of small samples (N = 200, 300): a few seconds on two workers.
SWEEP = """
name = "transitions"
root_seed = 11

[grid]
algorithm = ["tap"]
N = [200, 300]
alpha = [0.03, 0.05, 0.07, 0.09, 0.11, 0.13]
seed = 3

[transition]
kind = "retrieval_temperature"
T = { lo = 0.05, hi = 1.3 }
precision = 0.005

[solver]
max_iter = 500
"""

#: Seconds each task sleeps first (tests/slow_tasks.py), so the kill lands mid-run.
TASK_DELAY = 0.5


def config(**tables):
    """A small critical_load config with ``tables`` merged in (None removes a key)."""
    raw = {
        "grid": {"algorithm": ["tap"], "N": [200], "T": [0.1], "seed": 2},
        "transition": {"kind": "critical_load", "alpha": {"lo": 0.05, "hi": 0.2},
                       "precision": 0.005},
    }
    for table, values in tables.items():
        merged = {**raw.get(table, {}), **values}
        raw[table] = {k: v for k, v in merged.items() if v is not None}
    return raw


@pytest.mark.parametrize(
    ("tables", "key"),
    [
        ({"transition": {"kind": "phase"}}, "transition.kind"),
        ({"transition": {"kind": None}}, "transition.kind"),
        ({"transition": {"precision": None}}, "transition.precision"),
        ({"transition": {"precision": -0.1}}, "transition.precision"),
        ({"transition": {"precision": 0.5}}, "transition.precision"),
        ({"transition": {"points": 1}}, "transition.points"),
        ({"transition": {"alpha": {"lo": 0.2, "hi": 0.05}}}, "transition.alpha"),
        ({"transition": {"alpha": {"lo": 0.05}}}, "transition.alpha.hi"),
        ({"transition": {"alpha": {"lo": 0.001, "hi": 0.2}}}, "transition.alpha.lo"),
        ({"transition": {"T": {"lo": 0.1, "hi": 1.0}}}, "transition.T.lo"),
        ({"transition": {"alpha": {"lo": 0.05, "hi": 0.2, "mid": 0.1}}}, "transition.alpha.mid"),
        ({"grid": {"alpha": [0.1]}}, "grid.alpha"),
        ({"grid": {"T": None}}, "grid.T"),
        ({"patterns": {"kind": "products"}}, "patterns.kind"),
        ({"output": {"sites": True}}, "output.sites"),
    ],
)
def test_a_bad_transition_config_names_the_key(tables, key):
    with pytest.raises(SpecError, match=f"`{key}`"):
        parse_spec(config(**tables))


def test_retrieval_temperature_needs_its_own_bracket_and_no_T_axis():
    raw = config(transition={"kind": "retrieval_temperature"}, grid={"T": None, "alpha": [0.1]})
    with pytest.raises(SpecError, match="`transition.T.lo`") as caught:
        parse_spec(raw)
    assert "`transition.alpha.lo`" in str(caught.value)  # the other kind's bracket
    raw["transition"] = {"kind": "retrieval_temperature", "T": {"lo": 0.05, "hi": 1.3},
                         "precision": 0.01}
    raw["grid"]["T"] = [0.1]
    with pytest.raises(SpecError, match="`grid.T`"):
        parse_spec(raw)
    del raw["grid"]["T"]
    spec = parse_spec(raw)
    assert spec.dims == ("algorithm", "N", "alpha", "seed") and spec.T == ()
    assert spec.transition.searched == "T" and spec.transition.points == transition.DEFAULT_POINTS


def test_a_grid_spec_keeps_its_hash_and_a_transition_spec_round_trips():
    from sweep.spec import spec_from_canonical

    grid = parse_spec({"grid": {"N": [100], "alpha": [0.1], "T": [0.5]}})
    assert "transition" not in grid.canonical
    spec = parse_spec(config())
    again = spec_from_canonical(spec.canonical)
    assert again.hash == spec.hash and again.transition == spec.transition
    assert spec.hash != parse_spec(config(transition={"precision": 0.004})).hash


def test_a_transition_store_holds_what_the_kernel_finds_with_cf_attributes(tmp_path):
    """Shard mode (no scheduler) into a fresh store: every sample located or flagged,
    each equal to kernels.transition on the regenerated patterns."""
    path = tmp_path / "c.toml"
    path.write_text("""
name = "c"
root_seed = 5
[grid]
N = [200]
T = [0.1, 0.3]
seed = 2
[transition]
kind = "critical_load"
alpha = { lo = 0.03, hi = 0.2 }
precision = 0.005
""")
    store = tmp_path / "c.zarr"
    done = hopsweep("shard", str(path), "--index", "0", "--count", "1", "--store", str(store),
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    root = zarr.open_group(str(store), mode="r")
    assert list(root["alpha_c"].metadata.dimension_names) == ["algorithm", "N", "T", "seed"]
    status = root["status"]
    assert status.attrs["flag_meanings"].split() == list(TRANSITION_MEANINGS.values())
    assert root["alpha_c"].attrs["units"] == "1" and "long_name" in root["lo"].attrs
    assert np.isin(status[...], [TRANSITION_LOCATED, TRANSITION_NOT_MONOTONE]).all()
    import sweep

    ds = sweep.open_results(store)
    for t, T in enumerate((0.1, 0.3)):
        for seed in (0, 1):
            rng = patterns.point_rng(5, 200, NESTED_ALPHA_KEY, seed)
            xi = patterns.iid(200, 0.2, rng)
            again = sweep.patterns_for(ds, algorithm="tap", N=200, seed=seed)
            np.testing.assert_array_equal(again.xi, xi.xi)
            assert sweep.patterns_for(ds, algorithm="tap", N=200, seed=seed, alpha=0.1).P == 20
            dynamics = patterns.point_rng(5, 200, NESTED_ALPHA_KEY, seed, "dynamics")
            found = transition.critical_load(xi, T, 0.03, 0.2, precision=0.005,
                                             options=SolverOptions(), rng=dynamics)
            assert root["alpha_c"][0, 0, t, seed] == found.estimate
            assert root["iterations"][0, 0, t, seed] == found.iterations
    # alpha_c falls as T rises (RS: 0.135 at T = 0.1, 0.10 at T = 0.3)
    assert root["alpha_c"][0, 0, 1].mean() < root["alpha_c"][0, 0, 0].mean()

    # the store reads back as a Dataset; one size cannot be extrapolated (NaN, not
    # an error), and `hopsweep plot` draws the transition figure
    fit = ds.hopfield.extrapolate(n_boot=10)
    assert np.isnan(fit["alpha_c"]).all() and int(fit["n_used"].sum()) == 4
    plotted = hopsweep("plot", str(store), "-o", str(tmp_path / "c.png"), cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "c.png").stat().st_size > 0


def test_a_run_killed_midway_resumes_to_the_same_values_bit_for_bit(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(SWEEP)
    reference = tmp_path / "reference.zarr"
    done = hopsweep(*run_args(path, reference, "--workers", "2"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    store = tmp_path / "killed.zarr"
    first = hopsweep_popen(*run_args(path, store, "--workers", "2"), cwd=tmp_path,
                           log=tmp_path / "first.log", extra_env=slow_env(TASK_DELAY))
    wait_for_progress(store, first)
    os.killpg(first.pid, signal.SIGKILL)  # driver and workers: its own session
    first.wait(timeout=60)
    status = zarr.open_group(str(store), mode="r", use_consolidated=False)["status"][...]
    assert 0 < int((status == 0).sum()) < status.size, "the kill must land mid-run"
    rerun = hopsweep(*run_args(path, store, "--workers", "2"), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"computed {int((status == 0).sum())} points" in rerun.stderr, rerun.stderr

    got = zarr.open_group(str(store), mode="r")
    want = zarr.open_group(str(reference), mode="r")
    for name in ("T_M", "lo", "hi", "evaluations", "iterations", "status"):
        np.testing.assert_array_equal(got[name][...], want[name][...], err_msg=name)
    assert (got["status"][...] != 0).all()


def test_tasks_that_cannot_fit_in_a_workers_memory_are_refused_before_running():
    """N = 16000 with P up to 2240: a task peaks near 1.3 GiB (bench/transitions.py),
    which a 1 GB worker job cannot hold; 8 GB can."""
    from sweep.cluster import check_memory
    from sweep.plan import make_plan

    raw = config(grid={"N": [16000]}, transition={"alpha": {"lo": 0.1, "hi": 0.14}},
                 cluster={"kind": "slurm", "jobqueue": {"memory": "1GB", "cores": 1}})
    spec = parse_spec(raw)
    task = make_plan(spec).task_bytes()
    assert 1.0e9 < task < 2.0e9
    with pytest.raises(SpecError, match="`cluster.jobqueue.memory`"):
        check_memory(spec.cluster, task)
    raw["cluster"]["jobqueue"]["memory"] = "8GB"
    check_memory(parse_spec(raw).cluster, task)
    with pytest.raises(SpecError, match="`cluster.workers`"):
        check_memory(parse_spec(config(cluster={"workers": 10**6})).cluster, task)


@pytest.mark.parametrize("kind", ["retrieval_temperature", "critical_load"])
def test_dry_run_of_a_search_measures_its_pilot_and_writes_nothing(tmp_path, kind):
    """The dry run's estimate of a transition sweep comes from real searches (the pilot),
    which write nothing."""
    import tomllib

    import sweep

    raw = tomllib.loads(SWEEP) if kind == "retrieval_temperature" else config()
    store = tmp_path / "t.zarr"
    plan = sweep.dry_run(raw, store=store)
    assert plan.estimated_seconds > 0 and plan.pilot_seconds > 0
    assert "pilot" in plan.estimate_basis and not store.exists()
    assert "estimate" in str(plan) and "core-seconds of compute" in str(plan)
