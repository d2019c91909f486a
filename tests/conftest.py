"""Shared fixtures of the engine tests: the sweeps they run.

The sweeps are tiny TAP campaigns whose results are compared across run modes
(workers, resume, faults) with ``assert_identical``. They are not the cluster
tests' ``cluster_helpers.TINY`` / ``LONG``: their grids and sizes serve these tests
(alpha = 0.08 for fault injection, 48 tasks of real compute for kills and signals,
``test_engine``'s task counts), so engine tests do not move when those change.
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


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory):
    """``reference_store(sweep) -> path``: the store of a plain two-worker ``hopsweep run``.

    Run once per sweep text and session; every other run mode must reproduce it.
    """
    from cluster_helpers import local_run

    stores = {}

    def get(sweep: str):
        if sweep not in stores:
            stores[sweep] = local_run(tmp_path_factory.mktemp("reference"), sweep)
        return stores[sweep]

    return get


@pytest.fixture(scope="session")
def assert_identical(reference_store):
    """``assert_identical(store, sweep)``: every point done and bit-identical to the reference.

    Exact equality is the right test: each point is computed by the same
    deterministic float64 code with one BLAS thread, whatever the worker, the
    process or the order; a difference is a lost, duplicated or misplaced result.
    NaN compares equal to NaN here. The variables compared are
    ``cluster_helpers.COMPARED`` (``wall_time`` differs by nature); ``error`` must
    be empty everywhere.
    """
    import xarray as xr
    from cluster_helpers import assert_same_points

    def check(store, sweep: str) -> None:
        with xr.open_zarr(reference_store(sweep)) as ref, xr.open_zarr(store) as got:
            assert_same_points(got, ref)
            assert (got["error"].values == "").all()

    return check


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers of ``--numprocesses=auto``: the CPUs this process may use (its cgroup
    quota and affinity, as Dask counts them), where pytest-xdist would take the
    physical cores psutil reports, a container's whole host."""
    from dask.system import CPU_COUNT

    return CPU_COUNT


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every test that uses Slurm in one pytest-xdist group (``--dist loadgroup``).

    They share the one Slurm of the machine, and each cancels the test jobs it
    finds (``clean_slurm_queue``): run side by side they would cancel each other's.
    """
    for item in items:
        if "slurm" in getattr(item, "fixturenames", ()) or item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))


@pytest.fixture(autouse=True)
def _no_sweep_left_running():
    """After each test, stop the ``hopsweep`` processes it started and left running
    (``cluster_helpers.stop_started``)."""
    yield
    from cluster_helpers import stop_started

    stop_started()


@pytest.fixture
def slurm():
    """A responding Slurm (skip with the reason, or fail under CI=true), none of our jobs."""
    from cluster_helpers import clean_slurm_queue, require_slurm, stop_started

    require_slurm()
    clean_slurm_queue()
    yield
    stop_started()  # a driver still running would submit jobs again
    clean_slurm_queue()
