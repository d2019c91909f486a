"""Plan, store, tasks and runner, in-process (the runner on a real LocalCluster).

The dataset schema is checked against DESIGN.md; stored values against the
kernel called directly on the same disorder (so the engine's labelling, axis
order and random streams are what is tested, not the physics, which the kernel
tests check against exact enumeration, Monte Carlo and RS theory).
"""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
import tracemalloc
import types

import numpy as np
import pytest
import xarray as xr
from cluster_helpers import env, pseudo_terminal

from kernels.initial import initial_state
from kernels.patterns import iid, point_rng
from kernels.registry import ALGORITHMS
from kernels.status import FAILED, PENDING
from sweep import open_results, patterns_for
from sweep.cluster import connect
from sweep.config import parse_spec
from sweep.cost import seed_cost
from sweep.errors import StoreBusy, StoreMismatch
from sweep.lock import StoreLock
from sweep.plan import Plan, make_plan
from sweep.progress import Progress
from sweep.runner import run
from sweep.spec import ClusterSpec
from sweep.store import Writer, create

DIMS = ("algorithm", "N", "alpha", "seed", "T")

#: A spec of 10^6 points (1 x 1 x 100 alpha x 100 seeds x 100 T) for the lazy-plan checks.
MILLION = """
name = "million"
[grid]
N = [1000]
alpha = { start = 0.01, stop = 0.2, num = 100 }
T = { start = 0.05, stop = 1.5, num = 100 }
seed = 100
"""


#: Seconds between two looks at the scheduler's task count.
SAMPLE_INTERVAL = 0.005


def plan_tasks(spec) -> int:
    return make_plan(spec).n_tasks


def _spec(text: str, **solver):
    raw = tomllib.loads(text)
    raw.setdefault("solver", {}).update(solver)
    return parse_spec(raw)


# ----------------------------------------------------------------------------- plan


def test_tasks_cover_every_sample_once_and_shards_are_disjoint(long_sweep):
    spec = _spec(long_sweep)
    plan = make_plan(spec)
    cover = np.zeros(spec.shape[:4], dtype=int)
    for task in plan.tasks():
        assert plan.task(task.id) == task
        assert task.s1 - task.s0 <= plan.seed_block
        cover[task.a, task.n, task.k, task.s0:task.s1] += 1
    assert (cover == 1).all()
    shards = [{t.id for t in plan.tasks(i, 3)} for i in range(3)]
    assert set().union(*shards) == set(range(plan.n_tasks))
    assert sum(len(s) for s in shards) == plan.n_tasks
    with pytest.raises(ValueError, match="task_id"):
        plan.task(plan.n_tasks)


def test_pending_tasks_come_most_expensive_first_and_cover_every_sample(long_sweep):
    spec = _spec(long_sweep)
    plan = make_plan(spec)
    status = np.full(spec.shape, PENDING, dtype=np.int8)
    order = [task for task, _ in plan.pending(status)]
    # every task once, whatever the order
    assert sorted(t.id for t in order) == list(range(plan.n_tasks))
    # non-increasing estimated cost: P grows with alpha, so the largest loads lead
    costs = [seed_cost(spec, spec.algorithm[t.a], spec.N[t.n], spec.alpha[t.k]) for t in order]
    assert costs == sorted(costs, reverse=True) and costs[0] > costs[-1]
    # shards of the pending tasks are disjoint and cover them all
    shards = [{t.id for t, _ in plan.pending(status, index=i, count=3)} for i in range(3)]
    assert set().union(*shards) == set(range(plan.n_tasks))
    assert sum(len(s) for s in shards) == plan.n_tasks
    # done seeds are skipped
    status[...] = 1
    status[0, 0, 0, 0, 0] = PENDING
    assert [(t.a, t.n, t.k, t.s0) for t, _ in plan.pending(status)] == [(0, 0, 0, 0)]


def test_cost_model_groups_cheap_seeds_and_splits_expensive_ones(small_sweep):
    cheap = make_plan(_spec(small_sweep))
    assert cheap.seed_block == 3  # N <= 80: a seed costs ms, all three in one task

    def heavy(seeds: int, workers: int) -> Plan:
        text = small_sweep.replace("N = [50, 80]", "N = [4000]").replace(
            "seed = 3", f"seed = {seeds}")
        return make_plan(_spec(f"{text}\n[cluster]\nworkers = {workers}\n"))

    # By hand from the model in sweep/cost.py: 4 N P K x 50 iterations at 10 GFLOP/s,
    # P = 160..640, K = 5, + 3 ms fixed = 0.067, 0.131, 0.195, 0.259 s per seed
    # (median 0.163 s, sum 0.652 s). Tasks of tau = sqrt(2 C 0.03 s / workers),
    # C = seeds x 0.652 s, within [0.5 s, 5 s]:
    # 64 seeds, 2 workers: C = 41.7 s, tau = 1.12 s, ceil(1.12 / 0.163) = 7 seeds
    assert heavy(64, 2).seed_block == 7
    # the same on 8 workers: tau = 0.56 s, 4 seeds (a longer tail costs 8 workers more)
    assert heavy(64, 8).seed_block == 4
    # 8 shards of `hopsweep shard` plan as 8 workers, whatever [cluster] says
    assert make_plan(heavy(64, 2).spec, workers=8).seed_block == 4
    # 3000 seeds: tau = 7.7 s is capped at 5 s, ceil(5 / 0.163) = 31 seeds
    assert heavy(3000, 2).seed_block == 31
    # 16 seeds, 1 worker: tau = 0.79 s asks for 5 seeds, i.e. 4 blocks (5, 5, 5, 1);
    # the seeds are shared evenly instead: 4 blocks of 4
    assert heavy(16, 1).seed_block == 4
    # a grid too small to give each of the 2 workers 2 tasks of 3 seeds is cut finer
    few = _spec(small_sweep.replace("N = [50, 80]", "N = [50]").replace(
        "alpha = [0.04, 0.08, 0.12, 0.16]", "alpha = [0.08]"))
    assert few.n_points and make_plan(few).seed_block == 1


def test_plan_and_template_of_a_million_points_are_lazy_and_small(tmp_path):
    tracemalloc.start()
    spec = _spec(MILLION)
    plan = make_plan(spec)
    tasks = plan.tasks()
    assert isinstance(tasks, types.GeneratorType)
    n_tasks = sum(1 for _ in tasks)
    create(tmp_path / "million.zarr", spec, plan)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert spec.n_points == 10**6 and n_tasks == plan.n_tasks
    # per-point objects would take > 100 bytes each, i.e. > 100 MB
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    files = [p for p in (tmp_path / "million.zarr").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2**20  # metadata and coordinates only
    assert len(files) < 40


# ----------------------------------------------------------------------------- store


# warnings.catch_warnings (which hides Zarr's note on consolidated metadata) is not
# thread-safe; real creators are separate processes.
@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_concurrent_creation_makes_one_store(tmp_path, small_sweep):
    spec = _spec(small_sweep)
    plan = make_plan(spec)
    path = tmp_path / "race.zarr"
    barrier = threading.Barrier(4)
    outcomes = []

    def creator():
        barrier.wait()
        outcomes.append(create(path, spec, plan))

    threads = [threading.Thread(target=creator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, False, False, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.zarr"]  # no temporaries left
    assert (Writer(path).status() == PENDING).all()
    other = _spec(small_sweep, tol=1e-6)
    with pytest.raises(StoreMismatch, match="overwrite=True"):  # the library speaks Python
        create(path, other, make_plan(other))


def test_lock_is_exclusive_for_runs_shared_for_shards_and_dies_with_its_process(tmp_path,
                                                                                small_sweep):
    spec = _spec(small_sweep)
    path = tmp_path / "s.zarr"
    create(path, spec, make_plan(spec))
    with StoreLock(path):
        with pytest.raises(StoreBusy, match="another hopsweep process"):
            StoreLock(path).acquire()
        with pytest.raises(StoreBusy):
            StoreLock(path, shared=True).acquire()
    with StoreLock(path, shared=True), StoreLock(path, shared=True):
        with pytest.raises(StoreBusy):
            StoreLock(path).acquire()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from sweep.lock import StoreLock; "
         f"lock = StoreLock({str(path)!r}).acquire(); print('held', flush=True); "
         "time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, env=env())
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(StoreBusy):
        StoreLock(path).acquire()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    StoreLock(path).acquire().release()


def test_partial_block_write_touches_only_its_seeds(tmp_path, small_sweep):
    spec = _spec(small_sweep)
    plan = make_plan(spec)
    path = tmp_path / "s.zarr"
    create(path, spec, plan)
    writer = Writer(path)
    task = plan.task(0)
    K = len(spec.T)
    seeds = np.array([False, True, False])
    values = {name: np.full((1, K), 0.5) for name in ("m", "m_other", "q", "free_energy",
                                                       "residual", "wall_time")}
    values |= {"iterations": np.full((1, K), 7, dtype=np.int32),
               "n_condensed": np.ones((1, K), np.int32), "best_pattern": np.zeros((1, K), np.int32),
               "converged": np.ones((1, K), bool), "status": np.ones((1, K), np.int8)}
    writer.write_result(task, seeds, values)
    writer.write_failure(plan.task(1), np.array([True, False, True]), "ValueError: boom")
    status = writer.status()
    assert (status[0, 0, 0, 1] == 1).all() and (status[0, 0, 0, [0, 2]] == PENDING).all()
    assert (status[0, 0, 1, [0, 2]] == FAILED).all() and (status[0, 0, 1, 1] == PENDING).all()
    ds = open_results(path)
    assert ds.m.values[0, 0, 0, 1].tolist() == [0.5] * K
    assert np.isnan(ds.m.values[0, 0, 0, [0, 2]]).all()
    assert ds.error.values[0, 0, 1].tolist() == ["ValueError: boom", "", "ValueError: boom"]


# ----------------------------------------------------------------------------- a real sweep


@pytest.fixture(scope="module")
def swept(tmp_path_factory, small_sweep):
    """The small sweep run in-process by sweep.runner on a one-worker LocalCluster."""
    directory = tmp_path_factory.mktemp("engine")
    spec = dataclasses.replace(_spec(small_sweep), cluster=ClusterSpec(workers=1))
    plan = make_plan(spec)
    path = directory / "small.zarr"
    create(path, spec, plan)
    with_sites = dataclasses.replace(spec, sites=True)
    sites_path = directory / "sites.zarr"
    create(sites_path, with_sites, make_plan(with_sites))
    peak = []
    with StoreLock(path), StoreLock(sites_path), connect(spec.cluster) as client:
        done = threading.Event()

        def sample_scheduler():  # tasks the scheduler holds, sampled during the run
            while not done.is_set():
                peak.append(client.run_on_scheduler(lambda dask_scheduler:
                                                    len(dask_scheduler.tasks)))
                time.sleep(SAMPLE_INTERVAL)

        sampler = threading.Thread(target=sample_scheduler)
        sampler.start()
        try:
            summary = run(plan, str(path), client)
        finally:
            done.set()
            sampler.join()
        run(make_plan(with_sites), str(sites_path), client)
    return spec, path, summary, sites_path, max(peak)


def _worker_environment() -> dict[str, str | None]:
    names = ("MALLOC_TRIM_THRESHOLD_", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "OMP_NUM_THREADS")
    return {name: os.environ.get(name) for name in names}


@pytest.mark.parametrize("leaked", [False, True])
def test_local_workers_run_one_thread_without_malloc_trimming(monkeypatch, leaked):
    # Dask's nanny exports MALLOC_TRIM_THRESHOLD_=65536 by default, which makes the
    # kernels' large temporaries page-fault ~4x as often; the local cluster unsets it,
    # also when an earlier plain LocalCluster of the session left it in this process
    if leaked:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    else:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with connect(ClusterSpec(workers=1)) as client:
        (environment,) = client.run(_worker_environment).values()
    assert environment == {"MALLOC_TRIM_THRESHOLD_": None, "NUMBA_NUM_THREADS": "1",
                           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == ("65536" if leaked else None)


def test_in_process_run_completes_and_matches_the_cli_run(swept, small_sweep,
                                                         assert_identical):
    spec, path, summary, _, peak = swept
    assert summary.points_total == summary.points_done == spec.n_points
    assert summary.points_failed == 0 and summary.stopped is None
    assert_identical(path, small_sweep)  # against `hopsweep run` with two workers
    # 8 tasks, never more than max_in_flight (4) submitted at once
    assert plan_tasks(spec) == 8 and 1 <= peak <= spec.cluster.max_in_flight == 4


def test_dataset_schema_follows_the_design(swept):
    spec, path, _, _, _ = swept
    ds = open_results(path)
    assert tuple(ds.sizes) == DIMS
    dtypes = {"m": "float64", "m_other": "float64", "q": "float64", "free_energy": "float64",
              "iterations": "int32", "residual": "float64", "converged": "bool",
              "n_condensed": "int32", "best_pattern": "int32", "wall_time": "float64",
              "status": "int8"}
    for name, dtype in dtypes.items():
        assert ds[name].dims == DIMS, name
        assert ds[name].dtype == np.dtype(dtype), name
        assert ds[name].attrs["long_name"] and "units" in ds[name].attrs, name
    assert ds.wall_time.attrs["units"] == "s"
    assert ds.error.dims == DIMS[:4]
    assert list(ds.status.attrs["flag_values"]) == [0, 1, 2, 3, 4, 5]
    assert (ds.status.attrs["flag_meanings"]
            == "pending converged not_converged diverged failed invalid")
    # a state near pattern 0 is one condensed pattern, pattern 0; a state far from all is none
    retrieving = (ds.status == 1) & (ds.m > 0.9)
    assert retrieving.any()
    assert (ds.n_condensed.where(retrieving) == 1).sum() == retrieving.sum()
    assert (ds.best_pattern.where(retrieving) == 0).sum() == retrieving.sum()
    assert ((ds.n_condensed >= 0) & (ds.best_pattern >= 0)).all()  # every point was run
    assert list(ds.algorithm.values) == ["tap"]
    np.testing.assert_array_equal(ds.N, spec.N)
    np.testing.assert_array_equal(ds.alpha, spec.alpha)
    np.testing.assert_array_equal(ds["T"], spec.T)
    np.testing.assert_array_equal(ds.P, np.rint(np.outer(spec.N, spec.alpha)))
    for key in ("spec", "spec_hash", "hopsweep_version", "git_commit", "git_dirty",
                "package_versions", "host", "created", "updated"):
        assert ds.attrs[key] != "", key
    assert ds.attrs["spec_hash"] == spec.hash and ds.attrs["spec"] == spec.canonical
    assert ds.attrs["created"] <= ds.attrs["updated"]
    assert "numpy=" in ds.attrs["package_versions"]
    # Plain xarray opens it too (consolidated metadata, no warnings about stray files).
    with xr.open_zarr(path) as plain:
        assert set(plain.data_vars) >= set(dtypes)


def test_stored_values_are_the_kernel_on_the_same_disorder(swept):
    """Re-derive two points from the config's seeds alone and call the kernel directly."""
    spec, path, _, _, _ = swept
    ds = open_results(path)
    beta = 1.0 / np.asarray(spec.T)
    for N, alpha, seed in [(50, 0.04, 0), (80, 0.12, 2)]:
        patterns = iid(N, alpha, point_rng(spec.root_seed, N, alpha, seed, "patterns"))
        regenerated = patterns_for(ds, algorithm="tap", N=N, alpha=alpha, seed=seed)
        np.testing.assert_array_equal(regenerated.xi, patterns.xi)
        m0 = initial_state(patterns.xi, "retrieval", point_rng(spec.root_seed, N, alpha, seed,
                                                               "init"))
        solution = ALGORITHMS["tap"].run(patterns, beta, m0, spec.options,
                                         point_rng(spec.root_seed, N, alpha, seed, "dynamics"))
        point = ds.sel(algorithm="tap", N=N, alpha=alpha, seed=seed)
        np.testing.assert_array_equal(point.m, solution.overlap[:, 0])
        np.testing.assert_array_equal(point.m_other, np.abs(solution.overlap[:, 1:]).max(1))
        np.testing.assert_array_equal(point.q, solution.q)
        np.testing.assert_array_equal(point.iterations, solution.iterations)
        np.testing.assert_array_equal(point.status, solution.status)
        np.testing.assert_array_equal(point.converged, solution.status == 1)
        assert (point.wall_time > 0).all()
    with pytest.raises(ValueError, match="alpha must be one of"):
        patterns_for(ds, algorithm="tap", N=50, alpha=0.05, seed=0)


def test_sites_are_stored_padded_and_consistent_with_the_overlap(swept):
    spec, path, _, sites_path, _ = swept
    ds = open_results(sites_path)
    plain = open_results(path)
    assert ds.magnetization.dims == (*DIMS, "site") and ds.sizes["site"] == max(spec.N)
    np.testing.assert_array_equal(ds.m, plain.m)  # storing sites changes no observable
    N, alpha, seed = 50, 0.08, 1
    point = ds.sel(algorithm="tap", N=N, alpha=alpha, seed=seed)
    assert np.isnan(point.magnetization.values[:, N:]).all()  # padding past N
    mag = point.magnetization.values[:, :N]
    xi = patterns_for(ds, algorithm="tap", N=N, alpha=alpha, seed=seed).xi
    # m = (1/N) sum_i xi^0_i m_i and q = (1/N) sum_i m_i^2, up to float64 rounding
    np.testing.assert_allclose(mag @ xi[0] / N, point.m, rtol=0, atol=1e-12)
    np.testing.assert_allclose((mag**2).mean(axis=1), point.q, rtol=0, atol=1e-12)


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    with pseudo_terminal(columns=100) as (bar_stream, written):
        bar = Progress(200, stream=bar_stream)
        bar.update(50)
        bar.update(150)
        bar.close()
        text = written()
    assert "200/200" in text and "100%" in text
    plain_stream = io.StringIO()
    plain = Progress(200, stream=plain_stream, interval=0.0)  # a line at every update
    plain.update(50)
    plain.close()
    lines = plain_stream.getvalue().splitlines()
    assert lines[0].startswith("hopsweep: 50/200 points (25.0%), ")
    assert "points/s, ETA " in lines[0] and len(lines) == 2
