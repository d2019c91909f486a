"""A Dask scheduler someone else runs, reached at an address, over TLS when configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ClusterUnavailable

if TYPE_CHECKING:
    import distributed

    from ..spec import ClusterSpec


def _security(cluster_spec: ClusterSpec) -> distributed.Security | None:
    if not cluster_spec.tls:
        return None
    from distributed import Security

    tls = cluster_spec.tls
    return Security(require_encryption=True, tls_ca_file=tls["ca"],
                    tls_client_cert=tls["cert"], tls_client_key=tls["key"])


def make_client(cluster_spec: ClusterSpec) -> distributed.Client:
    """A client of the scheduler at ``address`` (TLS with ``[cluster.tls]``).

    Raises
    ------
    sweep.errors.ClusterUnavailable
        The scheduler cannot be reached within Dask's connect timeout
        (``distributed.comm.timeouts.connect``, 30 s by default).
    """
    from distributed import Client

    try:
        return Client(cluster_spec.address, security=_security(cluster_spec))
    except OSError as err:
        raise ClusterUnavailable(
            "cannot reach the Dask scheduler at {address} ({err}); is it running? "
            "(check {scheduler} and [cluster.tls])", address=cluster_spec.address,
            err=str(err)) from err
