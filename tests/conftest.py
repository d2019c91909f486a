"""Shared fixtures of the engine tests: the sweeps they run.

The sweeps are tiny TAP campaigns whose results are compared across run modes
(workers, resume, faults) with ``cluster_helpers.reference``; they are defined
here, not in the cluster helpers, so engine tests do not move when those change.
"""

from __future__ import annotations

import pytest

#: 8 tasks (one per (N, alpha); the cost model puts all 3 seeds in one block),
#: 120 points, about a second of float64 TAP. alpha = 0.08 is a grid value (the
#: fault-injection tests select it).
SMALL_SWEEP = """
name = "small"
root_seed = 7

[grid]
algorithm = ["tap"]
N = [50, 80]
alpha = [0.04, 0.08, 0.12, 0.16]
T = { start = 0.1, stop = 0.9, num = 5 }
seed = 3

[solver]
max_iter = 300
"""

#: 48 tasks of 0.02-0.3 s (several seconds on two workers), so a process killed
#: when the first results land leaves most of the sweep pending.
LONG_SWEEP = """
name = "long"
root_seed = 7

[grid]
algorithm = ["tap"]
N = [300, 500]
alpha = { start = 0.02, stop = 0.16, num = 24 }
T = { start = 0.1, stop = 0.9, num = 6 }
seed = 6

[solver]
max_iter = 300
"""


@pytest.fixture(scope="session")
def small_sweep() -> str:
    return SMALL_SWEEP


@pytest.fixture(scope="session")
def long_sweep() -> str:
    return LONG_SWEEP


#: Variables that must be bit-identical between run modes (``wall_time`` differs by
#: nature; ``error`` is checked to be empty).
COMPARED = ("m", "m_other", "q", "free_energy", "iterations", "residual", "converged", "status")


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory):
    """``reference_store(sweep) -> path``: the store of a plain two-worker ``hopsweep run``.

    Run once per sweep text and session; every other run mode must reproduce it.
    """
    from cluster_helpers import hopsweep, write_config

    stores = {}

    def get(sweep: str):
        if sweep not in stores:
            directory = tmp_path_factory.mktemp("reference")
            config = write_config(directory, sweep)
            store = directory / "reference.zarr"
            done = hopsweep("run", str(config), "--store", str(store), "--workers", "2",
                            cwd=directory)
            assert done.returncode == 0, done.stderr
            stores[sweep] = store
        return stores[sweep]

    return get


@pytest.fixture(scope="session")
def assert_identical(reference_store):
    """``assert_identical(store, sweep)``: every point done and bit-identical to the reference.

    Exact equality is the right test: each point is computed by the same
    deterministic float64 code with one BLAS thread, whatever the worker, the
    process or the order; a difference is a lost, duplicated or misplaced result.
    NaN compares equal to NaN here.
    """
    import numpy as np
    import xarray as xr

    def check(store, sweep: str) -> None:
        with xr.open_zarr(reference_store(sweep)) as ref, xr.open_zarr(store) as got:
            assert got.attrs["spec_hash"] == ref.attrs["spec_hash"]
            assert int((got.status == 0).sum()) == 0, "points left pending"
            for name in COMPARED:
                np.testing.assert_array_equal(got[name].values, ref[name].values, err_msg=name)
            assert (got["error"].values == "").all()

    return check
