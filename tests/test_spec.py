"""Config validation: every key of the constraint table fed bad values, exit 2, nothing written.

The malformed configs are generated from ``sweep.keys.CONSTRAINTS`` (scikit-learn
``check_param_validation`` style): for each key, values of the wrong type and
values just outside its allowed range or options. Each goes through the real
``hopsweep run`` entry point (in-process, ``sweep.cli.main``), which must exit 2
with a message naming the key and write no store.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
import tomllib

import numpy as np
import pytest
import tomli_w
from cluster_helpers import env
from test_registry import CHANGED as CHANGED_OPTIONS  # a non-default value per option

from kernels.registry import SolverOptions
from sweep import cli
from sweep.config import load_spec, parse_spec
from sweep.errors import SpecError
from sweep.keys import CONSTRAINTS
from sweep.rules import Axis, Flag, Interval, Options, Text, TextList
from sweep.spec import spec_from_canonical

VALID = """
name = "valid"
root_seed = 3

[grid]
algorithm = ["tap"]
N = [60]
alpha = { start = 0.05, stop = 0.1, num = 2 }
T = [0.3, 0.6]
seed = 2
"""

#: Tables a key's bad value needs around it so that only that key is wrong.
CONTEXT = {
    "cluster.tls.": {"cluster": {"kind": "address", "address": "tls://127.0.0.1:8786"}},
    "cluster.jobqueue.": {"cluster": {"kind": "slurm"}},
    "cluster.adapt.": {"cluster": {"kind": "slurm"}},
    "cluster.address": {"cluster": {"kind": "address"}},
}


def _bad_values(rule) -> list:
    """Invalid values for one rule, derived from its description only."""
    check = rule.check
    if isinstance(check, Interval):
        bad = ["text", True]
        if check.low is not None:
            below = check.low if check.closed in ("neither", "right") else check.low - 1
            bad.append(int(below) if check.kind is int else float(below))
        if check.high is not None:
            above = check.high if check.closed in ("neither", "left") else check.high + 1
            bad.append(above)
        if check.kind is int:
            bad.append(1.5)
        return bad
    if isinstance(check, Options):
        return ["no-such-option", 3]
    if isinstance(check, Text):
        return [123, ""]
    if isinstance(check, Flag):
        return ["yes", 1]
    if isinstance(check, TextList):
        return [[1, 2], 7]
    if isinstance(check, Axis):
        bad = [[], [check.element.values[0]] * 2] if isinstance(check.element, Options) else []
        if isinstance(check.element, Options):
            bad.append(["no-such-algorithm"])
        elif check.integer:
            bad += [[], [0] if check.element.low == 1 else [-1], [1.5], [4, 4],
                    {"start": 1, "stop": 5, "num": 3}]
        else:
            bad += [[], [-0.1], [0.0], "x", {"start": 0.5, "stop": 0.1, "num": 3},
                    {"start": 0.1, "stop": 0.1, "num": 2}, {"start": 0.1, "stop": 0.5, "num": 0},
                    {"start": 0.1, "stop": 0.5}, {"start": -0.1, "stop": 0.5, "num": 3}]
        return bad
    raise AssertionError(f"no bad values for {check}")


def _set(config: dict, key: str, value) -> None:
    *tables, last = key.split(".")
    for table in tables:
        config = config.setdefault(table, {})
    config[last] = value


def _merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key, {}), dict):
            _merge(base.setdefault(key, {}), value)
        else:
            base[key] = value


def _cases() -> list[tuple[str, object]]:
    cases = []
    for key, rule in CONSTRAINTS.items():
        for value in _bad_values(rule):
            cases.append((key, value))
    return cases


CASES = _cases()


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_enough_malformed_configs_are_generated():
    assert len(CASES) >= 20
    assert {key for key, _ in CASES} == set(CONSTRAINTS)


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k}={v!r}" for k, v in CASES])
def test_malformed_key_exits_2_naming_it_and_writes_nothing(key, value, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tomllib.loads(VALID)
    for prefix, extra in CONTEXT.items():
        if key.startswith(prefix):
            _merge(config, copy.deepcopy(extra))
    _set(config, key, value)
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(config))
    assert tomllib.loads(path.read_text())  # the generated file itself is valid TOML
    code, output = _run_cli(["run", str(path)], capsys)
    assert code == 2, output
    assert f"`{key}" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


CROSS_CASES = {
    "exact with N too large": ("grid.N", {"grid": {"algorithm": ["exact"], "N": [30]}}),
    "alpha N rounds to no pattern": ("grid.alpha", {"grid": {"alpha": [0.001], "N": [60]}}),
    "unknown top-level key": ("colour", {"colour": "red"}),
    "unknown grid key": ("grid.temperature", {"grid": {"temperature": [1.0]}}),
    "unknown table": ("plots", {"plots": {"dpi": 100}}),
    "missing required N": ("grid.N", {"grid": {"N": None}}),
    "address without address": ("cluster.address", {"cluster": {"kind": "address"}}),
    "tls without address kind": ("cluster.tls", {"cluster": {"tls": {"ca": "a", "cert": "b",
                                                                    "key": "c"}}}),
    "adapt minimum above maximum": ("cluster.adapt.minimum",
                                    {"cluster": {"kind": "slurm",
                                                 "adapt": {"minimum": 5, "maximum": 2}}}),
    "layered with iid patterns": ("grid.algorithm", {"grid": {"algorithm": ["layered"]}}),
    "layered with sign patterns": ("grid.algorithm",
                                   {"grid": {"algorithm": ["layered"]},
                                    "patterns": {"kind": "features_sign", "alpha_D": 0.5}}),
    "wrong-pattern BP with one pattern": ("grid.alpha",
                                          {"grid": {"algorithm": ["bp_retrieval_wrong"],
                                                    "N": [100], "alpha": [0.01]}}),
    "features without alpha_D": ("patterns.alpha_D", {"patterns": {"kind": "features"}}),
    "iid with a features key": ("patterns.alpha_D", {"patterns": {"alpha_D": 0.5}}),
    "negative alpha_D": ("patterns.alpha_D", {"patterns": {"kind": "features", "alpha_D": -1}}),
    "walltime shorter than the lifetime margin": (
        "cluster.jobqueue.lifetime_margin",
        {"cluster": {"kind": "slurm", "jobqueue": {"cores": 1, "memory": "1GB",
                                                   "walltime": "00:03:00"}}}),
    "range with extra key": ("grid.T", {"grid": {"T": {"start": 0.1, "stop": 1.0, "num": 3,
                                                      "step": 2}}}),
}


@pytest.mark.parametrize("case", sorted(CROSS_CASES))
def test_cross_checks_exit_2_naming_the_key(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key, extra = CROSS_CASES[case]
    config = tomllib.loads(VALID)
    _merge(config, copy.deepcopy(extra))
    if config["grid"].get("N") is None:
        del config["grid"]["N"]
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(config))
    code, output = _run_cli(["run", str(path)], capsys)
    assert code == 2, output
    assert f"`{key}`" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_toml_syntax_error_and_missing_file_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "broken.toml"
    path.write_text("name = 'x'\n[grid\nN = [1]\n")
    code, output = _run_cli(["run", str(path)], capsys)
    assert code == 2 and "not valid TOML" in output, output
    code, output = _run_cli(["run", str(tmp_path / "absent.toml")], capsys)
    assert code == 2 and "cannot read" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.toml"]


def test_every_problem_of_a_config_is_listed_at_once():
    raw = tomllib.loads(VALID)
    raw["grid"]["T"] = [-1.0]
    raw["solver"] = {"damping": 2.0, "tol": 0}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    keys = [line.split("`")[1] for line in err.value.problems]
    assert keys == ["grid.T", "solver.damping", "solver.tol"]
    assert str(err.value) == "\n".join(err.value.problems)
    # One message format: "`key`: what it must be, got value (fix)"
    assert err.value.problems[0] == (
        "`grid.T`: must be a number > 0, got -1.0 (set start > 0, e.g. "
        "T = { start = 0.05, stop = 1.0, num = 20 })"
    )


def test_malformed_config_through_the_console_process(tmp_path):
    """The real command in a subprocess: exit status 2 reaches the shell, nothing written."""
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace("T = [0.3, 0.6]", "T = [0.3, -0.1]"))
    done = subprocess.run([sys.executable, "-m", "sweep", "run", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, env=env(), timeout=120)
    assert done.returncode == 2, done.stderr
    assert "`grid.T`: must be a number > 0, got -0.1" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


# ----------------------------------------------------------------------------- normalisation


def test_defaults_and_ranges_are_resolved_once(tmp_path):
    path = tmp_path / "valid.toml"
    path.write_text(VALID)
    spec = load_spec(path)
    assert spec.name == "valid" and spec.root_seed == 3
    assert spec.alpha == (0.05, 0.1) and spec.T == (0.3, 0.6) and spec.seed == (0, 1)
    assert spec.options == SolverOptions()  # the registry's defaults, untouched
    assert spec.init == "retrieval" and spec.patterns_kind == "iid" and not spec.sites
    assert spec.store == "results/valid.zarr"
    assert spec.cluster.kind == "local" and spec.cluster.in_flight == 0
    assert spec.cluster.max_in_flight >= 4
    linspace = load_spec(path, {"grid.T": {"start": 0.05, "stop": 1.2, "num": 24}}).T
    np.testing.assert_allclose(linspace, np.linspace(0.05, 1.2, 24), rtol=1e-12, atol=0)
    assert linspace[7:11] == (0.4, 0.45, 0.5, 0.55)  # not linspace's 0.39999999999999997
    with pytest.raises(AttributeError):
        spec.name = "other"  # frozen


def test_hash_names_the_physics_not_the_layout_of_the_file(tmp_path):
    a = parse_spec(tomllib.loads(VALID))
    shuffled = tomllib.loads(VALID)
    shuffled["grid"]["T"] = [0.6, 0.3]  # same axis in another order
    shuffled["cluster"] = {"workers": 7, "in_flight": 3}  # how to run is not hashed
    b = parse_spec(shuffled)
    assert a.hash == b.hash and a.canonical == b.canonical
    changed = tomllib.loads(VALID)
    changed["solver"] = {"tol": 1e-6}
    assert parse_spec(changed).hash != a.hash
    assert spec_from_canonical(a.canonical).hash == a.hash


@pytest.mark.parametrize("option", [f.name for f in dataclasses.fields(SolverOptions)])
def test_every_solver_option_is_hashed_and_kept_in_the_store_text(option):
    # A store must refuse a resume with another value of any option, and its spec
    # text must give the option back (solver.field was once left out of both).
    # Stores made without a field keep their hash: no field key when it is 0.
    base = parse_spec(tomllib.loads(VALID))
    assert "field" not in json.loads(base.canonical)["solver"]
    raw = tomllib.loads(VALID)
    raw["solver"] = {option: CHANGED_OPTIONS[option]}
    changed = parse_spec(raw)
    assert changed.hash != base.hash
    rebuilt = spec_from_canonical(changed.canonical)
    assert getattr(rebuilt.options, option) == CHANGED_OPTIONS[option]
    assert rebuilt.hash == changed.hash


def test_command_line_overrides_and_relative_paths(tmp_path):
    sub = tmp_path / "configs"
    sub.mkdir()
    path = sub / "c.toml"
    path.write_text(VALID + '\n[cluster]\nkind = "address"\naddress = "tls://h:8786"\n'
                    '[cluster.tls]\nca = "ca.pem"\ncert = "c.pem"\nkey = "k.pem"\n')
    spec = load_spec(path, {"cluster.workers": 3})
    assert spec.cluster.workers == 3
    assert spec.cluster.tls == {name: str((sub / file).resolve()) for name, file in
                                (("ca", "ca.pem"), ("cert", "c.pem"), ("key", "k.pem"))}
    over = load_spec(path, {"cluster.kind": "address", "cluster.address": "tcp://1.2.3.4:1"})
    assert over.cluster.address == "tcp://1.2.3.4:1"
    with pytest.raises(SpecError, match="`cluster.workers`"):
        load_spec(path, {"cluster.workers": 0})
