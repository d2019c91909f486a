"""Read a sweep config (a TOML file or a dict of the same tables), check it, build a Spec.

Every key is checked against its rule in :data:`sweep.keys.CONSTRAINTS` and
every problem is reported at once, each naming its key and the fix
(:class:`sweep.errors.SpecError`). Then the cross-checks that involve several
keys or the kernels (sizes an algorithm accepts, pattern models that build).
Batch-system settings are checked when a run starts (:func:`sweep.cluster.check`):
validating a config never imports dask-jobqueue.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kernels.patterns import n_patterns
from kernels.registry import ALGORITHMS, SolverOptions

from .errors import SpecError
from .keys import CONSTRAINTS, RANGE_KEYS, TABLES
from .rules import Axis, Interval, Options, Rule, problem
from .spec import (
    BATCH_KINDS,
    TRANSITION_KINDS,
    ClusterSpec,
    Spec,
    TransitionSpec,
    cores,
    default_store,
)
from .transition_checks import searched_axis, transition_checks

#: What a config can be: a TOML path, a dict with the TOML's tables, or a Spec.
Config = str | os.PathLike | Mapping | Spec


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
        known = sorted(set().union(*kp.PARAMS.values()))
        keys = [k for k in (*params, *known) if k in str(err)]
        where = f"patterns.{keys[0]}" if keys else "patterns.kind"
        value = params.get(keys[0]) if keys else kind
        fix = f"the keys of kind '{kind}' are in the docstrings of kernels/patterns.py"
        problems.append(problem(where, f"rejected by kernels.patterns.make ({err})", value, fix))
        return
    for name in algorithm:
        if ALGORITHMS[name].needs_feature_mixture and not built.is_feature_mixture:
            problems.append(
                problem(
                    "grid.algorithm",
                    f"'{name}' needs patterns that are linear mixtures of features",
                    list(algorithm),
                    'set [patterns] kind = "features" or drop it',
                )
            )


def _cross_checks(values: dict[str, Any], problems: list[str]) -> None:
    algorithm, N, alpha = values["grid.algorithm"], values["grid.N"], values["grid.alpha"]
    if not alpha:  # critical_load: the smallest load of the bracket
        alpha = (values["transition.alpha.lo"] or 1.0,)
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
    P = n_patterns(N[0], alpha[0])
    for name in algorithm:
        fewest = ALGORITHMS[name].min_patterns
        if fewest > 1 and P < fewest:
            problems.append(
                problem(
                    "grid.alpha",
                    f"'{name}' needs {fewest} patterns, but alpha * N rounds to P = {P}"
                    f" for N = {N[0]}",
                    alpha[0],
                    f"raise alpha or N so alpha * N >= {fewest - 0.5:g}, or drop '{name}'",
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
    if values.get("cluster.jobqueue") and kind not in BATCH_KINDS:
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
    searched = searched_axis(flat)
    if "transition.kind" not in flat and any(k.startswith("transition.") for k in flat):
        problems.append(problem("transition.kind", "is required in a [transition] table", None,
                                CONSTRAINTS["transition.kind"].fix))
    for key, rule in CONSTRAINTS.items():
        if key not in flat:
            if rule.required and key != searched:
                problems.append(problem(key, "is required", None, rule.fix))
            values[key] = () if key == searched else rule.default
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
    transition_checks(flat, values, problems)
    _cross_checks(values, problems)
    if not problems:
        _check_patterns(
            flat,
            values["grid.N"],
            values["grid.alpha"] or (values["transition.alpha.hi"],),
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
        workers=values["cluster.workers"] or cores(),
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
    transition = None
    if values["transition.kind"] is not None:
        searched = TRANSITION_KINDS[values["transition.kind"]][1]
        transition = TransitionSpec(values["transition.kind"],
                                    float(values[f"transition.{searched}.lo"]),
                                    float(values[f"transition.{searched}.hi"]),
                                    float(values["transition.precision"]),
                                    values["transition.points"])
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
        transition=transition,
        cluster=cluster,
        store=default_store(values["name"]),
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


def as_spec(config: Config, overrides: Mapping[str, Any] | None = None) -> Spec:
    """The Spec of a config given in any of the forms the API accepts.

    Parameters
    ----------
    config : path-like, mapping or Spec
        A TOML file (:func:`load_spec`), a dict with the TOML's tables
        (:func:`parse_spec`, name ``"sweep"`` unless it has one) or a Spec (used as is).
    overrides : mapping of dotted key to value, optional
        Values that replace the config's, checked the same way (not with a Spec).

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Every problem of the config, each naming its key and the fix.
    TypeError
        ``config`` is none of these forms.
    """
    if isinstance(config, Spec):
        if overrides:
            raise TypeError("overrides apply to a config, not to a Spec: pass the config")
        return config
    if isinstance(config, Mapping):
        return parse_spec(config, overrides=overrides)
    if isinstance(config, str | os.PathLike):
        return load_spec(config, overrides)
    raise TypeError(f"config must be a TOML path, a dict with the TOML's tables or a Spec, "
                    f"got {type(config).__name__}")
