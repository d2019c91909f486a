"""Read a sweep config (TOML), validate every key, normalise it into an immutable Spec.

Every key of a config is described once, in :data:`CONSTRAINTS` (a table of
rules, scikit-learn ``_param_validation`` style); one function checks a value
against its rule and every problem is reported in one format::

    `grid.T`: must be > 0, got -0.1 (set start > 0)

All defaults are resolved here, once: ``plan``, ``store`` and ``runner`` trust the
spec and never validate again. The physics part of the spec (everything except
``[cluster]`` and the store path: how a sweep runs does not change what it
computes) has a canonical text form whose sha256 is the spec hash naming the
campaign.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kernels.initial import INITS
from kernels.registry import ALGORITHMS, SolverOptions

#: Pattern models a config can ask for; ``iid`` is built by kernels.patterns.iid,
#: the others by ``kernels.patterns.make(kind, N, alpha, rng, **params)``.
PATTERN_KINDS = ("iid", "features", "features_sign", "products")

#: Keys of the pattern models (kernels.patterns.make), for naming them in errors.
PATTERN_KEYS = ("alpha_D", "density", "depth", "n_eta")

#: Cluster kinds: a LocalCluster, an existing scheduler, or dask-jobqueue.
CLUSTER_KINDS = ("local", "address", "slurm", "pbs")

#: Characters allowed in a campaign name (it becomes a file name).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Version of the canonical text layout (part of the hashed text).
CANONICAL_VERSION = 1


class SpecError(ValueError):
    """A config is invalid; ``str(err)`` lists every problem, one per line."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def problem(key: str, message: str, value: Any, fix: str) -> str:
    """One validation message: "`key`: message, got value (fix)"."""
    return f"`{key}`: {message}, got {value!r} ({fix})"


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Interval:
    """A number of type ``kind`` (int or float) in an interval.

    ``low``/``high`` of None mean unbounded; ``closed`` says which ends belong.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            left, right = "[" if lo_in else "(", "]" if hi_in else ")"
            return f"must be {noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"must be {noun} {'>=' if lo_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"must be {noun} {'<=' if hi_in else '<'} {self.high:g}"
        return f"must be {noun}"

    def check(self, value: Any) -> str | None:
        """None when ``value`` satisfies the rule, else what it must be."""
        types = (int, float) if self.kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, types):
            return self.describe()
        if isinstance(value, float) and not math.isfinite(value):
            return self.describe()
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not lo_in)):
            return self.describe()
        if self.high is not None and (value > self.high or (value == self.high and not hi_in)):
            return self.describe()
        return None


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def describe(self) -> str:
        return "must be one of " + ", ".join(repr(v) for v in self.values)

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, str) and value in self.values else self.describe()


@dataclass(frozen=True)
class Text:
    """A string, optionally matching a regular expression."""

    pattern: re.Pattern | None = None
    what: str = "a non-empty string"

    def describe(self) -> str:
        return f"must be {self.what}"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            return self.describe()
        if self.pattern is not None and not self.pattern.match(value):
            return self.describe()
        return None


@dataclass(frozen=True)
class Flag:
    """A boolean."""

    def describe(self) -> str:
        return "must be true or false"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else self.describe()


@dataclass(frozen=True)
class TextList:
    """A list of strings (a single string is accepted as a list of one)."""

    def describe(self) -> str:
        return "must be a list of strings"

    def check(self, value: Any) -> str | None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            return self.describe()
        return None


@dataclass(frozen=True)
class Axis:
    """A sweep axis: a value, a list of values, or {start, stop, num} (linspace).

    ``element`` is the rule of every value; ``integer`` axes accept no ranges.
    """

    element: Interval | Options
    integer: bool = False
    count_ok: bool = False  # ``seed``: an integer n means range(n)

    def describe(self) -> str:
        return "must be a value, a list of values or {start, stop, num}"


@dataclass(frozen=True)
class Rule:
    """How one config key is checked, its default and how to fix a bad value."""

    check: Interval | Options | Text | Flag | TextList | Axis
    default: Any = None
    fix: str = ""
    required: bool = False


def _cores() -> int:
    return os.cpu_count() or 1


#: Every key a config may contain. ``[cluster.jobqueue]`` keys default to None:
#: absent, they fall back to dask-jobqueue's configuration (sweep.jobqueue).
#: Tables not listed (``[cluster.tls]`` etc.) are the prefixes of the keys below.
#: ``patterns.*`` keys other than ``kind`` are handed to ``kernels.patterns.make``.
CONSTRAINTS: dict[str, Rule] = {
    "name": Rule(
        Text(NAME_PATTERN, "a name of letters, digits, '_', '.', '-'"),
        None,
        'write e.g. name = "quick"',
    ),
    "root_seed": Rule(Interval(int, 0), 0, "use a non-negative integer"),
    "grid.algorithm": Rule(
        Axis(Options(tuple(ALGORITHMS))), ("tap",), "use names from " + ", ".join(ALGORITHMS)
    ),
    "grid.N": Rule(
        Axis(Interval(int, 1), integer=True), None, "write e.g. N = [1000]", required=True
    ),
    "grid.alpha": Rule(
        Axis(Interval(float, 0, closed="neither")),
        None,
        "set start > 0, e.g. alpha = { start = 0.01, stop = 0.15, num = 15 }",
        required=True,
    ),
    "grid.T": Rule(
        Axis(Interval(float, 0, closed="neither")),
        None,
        "set start > 0, e.g. T = { start = 0.05, stop = 1.0, num = 20 }",
        required=True,
    ),
    "grid.seed": Rule(
        Axis(Interval(int, 0), integer=True, count_ok=True),
        (0,),  # one disorder sample, as the normalised axis (seed = 1 in a config)
        "give a number of samples >= 1 or a list of indices >= 0",
    ),
    "patterns.kind": Rule(Options(PATTERN_KINDS), "iid", "pick a pattern model"),
    "patterns.n_eta": Rule(Interval(int, 1), None, "use n_eta >= 1"),
    "patterns.density": Rule(
        Interval(float, 0, 1, closed="right"), None, "use a fraction in (0, 1]"
    ),
    "patterns.depth": Rule(Interval(int, 1), None, "use depth >= 1"),
    "solver.init": Rule(Options(INITS), "retrieval", "pick an initial state"),
    "solver.damping": Rule(
        Interval(float, 0, 1, closed="left"),
        SolverOptions.damping,
        "use a damping in [0, 1), e.g. 0.5",
    ),
    "solver.tol": Rule(
        Interval(float, 0, closed="neither"), SolverOptions.tol, "use a tolerance > 0, e.g. 1e-8"
    ),
    "solver.max_iter": Rule(Interval(int, 1), SolverOptions.max_iter, "use max_iter >= 1"),
    "solver.dtype": Rule(
        Options(("float64", "float32")),
        SolverOptions.dtype,
        "float32 is faster, float64 for validation",
    ),
    "solver.reaction": Rule(
        Options(("iid", "spectral", "spectral_site")),
        SolverOptions.reaction,
        "spectral for correlated patterns, spectral_site for real-valued ones",
    ),
    "solver.mc_sweeps": Rule(Interval(int, 4), SolverOptions.mc_sweeps, "use mc_sweeps >= 4"),
    "solver.mc_chains": Rule(
        Interval(int, 2),
        SolverOptions.mc_chains,
        "use mc_chains >= 2 (error bars come from the spread between chains)",
    ),
    "solver.field": Rule(
        Interval(float),
        SolverOptions.field,
        "give the strength h of a field h * xi^0 along pattern 0, e.g. 0.1 (0: none)",
    ),
    "output.sites": Rule(Flag(), False, "true stores per-neuron magnetizations"),
    "cluster.kind": Rule(Options(CLUSTER_KINDS), "local", "pick how workers are started"),
    "cluster.workers": Rule(Interval(int, 1), None, "use workers >= 1 (default: cores)"),
    "cluster.threads_per_worker": Rule(Interval(int, 1), 1, "use 1 thread per worker"),
    "cluster.address": Rule(
        Text(re.compile(r"^[a-z]+://"), "a scheduler address like 'tcp://host:8786'"),
        None,
        'write e.g. address = "tcp://127.0.0.1:8786"',
    ),
    "cluster.dashboard_address": Rule(Text(), "127.0.0.1:0", 'write e.g. "127.0.0.1:8787"'),
    "cluster.in_flight": Rule(Interval(int, 0), 0, "0 means automatic"),
    "cluster.tls.ca": Rule(Text(), None, "path of the CA certificate (PEM)"),
    "cluster.tls.cert": Rule(Text(), None, "path of the client certificate (PEM)"),
    "cluster.tls.key": Rule(Text(), None, "path of the client key (PEM)"),
    "cluster.jobqueue.cores": Rule(Interval(int, 1), None, "use cores >= 1"),
    "cluster.jobqueue.memory": Rule(Text(), None, 'write e.g. memory = "2GB"'),
    "cluster.jobqueue.processes": Rule(Interval(int, 1), None, "use processes >= 1"),
    "cluster.jobqueue.walltime": Rule(Text(), None, 'write e.g. walltime = "01:00:00"'),
    "cluster.jobqueue.queue": Rule(Text(), None, "name of a batch queue"),
    "cluster.jobqueue.account": Rule(Text(), None, "name of a batch account"),
    "cluster.jobqueue.job_directives": Rule(TextList(), None, 'e.g. ["--qos=normal"]'),
    "cluster.jobqueue.prologue": Rule(TextList(), None, 'e.g. ["module load python"]'),
    "cluster.jobqueue.local_directory": Rule(Text(), None, 'e.g. "$TMPDIR"'),
    "cluster.jobqueue.interface": Rule(Text(), None, 'a network interface, e.g. "ib0"'),
    "cluster.jobqueue.python": Rule(Text(), None, "path of the workers' python"),
    "cluster.jobqueue.lifetime_margin": Rule(Text(), None, 'a duration like "5m"'),
    "cluster.jobqueue.lifetime_stagger": Rule(Text(), None, 'a duration like "2m"'),
    "cluster.adapt.minimum": Rule(Interval(int, 0), 0, "use minimum >= 0"),
    "cluster.adapt.maximum": Rule(Interval(int, 1), None, "use maximum >= 1"),
}

#: Tables a config may contain (every other table is unknown).
TABLES = (
    "grid",
    "patterns",
    "solver",
    "output",
    "cluster",
    "cluster.tls",
    "cluster.jobqueue",
    "cluster.adapt",
)

#: Range tables of an axis have exactly these keys.
RANGE_KEYS = ("start", "stop", "num")


# ----------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class ClusterSpec:
    """How workers are started (``[cluster]``); not part of the spec hash.

    ``tls`` maps ca/cert/key to absolute paths; ``jobqueue`` holds the given
    ``[cluster.jobqueue]`` keys plus defaults (``sweep.jobqueue`` reads it).
    """

    kind: str = "local"
    workers: int = field(default_factory=_cores)
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
        if self.kind in ("slurm", "pbs"):  # worker jobs of `cores` threads each
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


# ----------------------------------------------------------------------------- checks


def _flatten(raw: Mapping, prefix: str, out: dict[str, Any], problems: list[str]) -> None:
    """Flatten nested tables into dotted keys, reporting unknown keys and tables."""
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path in TABLES:
            _flatten(value, path + ".", out, problems)
        elif path in CONSTRAINTS or path.startswith("patterns."):
            out[path] = value
        elif path in TABLES:
            problems.append(problem(path, "must be a table", value, f"write [{path}]"))
        else:
            known = sorted(
                k.removeprefix(prefix)
                for k in CONSTRAINTS
                if k.startswith(prefix) and "." not in k.removeprefix(prefix)
            )
            known += sorted(
                t.removeprefix(prefix)
                for t in TABLES
                if t.startswith(prefix) and "." not in t.removeprefix(prefix)
            )
            problems.append(problem(path, "unknown key", key, "allowed here: " + ", ".join(known)))


def _axis(key: str, value: Any, rule: Rule, problems: list[str]) -> tuple | None:
    """Normalise an axis to a sorted tuple (config order for strings), or report."""
    axis: Axis = rule.check
    element = axis.element
    if axis.count_ok and isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            problems.append(
                problem(
                    key, "must be a number of samples >= 1 or a list of indices", value, rule.fix
                )
            )
            return None
        return tuple(range(value))
    if isinstance(value, Mapping):
        if axis.integer or isinstance(element, Options):
            problems.append(problem(key, "must be a list here, not a range", dict(value), rule.fix))
            return None
        extra = sorted(set(value) - set(RANGE_KEYS))
        missing = [k for k in RANGE_KEYS if k not in value]
        if extra or missing:
            problems.append(
                problem(
                    key,
                    "a range needs exactly start, stop, num",
                    dict(value),
                    f"remove {extra}" if extra else f"add {missing}",
                )
            )
            return None
        num, start, stop = value["num"], value["start"], value["stop"]
        bad_num = Interval(int, 1).check(num)
        if bad_num:
            problems.append(problem(f"{key}.num", bad_num, num, "use num >= 1"))
            return None
        for end in ("start", "stop"):
            bad = element.check(value[end])
            if bad:
                problems.append(problem(key, bad, value[end], rule.fix))
                return None
        if num > 1 and not start < stop:
            problems.append(
                problem(
                    key,
                    "empty or inverted range: needs start < stop when num > 1",
                    dict(value),
                    "swap start and stop" if start > stop else "set stop > start",
                )
            )
            return None
        # 12 significant digits: 0.07, not linspace's 0.06999999999999999, so that
        # ds.sel(alpha=0.07) finds the coordinate a user typed as a range step
        values = np.linspace(start, stop, num) if num > 1 else [start]
        return tuple(float(f"{x:.12g}") for x in values)
    items = value if isinstance(value, list) else [value]
    if not items:
        problems.append(problem(key, "must not be empty", value, rule.fix))
        return None
    for item in items:
        bad = element.check(item)
        if bad:
            problems.append(problem(key, bad, item, rule.fix))
            return None
    if len(set(items)) != len(items):
        problems.append(problem(key, "values must be distinct", value, "remove duplicates"))
        return None
    if isinstance(element, Options):
        return tuple(items)
    if element.kind is float:
        return tuple(sorted(float(x) for x in items))
    return tuple(sorted(int(x) for x in items))


def _check_patterns(
    flat: dict[str, Any],
    N: tuple,
    alpha: tuple,
    algorithm: tuple,
    root_seed: int,
    problems: list[str],
) -> None:
    """Build the patterns of the smallest (N, alpha) once so make() errors surface now."""
    from kernels import patterns as kp

    kind = flat.get("patterns.kind", "iid")
    params = {
        k.removeprefix("patterns."): v
        for k, v in flat.items()
        if k.startswith("patterns.") and k != "patterns.kind"
    }
    rng = kp.point_rng(root_seed, N[0], alpha[0], 0, "patterns")
    try:
        built = kp.make(kind, N[0], alpha[0], rng, **params)
    except (ValueError, TypeError) as err:
        keys = [k for k in (*params, *PATTERN_KEYS) if k in str(err)]
        where = f"patterns.{keys[0]}" if keys else "patterns.kind"
        value = params.get(keys[0]) if keys else kind
        fix = f"the keys of kind '{kind}' are in the docstrings of kernels/patterns.py"
        problems.append(problem(where, f"rejected by kernels.patterns.make ({err})", value, fix))
        return
    if "layered" in algorithm and not built.is_feature_mixture:
        problems.append(
            problem(
                "grid.algorithm",
                "'layered' needs patterns that are linear mixtures of features",
                list(algorithm),
                'set [patterns] kind = "features" or drop it',
            )
        )


def _cross_checks(values: dict[str, Any], problems: list[str]) -> None:
    algorithm, N, alpha = values["grid.algorithm"], values["grid.N"], values["grid.alpha"]
    for name in algorithm:
        max_N = ALGORITHMS[name].max_N
        if max_N is not None and N[-1] > max_N:
            problems.append(
                problem(
                    "grid.N",
                    f"must be <= {max_N} for algorithm '{name}'",
                    N[-1],
                    f"use N <= {max_N} or drop '{name}'",
                )
            )
    P = round(alpha[0] * N[0])
    if "bp_retrieval_wrong" in algorithm and P < 2:
        problems.append(
            problem(
                "grid.alpha",
                f"'bp_retrieval_wrong' conditions on pattern 1, but alpha * N rounds to P = {P}"
                f" for N = {N[0]}",
                alpha[0],
                "raise alpha or N so alpha * N >= 1.5, or drop 'bp_retrieval_wrong'",
            )
        )
    if P < 1:
        problems.append(
            problem(
                "grid.alpha",
                f"alpha * N rounds to P = {P} patterns for N = {N[0]}",
                alpha[0],
                "raise alpha or N so alpha * N >= 1",
            )
        )
    kind = values["cluster.kind"]
    if kind == "address" and values.get("cluster.address") is None:
        problems.append(
            problem(
                "cluster.address",
                "is required when kind = 'address'",
                None,
                'set address = "tcp://host:8786" or pass --scheduler',
            )
        )
    if values.get("cluster.tls") and kind != "address":
        problems.append(
            problem(
                "cluster.tls",
                "is used only with kind = 'address'",
                kind,
                'set kind = "address" or remove [cluster.tls]',
            )
        )
    tls = values.get("cluster.tls") or {}
    if tls and set(tls) != {"ca", "cert", "key"}:
        problems.append(
            problem(
                "cluster.tls", "needs ca, cert and key", sorted(tls), "give all three PEM files"
            )
        )
    if values.get("cluster.jobqueue") and kind not in ("slurm", "pbs"):
        problems.append(
            problem(
                "cluster.jobqueue",
                "is used only with kind = 'slurm' or 'pbs'",
                kind,
                "set kind or remove [cluster.jobqueue]",
            )
        )
    maximum = values.get("cluster.adapt.maximum")
    if maximum is not None and values["cluster.adapt.minimum"] > maximum:
        problems.append(
            problem(
                "cluster.adapt.minimum",
                f"must be <= maximum ({maximum})",
                values["cluster.adapt.minimum"],
                "lower minimum",
            )
        )
    if kind in ("slurm", "pbs") and not problems:
        _check_job(kind, values.get("cluster.jobqueue") or {}, problems)


def _check_job(kind: str, table: dict[str, Any], problems: list[str]) -> None:
    """Build (not submit) one worker job so dask-jobqueue's own checks run now.

    Keys absent from ``[cluster.jobqueue]`` fall back to dask-jobqueue's
    configuration (site defaults), as in sweep.jobqueue.
    """
    import dask_jobqueue  # noqa: F401  (registers its dask config: site defaults)

    from . import jobqueue

    try:
        jobqueue.job_script({"kind": kind, "jobqueue": table})
    except ValueError as err:
        text = str(err)
        key, sep, rest = text.partition(":")
        if sep and key.startswith("cluster.jobqueue."):
            problems.append(f"`{key}`: {rest.strip()}")
        else:
            problems.append(problem("cluster.jobqueue", f"rejected by dask-jobqueue ({text})",
                                    table, "set these keys in [cluster.jobqueue] or in the "
                                    "site's dask-jobqueue configuration"))


def _default_store(name: str) -> str:
    """Store path of campaign ``name`` when none is given: ``results/<name>.zarr``."""
    return str(Path("results") / f"{name}.zarr")


def parse_spec(
    raw: Mapping,
    *,
    base_dir: str | os.PathLike = ".",
    default_name: str = "sweep",
    overrides: Mapping[str, Any] | None = None,
) -> Spec:
    """Validate and normalise a parsed config.

    Parameters
    ----------
    raw : mapping
        The config as nested tables (what ``tomllib.load`` returns).
    base_dir : path-like, default="."
        Directory that relative paths in ``[cluster]`` are resolved against.
    default_name : str, default="sweep"
        Campaign name when the config has no ``name``.
    overrides : mapping of dotted key to value, optional
        Values that replace the config's (command-line flags), checked the same way.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Listing every problem, each naming its key and the fix.
    """
    problems: list[str] = []
    flat: dict[str, Any] = {}
    _flatten(raw, "", flat, problems)
    flat.update({k: v for k, v in (overrides or {}).items() if v is not None})
    flat.setdefault("name", default_name)
    values: dict[str, Any] = {}
    for key, rule in CONSTRAINTS.items():
        if key not in flat:
            if rule.required:
                problems.append(problem(key, "is required", None, rule.fix))
            values[key] = rule.default
            continue
        value = flat[key]
        if isinstance(rule.check, Axis):
            values[key] = _axis(key, value, rule, problems)
            continue
        bad = rule.check.check(value)
        if bad:
            problems.append(problem(key, bad, value, rule.fix))
        values[key] = value
    if problems:
        raise SpecError(problems)
    base = Path(base_dir)
    tls = {
        k.removeprefix("cluster.tls."): str((base / os.path.expanduser(v)).resolve())
        for k, v in flat.items()
        if k.startswith("cluster.tls.")
    }
    jobqueue = {
        k.removeprefix("cluster.jobqueue."): v
        for k, v in flat.items()
        if k.startswith("cluster.jobqueue.")
    }
    if jobqueue:
        for key in ("job_directives", "prologue"):
            if isinstance(jobqueue.get(key), str):
                jobqueue[key] = [jobqueue[key]]
        local = jobqueue.get("local_directory")
        if local is not None and not local.startswith("$"):
            jobqueue["local_directory"] = str((base / os.path.expanduser(local)).resolve())
    values["cluster.tls"] = tls or None
    values["cluster.jobqueue"] = jobqueue or None
    _cross_checks(values, problems)
    if not problems:
        _check_patterns(
            flat,
            values["grid.N"],
            values["grid.alpha"],
            values["grid.algorithm"],
            values["root_seed"],
            problems,
        )
    if problems:
        raise SpecError(problems)
    params = tuple(
        sorted(
            (k.removeprefix("patterns."), v)
            for k, v in flat.items()
            if k.startswith("patterns.") and k != "patterns.kind"
        )
    )
    cluster = ClusterSpec(
        kind=values["cluster.kind"],
        workers=values["cluster.workers"] or _cores(),
        threads_per_worker=values["cluster.threads_per_worker"],
        address=values["cluster.address"],
        dashboard_address=values["cluster.dashboard_address"],
        in_flight=values["cluster.in_flight"],
        tls=values["cluster.tls"],
        jobqueue=values["cluster.jobqueue"],
        adapt_minimum=values["cluster.adapt.minimum"],
        adapt_maximum=values["cluster.adapt.maximum"],
    )
    options = SolverOptions(
        **{
            k.removeprefix("solver."): values[k]
            for k in CONSTRAINTS
            if k.startswith("solver.") and k != "solver.init"
        }
    )
    return Spec(
        name=values["name"],
        root_seed=values["root_seed"],
        algorithm=values["grid.algorithm"],
        N=values["grid.N"],
        alpha=values["grid.alpha"],
        T=values["grid.T"],
        seed=values["grid.seed"],
        patterns_kind=values["patterns.kind"],
        patterns_params=params,
        init=values["solver.init"],
        options=options,
        sites=values["output.sites"],
        cluster=cluster,
        store=_default_store(values["name"]),
    )


def _config_file_error(path: Path, message: str, fix: str) -> SpecError:
    """The SpecError of a config file that cannot be read or parsed (key ``CONFIG``)."""
    return SpecError([problem("CONFIG", message, str(path), fix)])


def load_spec(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Read, validate and normalise a TOML config file.

    Parameters
    ----------
    path : path-like
        The config file; its stem is the default ``name`` and its directory the
        base of relative paths in ``[cluster]``.
    overrides : mapping of dotted key to value, optional
        Command-line values (``cluster.workers`` etc.), validated like the file's.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Unreadable file, TOML syntax error, or invalid values (every problem listed).
    """
    path = Path(path)
    try:
        # TOML is UTF-8 whatever the locale; utf-8-sig drops the BOM some editors write
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise _config_file_error(
            path, f"cannot read ({err.strerror})", "give the path of a TOML config file"
        ) from err
    except UnicodeDecodeError as err:
        raise _config_file_error(
            path,
            f"is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})",
            "save it as UTF-8, as TOML requires",
        ) from err
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _config_file_error(
            path, f"is not valid TOML ({err})", "fix the syntax at the line shown"
        ) from err
    return parse_spec(raw, base_dir=path.parent, default_name=path.stem, overrides=overrides)


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
        store=_default_store(data["name"]),
    )
