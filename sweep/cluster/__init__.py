"""Connect to the Dask cluster a spec asks for: local, an address (+TLS), Slurm or PBS.

``connect(cluster_spec)`` is a context manager yielding a ``distributed.Client``;
leaving it closes the client and whatever cluster it started. One module per
kind: :mod:`~sweep.cluster.local`, :mod:`~sweep.cluster.address`,
:mod:`~sweep.cluster.jobqueue` (Slurm, PBS; imported only for them: it imports
dask-jobqueue); the workers' environment is :mod:`~sweep.cluster.environment`'s.
``check(cluster_spec)`` validates batch settings before anything is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import ClusterUnavailable, SpecError
from ..spec import BATCH_KINDS

if TYPE_CHECKING:
    import distributed

    from ..spec import ClusterSpec

__all__ = ["ClusterUnavailable", "check", "connect"]

@contextlib.contextmanager
def connect(cluster_spec: ClusterSpec) -> Iterator[distributed.Client]:
    """A client of the cluster described by ``cluster_spec``.

    Parameters
    ----------
    cluster_spec : ClusterSpec
        ``kind = "local"``: a LocalCluster (:mod:`sweep.cluster.local`).
        ``"address"``: the scheduler at ``address``, TLS when ``tls`` is set
        (:mod:`sweep.cluster.address`). ``"slurm"`` / ``"pbs"``: a dask-jobqueue
        cluster scaled adaptively (:mod:`sweep.cluster.jobqueue`).

    Yields
    ------
    distributed.Client
        Closed on leaving, with the cluster this call started.

    Raises
    ------
    sweep.errors.ClusterUnavailable
        The cluster could not be started or reached.
    """
    from distributed import Client

    kind = cluster_spec.kind
    if kind == "address":
        from .address import make_client

        with make_client(cluster_spec) as client:
            yield client
        return
    try:
        if kind == "local":
            from .local import make_cluster
        else:
            from .jobqueue import make_cluster
        cluster = make_cluster(cluster_spec)
        if kind in BATCH_KINDS:
            cluster.adapt(**cluster_spec.adapt)
    except OSError as err:
        raise ClusterUnavailable(
            "cannot start the {kind} cluster ({err}); check [cluster] (e.g. "
            "dashboard_address, jobqueue settings)", kind=kind, err=str(err)) from err
    with cluster, Client(cluster) as client:
        yield client


def check(cluster_spec: ClusterSpec) -> None:
    """Check the batch-system settings of ``[cluster]`` now, before anything is written.

    For ``kind = "slurm"`` / ``"pbs"``: builds (does not submit) one worker job,
    so dask-jobqueue's own checks and the walltime / lifetime rules run; keys
    absent from ``[cluster.jobqueue]`` fall back to dask-jobqueue's configuration
    (site defaults). Other kinds have nothing to check here.

    Raises
    ------
    sweep.errors.SpecError
        Naming the ``cluster.jobqueue`` key and the fix.
    """
    if cluster_spec.kind not in BATCH_KINDS:
        return
    from ..rules import problem
    from .jobqueue import job_script

    try:
        job_script(cluster_spec)
    except ValueError as err:
        text = str(err)
        key, sep, rest = text.partition(":")
        if sep and key.startswith("cluster.jobqueue."):
            raise SpecError([f"`{key}`: {rest.strip()}"]) from err
        raise SpecError([problem(
            "cluster.jobqueue", f"rejected by dask-jobqueue ({text})", cluster_spec.jobqueue,
            "set these keys in [cluster.jobqueue] or in the site's dask-jobqueue configuration",
        )]) from err


def check_memory(cluster_spec: ClusterSpec, task_bytes: int) -> None:
    """Refuse a run whose tasks cannot fit in its workers' memory, before anything runs.

    A worker process runs one task per thread at once, each needing about
    ``task_bytes`` (:meth:`sweep.plan.Plan.task_bytes`). Batch workers have
    ``[cluster.jobqueue] memory`` split among their processes (not checked when
    it is left to dask-jobqueue's configuration); local workers share this
    machine's memory; a scheduler given by address is not checked.

    Raises
    ------
    sweep.errors.SpecError
        Naming ``cluster.jobqueue.memory`` or ``cluster.workers`` and the fix.
    """
    from ..rules import problem
    from ..spec import BATCH_KINDS

    if cluster_spec.kind in BATCH_KINDS:
        jobqueue = cluster_spec.jobqueue or {}
        if jobqueue.get("memory") is None:
            return
        from dask.utils import format_bytes, parse_bytes

        processes = int(jobqueue.get("processes") or 1)
        threads = max(1, int(jobqueue.get("cores") or 1) // processes)
        needed = task_bytes * threads * processes
        if parse_bytes(jobqueue["memory"]) < needed:
            raise SpecError([problem(
                "cluster.jobqueue.memory", f"is too small: each task needs about "
                f"{format_bytes(task_bytes)} and a worker job runs {threads * processes} at "
                "once", jobqueue["memory"], f'ask for memory = "{format_bytes(needed)}" or more')])
    elif cluster_spec.kind == "local":
        import psutil
        from dask.utils import format_bytes

        total = psutil.virtual_memory().total
        at_once = cluster_spec.workers * cluster_spec.threads_per_worker
        if task_bytes * at_once > total:
            fit = max(1, total // max(task_bytes, 1))
            raise SpecError([problem(
                "cluster.workers", f"run {at_once} tasks at once, each needing about "
                f"{format_bytes(task_bytes)}, more than this machine's "
                f"{format_bytes(total)}", cluster_spec.workers,
                f"use workers <= {fit}, or a cluster with more memory per worker")])
