"""The Spec: a validated, normalised sweep config, immutable, with its hash.

Built by :mod:`sweep.config` (from a TOML file or a dict) or from the canonical
text a store keeps (:func:`spec_from_canonical`). All defaults are resolved when
it is built: ``plan``, ``store`` and ``runner`` trust it and never validate
again. The physics part of the spec (everything except ``[cluster]`` and the
store path: how a sweep runs does not change what it computes) has a canonical
text form whose sha256 is the spec hash naming the campaign.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernels.registry import SolverOptions

#: Cluster kinds: a LocalCluster, an existing scheduler, or a batch system.
CLUSTER_KINDS = ("local", "address", "slurm", "pbs")
#: The batch systems among them (dask-jobqueue, :mod:`sweep.cluster.jobqueue`).
BATCH_KINDS = ("slurm", "pbs")

#: Version of the canonical text layout (part of the hashed text).
CANONICAL_VERSION = 1


def cores() -> int:
    """CPU cores of this machine (the default number of local workers)."""
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ClusterSpec:
    """How workers are started (``[cluster]``); not part of the spec hash.

    ``tls`` maps ca/cert/key to absolute paths; ``jobqueue`` holds the given
    ``[cluster.jobqueue]`` keys plus defaults (``sweep.cluster.jobqueue`` reads it).
    """

    kind: str = "local"
    workers: int = field(default_factory=cores)
    threads_per_worker: int = 1
    address: str | None = None
    dashboard_address: str = "127.0.0.1:0"
    in_flight: int = 0
    tls: dict[str, str] | None = None
    jobqueue: dict[str, Any] | None = None
    adapt_minimum: int = 0
    adapt_maximum: int | None = None

    @property
    def adapt(self) -> dict[str, int]:
        """``cluster.adapt(**spec.adapt)`` keyword arguments."""
        maximum = self.workers if self.adapt_maximum is None else self.adapt_maximum
        return {"minimum": self.adapt_minimum, "maximum": maximum}

    @property
    def max_in_flight(self) -> int:
        """Tasks kept submitted at once: ``in_flight``, or 2 per expected worker thread.

        The runner raises it to 2 per thread the cluster actually has.
        """
        if self.in_flight:
            return self.in_flight
        workers, threads = self.workers, self.threads_per_worker
        if self.kind in BATCH_KINDS:  # worker jobs of `cores` threads each
            workers, threads = self.adapt["maximum"], int((self.jobqueue or {}).get("cores") or 1)
        return max(4, 2 * workers * threads)


@dataclass(frozen=True)
class Spec:
    """A validated, normalised sweep config. Immutable; every default resolved.

    Attributes
    ----------
    name : str
        Campaign name.
    root_seed : int
        Seed of the whole campaign (see kernels.patterns.point_rng).
    algorithm : tuple of str
        Algorithm names (keys of kernels.registry.ALGORITHMS), config order.
    N : tuple of int
        System sizes, ascending.
    alpha, T : tuple of float
        Loads P / N and temperatures (units of J), ascending.
    seed : tuple of int
        Disorder sample indices, ascending.
    patterns_kind : str
        Pattern model (``PATTERN_KINDS``).
    patterns_params : tuple of (str, value)
        Extra keys of ``[patterns]``, sorted, handed to kernels.patterns.make.
    init : str
        Initial state (kernels.initial.INITS).
    options : kernels.registry.SolverOptions
        Solver knobs.
    sites : bool
        Whether per-neuron magnetizations are stored.
    cluster : ClusterSpec
        How to run (not hashed).
    store : str
        Store path (default ``results/<name>.zarr``, relative to the current
        directory; not hashed).
    """

    name: str
    root_seed: int
    algorithm: tuple[str, ...]
    N: tuple[int, ...]
    alpha: tuple[float, ...]
    T: tuple[float, ...]
    seed: tuple[int, ...]
    patterns_kind: str = "iid"
    patterns_params: tuple[tuple[str, Any], ...] = ()
    init: str = "retrieval"
    options: SolverOptions = field(default_factory=SolverOptions)
    sites: bool = False
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    store: str = ""

    @property
    def coords(self) -> dict[str, tuple]:
        """Values of every sweep axis, by dimension name (the store's coordinates)."""
        return {"algorithm": self.algorithm, "N": self.N, "alpha": self.alpha,
                "seed": self.seed, "T": self.T}

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """Sizes of the (algorithm, N, alpha, seed, T) axes."""
        return (len(self.algorithm), len(self.N), len(self.alpha), len(self.seed), len(self.T))

    @property
    def n_points(self) -> int:
        return math.prod(self.shape)

    def physics(self) -> dict[str, Any]:
        """The hashed part of the spec as plain JSON-able data."""
        return {
            "version": CANONICAL_VERSION,
            "name": self.name,
            "root_seed": self.root_seed,
            "grid": {
                "algorithm": list(self.algorithm),
                "N": list(self.N),
                "alpha": list(self.alpha),
                "T": list(self.T),
                "seed": list(self.seed),
            },
            "patterns": {"kind": self.patterns_kind, **dict(self.patterns_params)},
            "solver": {
                "init": self.init,
                "damping": self.options.damping,
                "tol": self.options.tol,
                "max_iter": self.options.max_iter,
                "dtype": self.options.dtype,
                "reaction": self.options.reaction,
                "mc_sweeps": self.options.mc_sweeps,
                "mc_chains": self.options.mc_chains,
                # only when set: stores made without a field keep the hash they had
                # before the field was hashed
                **({"field": self.options.field} if self.options.field else {}),
            },
            "output": {"sites": self.sites},
        }

    @property
    def canonical(self) -> str:
        """Canonical text (sorted-key JSON; floats in shortest round-trip form)."""
        return json.dumps(self.physics(), sort_keys=True, indent=1)

    @property
    def hash(self) -> str:
        """sha256 of :attr:`canonical`, hex."""
        return hashlib.sha256(self.canonical.encode()).hexdigest()


def default_store(name: str) -> str:
    """Store path of campaign ``name`` when none is given: ``results/<name>.zarr``."""
    return str(Path("results") / f"{name}.zarr")


def spec_from_canonical(text: str) -> Spec:
    """Rebuild the physics part of a Spec from its canonical text (as in a store).

    Parameters
    ----------
    text : str
        ``Spec.canonical`` of the original spec.

    Returns
    -------
    Spec
        Equal hash; cluster and store at their defaults.
    """
    data = json.loads(text)
    grid, solver = data["grid"], dict(data["solver"])
    patterns = dict(data["patterns"])
    kind = patterns.pop("kind")
    init = solver.pop("init")
    return Spec(
        name=data["name"],
        root_seed=data["root_seed"],
        algorithm=tuple(grid["algorithm"]),
        N=tuple(grid["N"]),
        alpha=tuple(grid["alpha"]),
        T=tuple(grid["T"]),
        seed=tuple(grid["seed"]),
        patterns_kind=kind,
        patterns_params=tuple(sorted(patterns.items())),
        init=init,
        options=SolverOptions(**solver),
        sites=data["output"]["sites"],
        store=default_store(data["name"]),
    )
