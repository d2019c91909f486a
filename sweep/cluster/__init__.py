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
