"""The Python API on a real Dask cluster the caller owns: ``sweep.run`` with a dict config.

The caller's ``distributed.Client`` (a LocalCluster of two worker processes) is
used and left open; a rerun recomputes nothing; bad input raises a typed
``ValueError`` naming the key, never ``SystemExit``; the store equals the one
``hopsweep run`` writes for the same config, in a subprocess (the real command).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
import zarr
from cluster_helpers import COMPARED, PROCESS_ENV, hopsweep, run_args

import sweep
from sweep.cli import CLI_WORDS
from sweep.schema import GRID

#: Two algorithms, two sizes, a few loads and temperatures: a few seconds of work.
CONFIG = {
    "name": "api",
    "root_seed": 11,
    "grid": {
        "algorithm": ["tap", "nmf"],
        "N": [60, 90],
        "alpha": [0.05, 0.1],
        "T": {"start": 0.2, "stop": 0.8, "num": 4},
        "seed": 3,
    },
    "cluster": {"workers": 2},
}

#: Provenance attributes that name when a store was written (they differ between runs).
TIMESTAMPS = ("created", "updated")


@pytest.fixture(scope="module")
def client():
    """The caller's own cluster: two worker processes of one thread each."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", env=dict(PROCESS_ENV)) as cluster, \
            Client(cluster) as client:
        yield client


def chunk_files(store: Path) -> dict[str, int]:
    """Modification times (ns) of every chunk file of a store (metadata excluded)."""
    return {str(f.relative_to(store)): f.stat().st_mtime_ns for f in store.rglob("*")
            if f.is_file() and "/c/" in f.as_posix()}


@pytest.fixture(scope="module")
def api_store(tmp_path_factory, client):
    """The store ``sweep.run`` writes on the caller's client, and the returned Dataset."""
    store = tmp_path_factory.mktemp("api") / "api.zarr"
    ds = sweep.run(copy.deepcopy(CONFIG), store=store, client=client, progress=False)
    return store, ds


def test_run_on_the_callers_client_computes_every_point_and_leaves_it_open(api_store, client):
    store, ds = api_store
    assert isinstance(ds, xr.Dataset)
    assert tuple(ds.sizes) == GRID.dims
    assert ds.sizes["algorithm"] == 2 and ds.sizes["seed"] == 3
    status = ds.status.values
    assert (status != 0).all() and (status != 4).all()  # every point has a result
    assert (ds.status == 1).any()
    assert client.status == "running"
    assert client.submit(sum, [1, 2, 3]).result() == 6  # still usable after the run
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_rerun_on_the_same_store_recomputes_nothing(api_store, client):
    store, first = api_store
    before = chunk_files(store)
    assert before, "the store has chunk files"
    again = sweep.run(copy.deepcopy(CONFIG), store=store, client=client, progress=False)
    assert chunk_files(store) == before  # not one chunk rewritten
    xr.testing.assert_identical(again.load(), first.load())


def test_bad_dict_raises_a_typed_error_naming_the_key(tmp_path, client):
    bad = copy.deepcopy(CONFIG)
    bad["grid"]["T"] = {"start": -0.1, "stop": 1.0, "num": 3}
    store = tmp_path / "bad.zarr"
    with pytest.raises(sweep.SpecError) as caught:
        sweep.run(bad, store=store, client=client, progress=False)
    assert isinstance(caught.value, ValueError)
    assert "`grid.T`" in str(caught.value) and "start > 0" in str(caught.value)
    assert not store.exists()
    bad = copy.deepcopy(CONFIG)
    bad["solver"] = {"damp": 0.5}
    with pytest.raises(ValueError, match=r"`solver\.damp`: unknown key"):
        sweep.dry_run(bad)


def test_another_spec_is_refused_in_python_terms_then_replaced(tmp_path, client):
    store = tmp_path / "s.zarr"
    small = copy.deepcopy(CONFIG)
    small["grid"].update(N=[60], alpha=[0.05], algorithm=["tap"])
    sweep.run(small, store=store, client=client, progress=False)
    changed = copy.deepcopy(small)
    changed["grid"]["seed"] = 2
    with pytest.raises(sweep.StoreMismatch) as caught:
        sweep.run(changed, store=store, client=client, progress=False)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "overwrite=True" in message and "--" not in message and "grid.seed" in message
    assert "--overwrite" in caught.value.render(CLI_WORDS)  # the command speaks flags
    ds = sweep.run(changed, store=store, client=client, overwrite=True, progress=False)
    assert ds.sizes["seed"] == 2 and (ds.status != 0).all()


def test_a_locked_store_is_refused(tmp_path, client):
    from sweep.lock import StoreLock

    store = tmp_path / "s.zarr"
    small = copy.deepcopy(CONFIG)
    small["grid"].update(N=[60], alpha=[0.05], algorithm=["tap"], seed=1)
    plan_only = sweep.dry_run(small, store=store)
    assert "new" in str(plan_only) and not store.exists()
    sweep.run(small, store=store, client=client, progress=False)
    with StoreLock(store), pytest.raises(sweep.StoreBusy, match="another hopsweep process"):
        sweep.run(small, store=store, client=client, retry_failed=True, progress=False)


def test_status_counts_every_code(api_store):
    store, ds = api_store
    report = sweep.status(store)
    assert report.total == ds.status.size and report.complete
    for code, meaning in zip(ds.status.attrs["flag_values"],
                             ds.status.attrs["flag_meanings"].split(), strict=True):
        assert report.counts[meaning] == int((ds.status == code).sum()), meaning
    assert "invalid" in report.counts
    assert f"done      {report.total}/{report.total}" in str(report)


def test_the_command_writes_the_same_store(api_store, tmp_path):
    """``hopsweep run`` on the same config, as a TOML file: every array and attribute
    equal, but the measured wall times and the times the store was written."""
    api_path, _ = api_store
    config = tmp_path / "api.toml"
    config.write_text(tomli_w.dumps(CONFIG))
    cli_path = tmp_path / "cli.zarr"
    done = hopsweep(*run_args(config, cli_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    api, cli = zarr.open_group(str(api_path), mode="r"), zarr.open_group(str(cli_path), mode="r")
    assert sorted(api.array_keys()) == sorted(cli.array_keys())
    compared = 0
    for name in api.array_keys():
        assert dict(api[name].attrs) == dict(cli[name].attrs), name
        assert api[name].dtype == cli[name].dtype and api[name].chunks == cli[name].chunks, name
        if name == "wall_time":
            continue
        a, c = api[name][...], cli[name][...]
        if a.dtype.kind == "f":  # bit for bit, NaN included
            assert a.tobytes() == c.tobytes(), name
        else:
            np.testing.assert_array_equal(a, c, err_msg=name)
        compared += name in COMPARED
    assert compared == len(COMPARED)
    attrs = {k: v for k, v in api.attrs.items() if k not in TIMESTAMPS}
    assert attrs == {k: v for k, v in cli.attrs.items() if k not in TIMESTAMPS}


def test_failed_points_warn_and_stay_in_the_store(tmp_path, client):
    from sweep.tasks import FAULT_VARIABLE

    client.run(lambda: __import__("os").environ.__setitem__(FAULT_VARIABLE, "alpha=0.1"))
    try:
        with pytest.warns(sweep.FailedPointsWarning, match="retry_failed=True"):
            ds = sweep.run(CONFIG, store=tmp_path / "f.zarr", client=client, progress=False)
    finally:
        client.run(lambda: __import__("os").environ.pop(FAULT_VARIABLE, None))
    failed = (ds.status == 4).values
    assert failed[:, :, 1].all() and not failed[:, :, 0].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", sweep.FailedPointsWarning)
        again = sweep.run(CONFIG, store=tmp_path / "f.zarr", client=client, retry_failed=True,
                          progress=False)
    assert (again.status != 4).all()


def test_pilot_samples_spread_loads_within_its_budget():
    """The pilot takes the most evenly spread loads whose model cost fits its budget,
    both ends of the axis when two fit, the middle when one does, none when none does."""
    from sweep.calibration import _sample_indices

    costs = np.array([1.0, 1.0, 4.0, 1.0, 1.0, 2.0, 1.0])
    assert list(_sample_indices(costs, 100.0)) == list(range(7))
    chosen = _sample_indices(costs, 4.0)
    assert costs[chosen].sum() <= 4.0 and {0, 6} <= set(chosen)
    assert list(_sample_indices(costs, 2.0)) == [0, 6]
    assert list(_sample_indices(costs, 1.0)) == [3]  # one sample: the middle load
    assert _sample_indices(costs, 0.5).size == 0


def test_a_tolerance_raised_by_float32_is_noted_and_stored(tmp_path, client):
    """tol = 1e-8 cannot be met in float32: the run says what it uses instead, and so
    does the store; in float64 nothing is said."""
    small = copy.deepcopy(CONFIG)
    small["grid"].update(N=[60], alpha=[0.05], algorithm=["tap"], seed=1)
    assert not any("raised" in note for note in sweep.dry_run(small).notes)
    small["solver"] = {"dtype": "float32", "tol": 1e-8}
    floor = 32 * float(np.finfo(np.float32).eps)
    notes = [note for note in sweep.dry_run(small).notes if "raised" in note]
    assert len(notes) == 1 and f"{floor:.2g}" in notes[0] and "tol = 1e-08" in notes[0]
    ds = sweep.run(small, store=tmp_path / "f32.zarr", client=client, progress=False)
    assert ds.attrs["effective_tol"] == pytest.approx(floor)
    converged = ds.status.values == 1
    assert converged.any() and (ds.residual.values[converged] <= 10 * floor).all()
