"""Connect to the Dask cluster a spec asks for: local, an address (+TLS), Slurm or PBS.

``connect(cluster_spec)`` is a context manager yielding a ``distributed.Client``;
leaving it closes the client and whatever cluster it started. The workers'
environment is :mod:`sweep.cluster.environment`'s; batch systems are
:mod:`sweep.cluster.jobqueue`'s (imported only for them: it imports dask-jobqueue).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import ClusterUnavailable, SpecError
from .environment import LOCAL_DASK_CONFIG, WORKER_ENVIRONMENT

if TYPE_CHECKING:
    import distributed

    from ..spec import ClusterSpec

__all__ = ["ClusterUnavailable", "check", "connect"]

def _security(cluster_spec: ClusterSpec) -> distributed.Security | None:
    if not cluster_spec.tls:
        return None
    from distributed import Security

    tls = cluster_spec.tls
    return Security(require_encryption=True, tls_ca_file=tls["ca"],
                    tls_client_cert=tls["cert"], tls_client_key=tls["key"])


@contextlib.contextmanager
def connect(cluster_spec: ClusterSpec) -> Iterator[distributed.Client]:
    """A client of the cluster described by ``cluster_spec``.

    Parameters
    ----------
    cluster_spec : ClusterSpec
        ``kind = "local"``: a LocalCluster of ``workers`` processes with
        ``threads_per_worker`` threads, on 127.0.0.1, dashboard at
        ``dashboard_address``. ``"address"``: the scheduler at ``address``
        (TLS when ``tls`` is set). ``"slurm"`` / ``"pbs"``: a dask-jobqueue
        cluster (sweep.jobqueue.make_cluster) scaled adaptively.

    Yields
    ------
    distributed.Client
    """
    import dask
    from distributed import Client, LocalCluster

    kind = cluster_spec.kind
    if kind == "address":
        try:
            # waits distributed.comm.timeouts.connect (dask config, 30 s by default)
            client = Client(cluster_spec.address, security=_security(cluster_spec))
        except OSError as err:
            raise ClusterUnavailable(
                "cannot reach the Dask scheduler at {address} ({err}); is it running? "
                "(check {scheduler} and [cluster.tls])", address=cluster_spec.address,
                err=str(err)) from err
        with client:
            yield client
        return
    try:
        if kind == "local":
            # the nannies hand this configuration to the worker processes they start
            with dask.config.set(LOCAL_DASK_CONFIG):
                cluster = LocalCluster(
                    n_workers=cluster_spec.workers,
                    threads_per_worker=cluster_spec.threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=cluster_spec.dashboard_address,
                    env=dict(WORKER_ENVIRONMENT),
                )
        else:
            from .jobqueue import make_cluster

            cluster = make_cluster(cluster_spec)
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
    from ..spec import BATCH_KINDS

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
