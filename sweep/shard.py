"""Job-array mode: one process computes one disjoint slice of a sweep, no scheduler.

``hopsweep shard CONFIG --index I --count N`` runs the tasks whose id is
``I mod N`` (:meth:`sweep.plan.Plan.tasks`). A task is exactly one store chunk,
so shards own disjoint sets of whole chunks and never write the same chunk.
The first shard to arrive creates the store (atomically, by rename, in
:func:`sweep.store.create`); the others verify its spec hash. Shards hold the
store's lock shared, so any number of them run together while ``hopsweep run``
(exclusive) waits for them; a later ``run`` fills whatever the shards left
pending. Each task's result is written as soon as it ends: a killed shard loses
at most its running task. Shards leave the store's ``updated`` attribute and
consolidated metadata alone (concurrent rewrites would race); the next
``hopsweep run`` refreshes them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kernels.status import FAILED

from .errors import ArgumentError
from .lock import StoreLock
from .plan import make_plan
from .runner import error_text
from .spec import Spec
from .store import Writer, create, stored_plan
from .tasks import run_task

#: Exit codes (DESIGN.md, "The CLI"): every point has a result / some points failed.
EXIT_OK = 0
EXIT_FAILED = 1

#: Seconds between progress lines on stderr.
PROGRESS_INTERVAL = 30.0


def run_shard(spec: Spec, index: int, count: int, store: str | os.PathLike | None = None) -> int:
    """Compute the pending points of shard ``index`` of ``count``, in this process.

    Parameters
    ----------
    spec : Spec
        The validated sweep (``[cluster]`` is ignored).
    index : int
        This shard, ``0 <= index < count`` (e.g. ``$SLURM_ARRAY_TASK_ID``).
    count : int
        Number of shards, ``count >= 1``.
    store : path-like, optional
        Store path; default ``spec.store``.

    Returns
    -------
    int
        ``EXIT_OK`` (0) when every point of the shard has a result (converged or
        not), ``EXIT_FAILED`` (1) when some of its points failed, in this run or
        an earlier one (errors are stored; ``hopsweep run --retry-failed``
        recomputes them).

    Raises
    ------
    sweep.errors.ArgumentError
        Bad ``index``/``count``.
    sweep.errors.StoreMismatch
        The store holds another spec.
    sweep.errors.StoreBusy
        A ``hopsweep run`` is writing the store.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ArgumentError("{count}: must be an integer >= 1, got {value!r}", value=count)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise ArgumentError(
            "{index}: must be an integer in [0, {last}] (0-based, below {count}), "
            "got {value!r}", last=count - 1, value=index)
    path = Path(spec.store if store is None else store)
    plan = make_plan(spec, workers=count)  # the shards compute side by side
    create(path, spec, plan)
    plan = stored_plan(path, plan)  # the store's chunks, whichever version made it
    label = f"shard {index}/{count}"
    failed = done = 0
    with StoreLock(path, shared=True):
        writer = Writer(path)
        pending = list(plan.pending(writer.status(), index=index, count=count))
        print(
            f"{label}: {len(pending)} of {plan.n_tasks} tasks to compute into {path}",
            file=sys.stderr,
            flush=True,
        )
        last = time.monotonic()
        for task, seeds in pending:
            try:
                result = run_task(spec, task, seeds)
            except Exception as err:  # a failing point is data, not a crash
                writer.write_failure(task, seeds, error_text(err))
                failed += 1
            else:
                writer.write_result(task, seeds, result)
            done += 1
            if time.monotonic() - last > PROGRESS_INTERVAL:
                print(f"{label}: {done}/{len(pending)} tasks", file=sys.stderr, flush=True)
                last = time.monotonic()
        status = writer.status()
    failed_left = sum(
        bool((status[task.a, task.n, task.k, task.s0 : task.s1] == FAILED).any())
        for task in plan.tasks(index, count)
    )
    print(
        f"{label}: {done} tasks done, {failed} failed; {failed_left} tasks of this shard "
        "hold failed points",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_FAILED if failed_left else EXIT_OK
