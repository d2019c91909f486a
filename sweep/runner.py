"""Run a planned sweep on a Dask cluster; the driver is the store's single writer.

A bounded number of tasks is in flight: ``[cluster] in_flight`` if set, else
two per worker thread the cluster has (at least ``ClusterSpec.max_in_flight``,
re-read every ``IN_FLIGHT_REFRESH`` s so adaptive clusters fill as they grow). A
new task is submitted each time one finishes (``distributed.as_completed``),
never one future per point up front. Each result is written as soon as it arrives and
its future released, so results leave the workers at once. A task that raises
is recorded as failed (status 4, its error text in ``error``) and the sweep goes
on; it stops early only after ``MAX_IDENTICAL_FAILURES`` tasks failed with the
same error. Worker deaths are Dask's business: a task on a lost worker is
rescheduled (``TASK_RETRIES`` plus Dask's own allowed failures). The progress
display is told the cost-model estimate of the run and, per finished task, its
estimate and its measured solver time, so its ETA weighs the expensive first
tasks as such (sweep.progress).

The workers of a cluster this run started (not those of a ``--scheduler``
someone else runs) drop two Dask messages of a cluster closing under them:
"Async instruction for <Task ...> ended with CancelledError", which a worker
logs for each task still running when it closes, and "Failed to communicate
with scheduler during heartbeat." with the traceback of a CommClosedError, which
it logs when a heartbeat is in flight as the scheduler (in this driver) closes
the connection (once in a full test run under load, over the resume command).
A sweep's own workers close with tasks running only when the run was
interrupted (Ctrl-C, or SIGTERM, which ``hopsweep run`` turns into
KeyboardInterrupt) and those tasks are abandoned on purpose, or when Dask
retires a worker, which reschedules its task; their scheduler closes only with
the driver. The filter is installed when the run starts, while the workers are
idle: a worker busy in compiled code that holds the GIL could not answer at the
interrupt. Nothing else is filtered (a heartbeat that times out still speaks).
The same workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process
group, worker processes included, which then printed KeyboardInterrupt and
CancelledError tracebacks over the driver's resume command; the driver alone
handles it and closes them.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cost import seed_costs
from .plan import Plan
from .store import Writer
from .tasks import run_task

if TYPE_CHECKING:
    import distributed

    from .progress import Progress

#: Stop the sweep after this many tasks failed with the very same error text.
MAX_IDENTICAL_FAILURES = 20
#: Extra attempts of a task whose worker raised or died.
TASK_RETRIES = 2
#: Tasks in flight per worker thread (one running, one queued behind it), and how
#: often (s) the limit follows the cluster's thread count (adaptive clusters grow).
IN_FLIGHT_PER_THREAD = 2
IN_FLIGHT_REFRESH = 1.0
#: Future states of a task whose result was lost with its worker and which the
#: scheduler is computing again: not a failure, the runner waits for it.
RECOMPUTING = ("pending", "lost")
#: Longest error text kept per point, characters.
ERROR_MAX_CHARS = 2000
#: Loggers of the Dask worker messages that :class:`_ClosingNoise` drops.
WORKER_LOGGERS = ("distributed.worker.state_machine", "distributed.worker")
#: What distributed's ``Worker.heartbeat`` logs when its call to the scheduler fails.
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat."


class _ClosingNoise(logging.Filter):
    """Drops the messages of a worker whose cluster closes under it, only those.

    - "Async instruction for <Task ...> ended with CancelledError": a task still
      executing when the worker closes
      (``worker_state_machine.BaseWorker._finish_async_instruction``);
    - :data:`HEARTBEAT_FAILED` with a CommClosedError: the scheduler closed the
      connection while a heartbeat was in flight (``Worker.heartbeat``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from distributed.comm import CommClosedError

        message = record.getMessage()
        if message.startswith("Async instruction for "):
            return not message.endswith("ended with CancelledError")
        if message == HEARTBEAT_FAILED and record.exc_info:
            return not issubclass(record.exc_info[0], CommClosedError)
        return True


_CLOSING_NOISE = _ClosingNoise()


def _quiet_on_interrupt() -> None:
    """In this worker process: install :class:`_ClosingNoise` and ignore SIGINT
    (module docstring)."""
    for name in WORKER_LOGGERS:
        logging.getLogger(name).addFilter(_CLOSING_NOISE)
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _quiet_own_workers(client: distributed.Client) -> None:
    """Run :func:`_quiet_on_interrupt` on the workers (present and future) of a
    cluster this run started (module docstring)."""
    if client.cluster is not None:  # None: a scheduler given by address, not ours
        client.register_worker_callbacks(setup=_quiet_on_interrupt)


def error_text(err: BaseException) -> str:
    """``"Type: message"`` of an exception, truncated to ``ERROR_MAX_CHARS``."""
    return f"{type(err).__name__}: {err}"[:ERROR_MAX_CHARS]


def _exception(future: distributed.Future) -> BaseException:
    """The exception of a failed (or cancelled) future."""
    try:
        return future.exception()
    except BaseException as err:  # a cancelled future raises instead of returning it
        return err


@dataclass(frozen=True)
class RunSummary:
    """What one ``run`` did.

    Attributes
    ----------
    points_total : int
        Points this run set out to compute.
    points_done, points_failed : int
        Points written with a result / marked failed.
    seconds : float
        Wall time of the run, s.
    stopped : str or None
        Why the run stopped early (None when it ran to the end).
    """

    points_total: int
    points_done: int
    points_failed: int
    seconds: float
    stopped: str | None = None


def run(plan: Plan, store: str, client: distributed.Client, *, retry_failed: bool = False,
        progress: Progress | None = None, own_workers: bool = True) -> RunSummary:
    """Compute every pending point of ``store`` on ``client``'s cluster.

    Parameters
    ----------
    plan : Plan
        Plan of the store's spec (the caller has verified the spec hash and
        holds the store's exclusive lock).
    store : str
        Path of the store.
    client : distributed.Client
    retry_failed : bool, default=False
        Recompute failed points too.
    progress : Progress, optional
        Receives the number of points of each finished task.
    own_workers : bool, default=True
        Whether the workers are this run's (a cluster it started): only then are
        they told to ignore SIGINT and the cancellations of an interrupt
        (module docstring); a caller's workers are left as they are.

    Returns
    -------
    RunSummary
    """
    from distributed import as_completed

    spec = plan.spec
    start = time.monotonic()
    writer = Writer(store)
    status = writer.status()
    K = spec.points_per_seed
    todo = plan.todo(status, retry_failed)
    total = int(todo.sum()) * K
    pending = plan.pending(status, retry_failed)
    costs = seed_costs(spec)  # (algorithm, N, alpha), s per seed
    if progress is not None:  # per algorithm: the model's errors differ most between them
        progress.expect_cost((todo.sum(axis=-1) * costs).sum(axis=(1, 2)))
    if own_workers:
        _quiet_own_workers(client)
    in_flight: dict[str, tuple] = {}
    queue = as_completed()
    # unique per run: a shared scheduler never mistakes another run's task for ours
    prefix = f"hopsweep-{spec.hash[:12]}-{uuid.uuid4().hex[:8]}"

    limit = {"tasks": spec.cluster.max_in_flight, "checked": time.monotonic()}

    def fill() -> None:
        """Submit tasks up to the in-flight limit (rescaled to the cluster's threads)."""
        now = time.monotonic()
        if not spec.cluster.in_flight and now - limit["checked"] > IN_FLIGHT_REFRESH:
            threads = sum(client.nthreads().values())
            limit["tasks"] = max(spec.cluster.max_in_flight, IN_FLIGHT_PER_THREAD * threads)
            limit["checked"] = now
        while len(in_flight) < limit["tasks"]:
            item = next(pending, None)
            if item is None:
                return
            task, seeds = item
            future = client.submit(run_task, spec, task, seeds, key=f"{prefix}-{task.id}",
                                   retries=TASK_RETRIES, pure=False)
            in_flight[future.key] = (future, task, seeds)
            queue.add(future)

    done = failed = 0
    failures: collections.Counter[str] = collections.Counter()
    stopped = None
    try:
        fill()
        for future in queue:
            if future.status in RECOMPUTING:
                # its worker died after the task ended and its result went with it:
                # the scheduler recomputes it elsewhere, so wait for it again
                queue.add(future)
                continue
            _, task, seeds = in_flight.pop(future.key)
            points = int(seeds.sum()) * K
            spent = None
            if future.status == "finished":
                result = future.result()
                writer.write_result(task, seeds, result)
                done += points
                spent = float(result["wall_time"].sum())
            else:
                text = error_text(_exception(future))
                writer.write_failure(task, seeds, text)
                failed += points
                failures[text] += 1
            future.release()
            if progress is not None:
                progress.update(points, float(costs[task.a, task.n, task.k] * seeds.sum()),
                                group=task.a, spent=spent)
            if failures and max(failures.values()) >= MAX_IDENTICAL_FAILURES:
                text, count = failures.most_common(1)[0]
                stopped = f"stopping: {count} tasks failed with the same error: {text}"
                break
            fill()
    finally:
        if in_flight:
            client.cancel([future for future, _, _ in in_flight.values()])
    return RunSummary(total, done, failed, time.monotonic() - start, stopped)
