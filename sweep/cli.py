"""The ``hopsweep`` command (also ``python -m sweep``).

Thin commands over the Python API (:mod:`sweep.api`: run, status, dry run) and
the results, plots and theory modules; each parses its flags, calls the library
and prints. Library errors (:mod:`sweep.errors`) are rendered with the flags
that fix them (:data:`CLI_WORDS`) and mapped to exit codes. Heavy imports live
inside the commands so ``hopsweep --help`` is instant. Exit codes (DESIGN.md): 0 every point has a
result (converged or not), 1 some points failed or are still pending, 2 bad input
or usage with nothing written, 130 interrupted (what was written is kept).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command killed by it

#: How the command names the arguments a library error tells a caller to change.
CLI_WORDS = {
    "store": "--store",
    "overwrite": "`hopsweep run CONFIG --overwrite`",
    "overwrite_flag": "--overwrite",
    "make_store": "`hopsweep run CONFIG --store STORE`",
    "retry_failed": "--retry-failed",
    "scheduler": "--scheduler / cluster.address",
    "index": "--index",
    "count": "--count",
}
#: The same for commands whose store is their positional argument.
STORE_ARGUMENT_WORDS = {**CLI_WORDS, "store": "STORE"}


def _fail(message: str) -> int:
    print(f"hopsweep: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {}
    if args.workers is not None:
        overrides["cluster.workers"] = args.workers
    if args.cluster is not None:
        overrides["cluster.kind"] = args.cluster
    if args.scheduler is not None:
        overrides["cluster.kind"] = "address"
        overrides["cluster.address"] = args.scheduler
    return overrides


#: Config keys set by ``hopsweep run`` options, and the option that sets each.
OVERRIDE_FLAGS = {"cluster.workers": "--workers", "cluster.address": "--scheduler",
                  "cluster.kind": "--cluster"}


def _config_error(config: str, err, overrides: dict[str, object]) -> int:
    """Exit 2 with every problem of a config; a bad value given by an option names the option."""
    lines = []
    for line in err.problems:
        for key, flag in OVERRIDE_FLAGS.items():
            if key in overrides and line.startswith(f"`{key}`"):
                line = f"`{flag}` (sets {key}){line[len(key) + 2:]}"
        lines.append(line)
    return _fail(f"{config}: invalid config\n" + "\n".join(lines))


def cmd_run(args: argparse.Namespace) -> int:
    from . import api
    from .config import as_spec
    from .errors import HopsweepError, SpecError

    overrides = _overrides(args)
    try:
        spec = as_spec(args.config, overrides)
        if args.dry_run:
            print("\n".join(api.dry_run(spec, store=args.store).lines(CLI_WORDS)))
            print("dry run: nothing written")
            return EXIT_OK
        store = Path(args.store or spec.store)
        resume = f"hopsweep run {args.config} --store {store}"
        report = api.execute(spec, store, overwrite=args.overwrite,
                             retry_failed=args.retry_failed)
    except SpecError as err:
        return _config_error(args.config, err, overrides)
    except HopsweepError as err:
        return _fail(err.render(CLI_WORDS))
    except KeyboardInterrupt:
        print(f"\nhopsweep: interrupted; points already written are kept in {store}.\n"
              f"resume with: {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
    summary = report.summary
    if summary is None:
        print("hopsweep: nothing to compute", file=sys.stderr)
    else:
        print(f"hopsweep: computed {summary.points_done} points, {summary.points_failed} "
              f"failed, in {summary.seconds:.1f} s", file=sys.stderr)
    print(f"hopsweep: store has {report.failed} failed and {report.pending} pending points",
          file=sys.stderr)
    if summary is not None and summary.stopped:
        print(f"hopsweep: {summary.stopped}", file=sys.stderr)
    if report.failed:
        print(f"hopsweep: see the errors with `hopsweep status {store}`; recompute failed "
              f"points with `{resume} --retry-failed`", file=sys.stderr)
    return EXIT_FAILED if report.failed or report.pending else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from . import api
    from .errors import HopsweepError

    try:
        print(api.status(args.store))
    except HopsweepError as err:
        return _fail(err.render(STORE_ARGUMENT_WORDS))
    return EXIT_OK


def _check_output(output: Path) -> str | None:
    """Why a figure cannot be written to ``output`` (format from its suffix), or None."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in formats:
        got = f"suffix '.{suffix}'" if suffix else "no suffix"
        others = ", ".join(sorted(set(formats) - {"png", "pdf", "svg"}))
        return (f"-o {output}: {got}; the format is taken from the suffix (end the name in "
                f".png, .pdf or .svg; also {others})")
    if not output.parent.is_dir():
        return f"-o {output}: no directory {output.parent} (create it or choose another -o)"
    if output.is_dir():
        return f"-o {output}: is a directory (give a file name, e.g. -o {output / 'phase.png'})"
    return None


def _plot_kwargs(ds, args: argparse.Namespace) -> tuple[object, dict[str, object]] | str:
    """The Dataset and keyword arguments of ``save_figure`` for ``plot``'s options, or why
    they are wrong; says on stderr what is drawn when the store holds more."""
    from .plots import overlap_loads

    sizes = [int(n) for n in ds["N"].values]
    kwargs: dict[str, object] = {}
    if args.alpha is not None and args.kind != "overlap":
        return (f"--alpha: only --kind overlap draws chosen loads (the {args.kind} map shows "
                "every load; add --kind overlap or drop --alpha)")
    if args.N is not None:
        if args.N not in sizes:
            return (f"--N: {args.N} is not in the store, which has N = "
                    f"{', '.join(map(str, sizes))} (choose one of them)")
        if args.kind == "overlap":
            ds = ds.sel(N=[args.N])
        else:
            kwargs["N"] = args.N
    elif args.kind != "overlap" and len(sizes) > 1:
        print(f"hopsweep: drawing N = {max(sizes)}; the store also has N = "
              f"{', '.join(map(str, sizes[:-1]))} (choose with --N)", file=sys.stderr)
    if args.kind == "overlap":
        try:
            loads = overlap_loads(ds, args.alpha)
        except ValueError as err:
            return f"--{err}"
        kwargs["alpha"] = loads
        if loads.size < ds.sizes["alpha"]:
            print(f"hopsweep: drawing alpha = {', '.join(f'{a:g}' for a in loads)} of the "
                  f"store's {ds.sizes['alpha']} loads (choose with --alpha)", file=sys.stderr)
    return ds, kwargs


def cmd_plot(args: argparse.Namespace) -> int:
    from .errors import HopsweepError
    from .results import open_results

    store = Path(args.store)
    try:
        ds = open_results(store)
    except HopsweepError as err:
        return _fail(err.render(STORE_ARGUMENT_WORDS))
    named = store if store.name not in ("", "..") else store.resolve()  # `plot .` in the store
    output = Path(args.output) if args.output else named.with_suffix(".png")
    problem = _check_output(output)
    if problem:
        return _fail(problem)
    from .extrapolation import is_transition
    from .plots import save_figure

    if is_transition(ds):  # one figure: the transition against N^-nu, fitted
        from .transition_plots import save_figure as save_transition

        try:
            save_transition(ds, output)
        except OSError as err:
            return _fail(f"-o {output}: cannot write ({err.strerror or err}) (choose another -o)")
        print(f"hopsweep: wrote {output}", file=sys.stderr)
        return EXIT_OK
    chosen = _plot_kwargs(ds, args)
    if isinstance(chosen, str):
        return _fail(chosen)
    ds, kwargs = chosen
    try:
        save_figure(ds, output, kind=args.kind, **kwargs)
    except OSError as err:
        return _fail(f"-o {output}: cannot write ({err.strerror or err}) (choose another -o)")
    print(f"hopsweep: wrote {output}", file=sys.stderr)
    return EXIT_OK


def cmd_theory(args: argparse.Namespace) -> int:
    import numpy as np

    from kernels import rs

    alpha = args.alpha
    if not (math.isfinite(alpha) and alpha > 0):
        return _fail(f"--alpha: must be a finite number > 0, got {alpha} (e.g. --alpha 0.05)")
    if args.T is not None and not (math.isfinite(args.T) and args.T >= 0):
        return _fail(f"--T: must be a finite number >= 0, got {args.T} (e.g. --T 0.3)")
    T = 0.0 if args.T is None else args.T
    rows = [
        ("T_g (paramagnet -> spin glass)", rs.spin_glass_temperature(alpha), ""),
        ("T_M (retrieval states appear)", rs.retrieval_temperature(alpha),
         f"none: no retrieval state at any T above alpha_c(0) = {rs.critical_load(0.0):.5f}"),
        ("T_c (retrieval = global minimum)", rs.stability_temperature(alpha),
         "none: retrieval states are never the global minima at this load"),
        (f"alpha_c(T = {T:g}) (critical load)", rs.critical_load(T),
         "none: no retrieval state at this temperature"),
        (f"m(alpha, T = {T:g}) (retrieval overlap)", rs.overlap(alpha, T), ""),
    ]
    # a zero load or overlap means "no retrieval state", which a bare 0.00000 hides
    zero = {3: "0 (no retrieval state at this temperature, at any load)",
            4: "0 (no retrieval state at this alpha and T)"}
    print(f"replica-symmetric theory (Amit-Gutfreund-Sompolinsky), alpha = {alpha:g}")
    for row, (label, value, missing) in enumerate(rows):
        value = float(value)
        if not np.isfinite(value):
            shown = missing
        elif value == 0 and row in zero:
            shown = zero[row]
        else:  # small values (alpha_c just below T = 1) in significant digits
            shown = f"{value:.5f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"
        print(f"{label:<40}{shown}")
    return EXIT_OK


def cmd_shard(args: argparse.Namespace) -> int:
    from .config import as_spec
    from .errors import HopsweepError, SpecError
    from .shard import run_shard

    try:
        spec = as_spec(args.config)
        return run_shard(spec, index=args.index, count=args.count, store=args.store)
    except SpecError as err:
        return _fail(f"{args.config}: invalid config\n{err}")
    except HopsweepError as err:
        return _fail(err.render(CLI_WORDS))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hopsweep",
        description="Phase diagrams of the Hopfield model with mean-field message passing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="compute a sweep (creates or resumes its store)")
    run.add_argument("config", help="TOML config file")
    run.add_argument("--store", help="store path (default results/<name>.zarr)")
    run.add_argument("--workers", type=int, help="worker processes / jobs")
    run.add_argument("--scheduler", metavar="ADDRESS", help="existing Dask scheduler address")
    run.add_argument("--cluster", choices=["local", "slurm", "pbs"], help="cluster kind")
    run.add_argument("--retry-failed", action="store_true", help="recompute failed points")
    run.add_argument("--overwrite", action="store_true", help="replace a store of another spec")
    run.add_argument("--dry-run", action="store_true",
                     help="show points, tasks, chunks and store size; write nothing")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="progress and errors of a store")
    status.add_argument("store", help="store path")
    status.set_defaults(func=cmd_status)

    plot = sub.add_parser("plot", help="figure from a store (PNG/PDF/SVG by suffix)")
    plot.add_argument("store", help="store path")
    plot.add_argument("-o", "--output", help="output file (default <store>.png)")
    plot.add_argument("--kind", choices=["phase", "overlap", "convergence", "basins"],
                      default="phase")
    plot.add_argument("--N", type=int, help="system size drawn (default the largest; "
                      "--kind overlap draws every N unless given)")
    plot.add_argument("--alpha", type=float, nargs="+", metavar="A",
                      help="--kind overlap: loads drawn, each the nearest of the grid (default "
                      "every load, or an even spread of a long grid)")
    plot.set_defaults(func=cmd_plot)

    shard = sub.add_parser("shard", help="compute one slice of a sweep, no scheduler")
    shard.add_argument("config", help="TOML config file")
    shard.add_argument("--index", type=int, required=True, help="this shard, 0-based")
    shard.add_argument("--count", type=int, required=True, help="number of shards")
    shard.add_argument("--store", help="store path (default results/<name>.zarr)")
    shard.set_defaults(func=cmd_shard)

    theory = sub.add_parser("theory", help="replica-symmetric reference values")
    theory.add_argument("--alpha", type=float, required=True, help="load P / N")
    theory.add_argument("--T", type=float, help="temperature (default 0)")
    theory.set_defaults(func=cmd_theory)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hopsweep``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `hopsweep status STORE | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no 2nd error at exit
        return EXIT_BROKEN_PIPE
