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


#: Transition kinds: kind -> (the grid axis its lines run along, the axis it searches).
TRANSITION_KINDS = {"retrieval_temperature": ("alpha", "T"), "critical_load": ("T", "alpha")}


@dataclass(frozen=True)
class TransitionSpec:
    """A transition located per sample instead of a dense axis (``[transition]``).

    Attributes
    ----------
    kind : {"retrieval_temperature", "critical_load"}
        T_M at each alpha of the grid, or alpha_c at each T of the grid.
    lo, hi : float
        Bracket of the searched axis (T in J, or alpha).
    precision : float
        The search stops when the bracket is at most this wide.
    points : int
        Points per round of the K-section (kernels.transition.k_section).
    """

    kind: str
    lo: float
    hi: float
    precision: float
    points: int

    @property
    def line_dim(self) -> str:
        """The grid axis the transition lines run along (``alpha`` or ``T``)."""
        return TRANSITION_KINDS[self.kind][0]

    @property
    def searched(self) -> str:
        """The axis searched within [lo, hi] (``T`` or ``alpha``)."""
        return TRANSITION_KINDS[self.kind][1]

    def physics(self) -> dict[str, Any]:
        return {"kind": self.kind, self.searched: {"lo": self.lo, "hi": self.hi},
                "precision": self.precision, "points": self.points}


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
    transition : TransitionSpec or None
        Transition mode: the searched axis (``T`` for retrieval_temperature,
        ``alpha`` for critical_load) is empty, the store has one value per
        sample (:attr:`dims`).
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
    transition: TransitionSpec | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    store: str = ""

    @property
    def coords(self) -> dict[str, tuple]:
        """Values of every sweep axis, by dimension name (the store's coordinates)."""
        return {"algorithm": self.algorithm, "N": self.N, "alpha": self.alpha,
                "seed": self.seed, "T": self.T}

    @property
    def line_dim(self) -> str:
        """The axis a task's ``k`` indexes: ``alpha``, or ``T`` for critical_load."""
        return "alpha" if self.transition is None else self.transition.line_dim

    @property
    def lines(self) -> tuple[float, ...]:
        """The values of :attr:`line_dim`."""
        return getattr(self, self.line_dim)

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimensions of the store's per-point variables: (algorithm, N, alpha, seed, T),
        or (algorithm, N, alpha or T, seed) in transition mode."""
        if self.transition is None:
            return ("algorithm", "N", "alpha", "seed", "T")
        return ("algorithm", "N", self.line_dim, "seed")

    @property
    def points_per_seed(self) -> int:
        """Points of one sample: its temperatures, or 1 (its transition)."""
        return len(self.T) if self.transition is None else 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of :attr:`dims`."""
        return tuple(len(getattr(self, dim)) for dim in self.dims)

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
            # only in transition mode: grid stores keep their hash
            **({"transition": self.transition.physics()} if self.transition else {}),
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
    transition = None
    if "transition" in data:
        table = dict(data["transition"])
        mode = table.pop("kind")
        bracket = table.pop(TRANSITION_KINDS[mode][1])
        transition = TransitionSpec(mode, bracket["lo"], bracket["hi"], **table)
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
        transition=transition,
        store=default_store(data["name"]),
    )
