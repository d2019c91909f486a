"""Scheduler overhead per task and tasks in flight, through the real runner.

Run: ``python bench/scheduler.py [--points 100000] [--workers 2]`` (about a
minute on 2 cores for 10^5 points).

A sweep of ``--points`` points with a trivial kernel cost (TAP at N = 16, one
to four patterns, at most 20 iterations, 10 temperatures, 10 seeds per task) goes through
``sweep.runner.run`` on a LocalCluster (``sweep.cluster.connect``) into a fresh
store, as ``hopsweep run`` does. Measured in the same run:

- a scheduler plugin counts the runner's tasks the scheduler holds at once
  (created, not yet forgotten): ``max_in_flight``, against the runner's bound
  ``ClusterSpec.max_in_flight`` and the number of tasks;
- the driver's time in Zarr writes (``Writer.write_result``, timed by a thin
  subclass) and the workers' compute time per task (the scheduler's
  ``startstops``);
- the same first ``--serial`` tasks run and written one after the other in this
  process, without Dask: the per-task time of the plain loop.

``scheduler_overhead_ms = (wall - max(writes, compute / worker_threads)) / tasks``:
the driver's writes (one after the other) and the workers' compute (parallel
over the worker threads) overlap, so the slower of the two sets the pace; the
wall time per task beyond it is what Dask costs on the critical path.
``dask_vs_serial`` is the runner's wall time per task over the plain loop's
(below 1 when the workers' compute overlaps the driver's writes).
Machines are shared and noisy: compare numbers from one run only.

The last line is machine-readable:
``scheduler_overhead_ms=X max_in_flight=Y``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numpy as np
from distributed.diagnostics.plugin import SchedulerPlugin

from sweep import runner
from sweep.cluster import connect
from sweep.config import parse_spec
from sweep.plan import make_plan
from sweep.store import Writer, create
from sweep.tasks import run_task

#: Points per (N, alpha) task: SEEDS disorder samples x TEMPERATURES.
SEEDS = 10
TEMPERATURES = 10
#: Smallest network and a short iteration budget: tasks cost milliseconds.
N = 16
MAX_ITER = 20
#: Key prefix of the runner's tasks (``hopsweep-<spec hash>-<task id>``).
KEY_PREFIX = "hopsweep-"
PLUGIN_NAME = "hopsweep-bench-in-flight"


class InFlight(SchedulerPlugin):
    """Counts the runner's tasks alive on the scheduler and sums their compute time."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.alive: set[str] = set()
        self.max_alive = 0
        self.compute_seconds = 0.0
        self.finished = 0

    def transition(self, key, start, finish, *args, stimulus_id=None, **kwargs) -> None:
        if not (isinstance(key, str) and key.startswith(KEY_PREFIX)):
            return
        if finish == "forgotten":
            self.alive.discard(key)
            return
        self.alive.add(key)
        self.max_alive = max(self.max_alive, len(self.alive))
        if finish == "memory":
            self.finished += 1
            for span in kwargs.get("startstops", ()):
                if span.get("action") == "compute":
                    self.compute_seconds += span["stop"] - span["start"]


class TimedWriter(Writer):
    """``sweep.store.Writer`` that adds up the driver's time spent writing results."""

    seconds = 0.0

    def write_result(self, task, seeds, result) -> None:
        start = time.perf_counter()
        super().write_result(task, seeds, result)
        TimedWriter.seconds += time.perf_counter() - start


def bench_spec(points: int, workers: int):
    """A spec of about ``points`` points: alphas over [1/N, 4/N], SEEDS x TEMPERATURES each."""
    n_alpha = max(1, points // (SEEDS * TEMPERATURES))
    raw = {
        "name": "bench-scheduler",
        "grid": {
            "algorithm": ["tap"],
            "N": [N],
            "alpha": {"start": 1.0 / N, "stop": 4.0 / N, "num": n_alpha},
            "T": {"start": 0.1, "stop": 1.0, "num": TEMPERATURES},
            "seed": SEEDS,
        },
        "solver": {"max_iter": MAX_ITER},
        "cluster": {"kind": "local", "workers": workers},
    }
    return parse_spec(raw)


def serial_seconds_per_task(plan, store: Path, n_tasks: int) -> float:
    """Plain loop: run and write the first ``n_tasks`` tasks in this process."""
    create(store, plan.spec, plan)
    writer = Writer(store)
    tasks = list(plan.pending(writer.status()))[:n_tasks]
    start = time.perf_counter()
    for task, seeds in tasks:
        writer.write_result(task, seeds, run_task(plan.spec, task, seeds))
    return (time.perf_counter() - start) / len(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points of the sweep")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--serial", type=int, default=200, help="tasks of the plain loop")
    args = parser.parse_args()

    spec = bench_spec(args.points, args.workers)
    plan = make_plan(spec)
    print(
        f"sweep: {spec.n_points} points, {plan.n_tasks} tasks of {plan.seed_block} seeds x "
        f"{len(spec.T)} temperatures; runner bound {spec.cluster.max_in_flight} in flight"
    )
    scratch = Path(tempfile.mkdtemp(prefix="hopsweep-bench-"))
    try:
        serial = serial_seconds_per_task(
            plan, scratch / "serial.zarr", min(args.serial, plan.n_tasks)
        )
        store = scratch / "dask.zarr"
        create(store, spec, plan)
        runner.Writer = TimedWriter  # instrument the runner's writes (this process only)
        with connect(spec.cluster) as client:
            client.register_plugin(InFlight(), name=PLUGIN_NAME)
            threads = sum(client.nthreads().values())
            summary = runner.run(plan, str(store), client)
            stats = client.run_on_scheduler(
                lambda dask_scheduler: {
                    key: getattr(dask_scheduler.plugins[PLUGIN_NAME], key)
                    for key in ("max_alive", "compute_seconds", "finished")
                }
            )
        status = Writer(store).status()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    tasks = stats["finished"]
    wall = summary.seconds
    writes = TimedWriter.seconds
    compute = stats["compute_seconds"]
    overhead = (wall - max(writes, compute / threads)) / tasks
    print(
        f"runner: {tasks} tasks in {wall:.1f} s ({tasks / wall:.0f} tasks/s, "
        f"{summary.points_done / wall:.0f} points/s), {threads} worker threads; "
        f"all points done: {bool(np.all(status != 0))}"
    )
    print(
        f"per task: wall {1e3 * wall / tasks:.2f} ms, driver writes "
        f"{1e3 * writes / tasks:.2f} ms, worker compute {1e3 * compute / tasks:.2f} ms"
    )
    print(
        f"plain loop (run + write, no Dask): {1e3 * serial:.2f} ms per task; "
        f"dask_vs_serial={wall / tasks / serial:.2f}"
    )
    print(
        f"in flight: max {stats['max_alive']} tasks on the scheduler (bound "
        f"{spec.cluster.max_in_flight}, of {plan.n_tasks} tasks)"
    )
    print(f"scheduler_overhead_ms={1e3 * overhead:.2f} max_in_flight={stats['max_alive']}")


if __name__ == "__main__":
    main()
