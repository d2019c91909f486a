"""Every key a sweep config may contain: its rule, default and fix (a table, as data).

scikit-learn ``_param_validation`` style: one entry per dotted key
(:data:`CONSTRAINTS`), one list of tables (:data:`TABLES`). The allowed values
come from their owners in :mod:`kernels` (algorithms, pattern models, initial
states, reactions, dtypes, solver defaults); checking a config against this
table is :mod:`sweep.config`.
"""

from __future__ import annotations

import re

from kernels.initial import INITS
from kernels.patterns import KINDS as PATTERN_KINDS
from kernels.reaction import REACTIONS
from kernels.registry import ALGORITHMS, DTYPES, SolverOptions
from kernels.transition import DEFAULT_POINTS

from .rules import Axis, Flag, Interval, Options, Rule, Text, TextList
from .spec import CLUSTER_KINDS, TRANSITION_KINDS

#: Characters allowed in a campaign name (it becomes a file name).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Onsager reactions a config can ask of ``tap`` ("none" is naive mean field,
#: its own algorithm ``nmf``).
CONFIG_REACTIONS = tuple(r for r in REACTIONS if r != "none")

#: Every key a config may contain. ``[cluster.jobqueue]`` keys default to None:
#: absent, they fall back to dask-jobqueue's configuration (sweep.cluster.jobqueue).
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
        Options(DTYPES),  # the first (float64) is the default
        SolverOptions.dtype,
        "float32 is faster, float64 for validation",
    ),
    "solver.reaction": Rule(
        Options(CONFIG_REACTIONS),
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
    "transition.kind": Rule(
        Options(tuple(TRANSITION_KINDS)),
        None,
        'retrieval_temperature (T_M at each grid.alpha) or critical_load (alpha_c at each grid.T)',
    ),
    "transition.T.lo": Rule(Interval(float, 0, closed="neither"), None,
                            "write e.g. T = { lo = 0.05, hi = 1.3 }"),
    "transition.T.hi": Rule(Interval(float, 0, closed="neither"), None,
                            "write e.g. T = { lo = 0.05, hi = 1.3 }"),
    "transition.alpha.lo": Rule(Interval(float, 0, closed="neither"), None,
                                "write e.g. alpha = { lo = 0.08, hi = 0.2 }"),
    "transition.alpha.hi": Rule(Interval(float, 0, closed="neither"), None,
                                "write e.g. alpha = { lo = 0.08, hi = 0.2 }"),
    "transition.precision": Rule(Interval(float, 0, closed="neither"), None,
                                 "the bracket width to stop at, e.g. precision = 0.002"),
    "transition.points": Rule(Interval(int, 2), DEFAULT_POINTS,
                              "points per round of the K-section, e.g. 8"),
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
    "transition",
    "transition.T",
    "transition.alpha",
    "cluster",
    "cluster.tls",
    "cluster.jobqueue",
    "cluster.adapt",
)

#: Range tables of an axis have exactly these keys.
RANGE_KEYS = ("start", "stop", "num")
