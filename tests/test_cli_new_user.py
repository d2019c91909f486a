"""What a new user meets first, through the real ``hopsweep`` command in subprocesses:
configs that are not the repository's (one temperature, one load, many algorithms,
several sizes) and the mistakes people type (store under a file, figure names
without a known suffix, infinite values, a bad option value, output piped into
``head``). Every mistake exits 2 with a message naming the argument, writes
nothing and prints no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from cluster_helpers import env, hopsweep, run_args, write_config
from matplotlib.collections import QuadMesh

import sweep
from sweep import crossings, plots

#: One temperature and one load, six algorithms, two sizes: about a second.
ONE_POINT_SWEEP = """
name = "one_point"
root_seed = 11

[grid]
algorithm = ["tap", "nmf", "bp_relaxed", "bp_retrieval", "mc", "exact"]
N = [12, 16]
alpha = [0.0625]  # P = 1 at N = 12 and 16: Curie-Weiss, retrieved at T = 0.5
T = 0.5
seed = [0, 3]

[cluster]
workers = 1
"""


def _run_with_one_worker(directory, sweep_text: str, store_name: str, name: str = "sweep.toml"):
    """Write ``sweep_text`` as a config, ``hopsweep run`` it with one worker into
    ``directory / store_name`` (checking the exit code) and return the store."""
    config = write_config(directory, sweep_text, name=name)
    store = directory / store_name
    done = hopsweep(*run_args(config, store, "--workers", "1"), cwd=directory)
    assert done.returncode == 0, done.stderr
    return store


@pytest.fixture(scope="module")
def one_point_store(tmp_path_factory):
    directory = tmp_path_factory.mktemp("one_point")
    config = write_config(directory, ONE_POINT_SWEEP)
    store = directory / "one_point.zarr"
    done = hopsweep("run", str(config), "--store", str(store), cwd=directory)
    assert done.returncode == 0, done.stderr
    return store


def _cells(fig) -> list[np.ndarray]:
    """Corner coordinates (rows+1, cols+1, 2) of the colour maps of a figure's panels."""
    panels = [a for a in fig.axes if a.get_title()]  # not the colour bars
    return [c.get_coordinates() for a in panels for c in a.collections if isinstance(c, QuadMesh)]


def test_cell_edges_by_hand():
    np.testing.assert_allclose(plots.cell_edges([0.1, 0.2, 0.4]), [0.05, 0.15, 0.3, 0.5])
    np.testing.assert_allclose(plots.cell_edges([0.3]), [0.27, 0.33])


@pytest.mark.parametrize("draw", [plots.phase_diagram, plots.convergence_map])
def test_one_temperature_and_one_load_are_drawn_as_cells(one_point_store, draw):
    """pcolormesh(shading="nearest") gives a lone T or alpha a zero-size, invisible cell."""
    fig = draw(sweep.open_results(one_point_store))
    meshes = _cells(fig)
    assert len(meshes) == len([a for a in fig.axes if a.get_title()]) > 0
    for corners in meshes:
        (alpha_lo, T_lo), (alpha_hi, T_hi) = corners[0, 0], corners[-1, -1]
        assert alpha_lo < 0.0625 < alpha_hi and T_lo < 0.5 < T_hi, corners
    T_top = fig.axes[0].get_ylim()[1]
    assert T_top > 0.5 * 1.05  # the whole cell is inside the axes


def test_many_algorithms_wrap_onto_rows(one_point_store):
    fig = plots.phase_diagram(sweep.open_results(one_point_store))
    panels = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in panels] == [
        f"{name}, N = 16" for name in ("tap", "nmf", "bp_relaxed", "bp_retrieval", "mc", "exact")
    ]
    rows = {round(a.get_position().y0, 3) for a in panels}
    assert len(rows) == 2  # 6 panels: 2 rows of 3, not one row 6 panels wide


def test_plot_chooses_N_and_says_which_it_drew(one_point_store, tmp_path):
    default = hopsweep("plot", str(one_point_store), "-o", str(tmp_path / "d.png"), cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert "drawing N = 16; the store also has N = 12 (choose with --N)" in default.stderr
    small = hopsweep(
        "plot", str(one_point_store), "--N", "12", "-o", str(tmp_path / "s.pdf"), cwd=tmp_path
    )
    assert small.returncode == 0, small.stderr
    assert (tmp_path / "s.pdf").read_bytes()[:5] == b"%PDF-"
    missing = hopsweep(
        "plot", str(one_point_store), "--N", "13", "-o", str(tmp_path / "m.png"), cwd=tmp_path
    )
    assert missing.returncode == 2
    assert "--N: 13 is not in the store, which has N = 12, 16" in missing.stderr
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("phase.xyz", "-o {}: suffix '.xyz'; the format is taken from the suffix"),
        ("phase", "-o {}: no suffix; the format is taken from the suffix"),
        ("nodir/phase.png", "-o {}: no directory"),
    ],
)
def test_plot_output_that_cannot_be_written_exits_2(one_point_store, tmp_path, output, expected):
    target = tmp_path / output
    done = hopsweep("plot", str(one_point_store), "-o", str(target), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert expected.format(target) in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("inside", ["a_file/s.zarr", "a_file/deeper/s.zarr"])
def test_store_under_a_file_exits_2_and_writes_nothing(tmp_path, inside):
    config = write_config(tmp_path, ONE_POINT_SWEEP)
    (tmp_path / "a_file").write_text("not a directory")
    for command in ("run", "shard"):
        extra = ["--index", "0", "--count", "1"] if command == "shard" else []
        done = hopsweep(
            command, str(config), *extra, "--store", str(tmp_path / inside), cwd=tmp_path
        )
        assert done.returncode == 2, done.stderr
        assert f"--store {tmp_path / inside}: cannot create a store there" in done.stderr
        assert "a_file is a file, not a directory" in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "sweep.toml"]


def test_bad_option_values_name_the_option(tmp_path):
    config = write_config(tmp_path, ONE_POINT_SWEEP)
    workers = hopsweep("run", str(config), "--workers", "0", cwd=tmp_path)
    assert workers.returncode == 2
    assert "`--workers` (sets cluster.workers): must be an integer >= 1, got 0" in workers.stderr
    address = hopsweep("run", str(config), "--scheduler", "localhost", cwd=tmp_path)
    assert address.returncode == 2
    assert "`--scheduler` (sets cluster.address): must be a scheduler address" in address.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.toml"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--alpha", "inf"], "--alpha: must be a finite number > 0, got inf"),
        (["--alpha", "0.05", "--T", "inf"], "--T: must be a finite number >= 0, got inf"),
    ],
)
def test_theory_refuses_infinite_values(tmp_path, args, expected):
    done = hopsweep("theory", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_theory_says_when_a_zero_means_no_retrieval(tmp_path):
    """m = 0 above alpha_c is 'no retrieval state', and a tiny alpha_c is not shown as 0."""
    above = hopsweep("theory", "--alpha", "0.2", "--T", "0.5", cwd=tmp_path)
    assert above.returncode == 0, above.stderr
    assert "0 (no retrieval state at this alpha and T)" in above.stdout
    near_one = hopsweep("theory", "--alpha", "1e-9", "--T", "0.999", cwd=tmp_path)
    shown = {line[:40].split()[0]: line[40:] for line in near_one.stdout.splitlines()[1:]}
    # T_M(alpha) ~ 1 - 1.95 sqrt(alpha) (physics.md) => alpha_c(0.999) ~ (0.001 / 1.95)^2
    assert float(shown["alpha_c(T"]) == pytest.approx((0.001 / 1.95) ** 2, rel=0.05)
    assert float(shown["m(alpha,"]) > 0


def test_status_into_a_closed_pipe_prints_no_traceback(one_point_store, tmp_path):
    """`hopsweep status STORE | head -1`: the reader leaves early."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sweep", "status", str(one_point_store)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr


def test_range_coordinates_are_the_values_a_user_types(tmp_path):
    """np.linspace(0.02, 0.14, 7)[5] is 0.12000000000000001: ds.sel(alpha=0.12) must work."""
    store = _run_with_one_worker(
        tmp_path,
        'name = "ranges"\n[grid]\nalgorithm = ["tap"]\nN = [60]\n'
        "alpha = { start = 0.02, stop = 0.14, num = 7 }\n"
        "T = { start = 0.05, stop = 1.2, num = 24 }\nseed = 1\n",
        store_name="ranges.zarr",
    )
    ds = sweep.open_results(store)
    assert ds["alpha"].values.tolist() == [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14]
    point = ds.sel(algorithm="tap", N=60, alpha=0.12, seed=0, T=[0.4, 0.45, 0.5, 1.05, 1.1])
    assert (point["status"].values > 0).all()  # computed, found by the typed values


def test_full_bp_at_tiny_N_and_low_T_is_a_status_not_a_failure(tmp_path):
    """N = 2, T = 0.01: tanh saturates to +-1, where the cavity magnetization used to
    be 0/0 and full BP raised a Numba 'zero-size array' error. Whatever the iteration
    does there, it is a status, not a failed task."""
    store = _run_with_one_worker(
        tmp_path,
        'name = "tiny"\n[grid]\nalgorithm = ["bp"]\nN = [2, 8]\nalpha = [0.5]\n'
        "T = [0.01, 0.02, 1.0]\nseed = 2\n",
        store_name="tiny.zarr",
    )
    ds = sweep.open_results(store).load()
    assert (ds["error"] == "").all(), ds["error"].values
    assert set(np.unique(ds["status"])) <= {1, 2, 3, 5}
    # no field: where BP converges at T = 1 it is on the symmetric state m = 0
    converged = ds["status"].sel(T=1.0) == 1
    assert converged.any()
    np.testing.assert_allclose(ds["m"].sel(T=1.0).where(converged).fillna(0.0), 0.0, atol=1e-6)


def test_plot_dot_inside_the_store_writes_the_png_beside_it(one_point_store):
    done = hopsweep("plot", ".", cwd=one_point_store)
    assert done.returncode == 0, done.stderr
    png = one_point_store.parent / "one_point.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png.unlink()


def test_a_misspelled_pattern_key_points_at_a_file_the_user_has(tmp_path):
    """The fix named physics.md, which is not in the repository."""
    config = write_config(
        tmp_path,
        'name = "typo"\n[grid]\nalgorithm = ["tap"]\nN = [100]\nalpha = [0.05]\nT = [0.3]\n'
        'seed = 1\n[patterns]\nkind = "features"\nalpha_d = 0.1\n',
    )
    done = hopsweep("run", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "`patterns.alpha_d`: rejected by kernels.patterns.make" in done.stderr
    assert "(allowed: alpha_D, density, depth)" in done.stderr
    assert "kernels/patterns.py" in done.stderr and "physics.md" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.toml"]


def test_overlap_curves_of_many_algorithms_and_sizes_are_told_apart(one_point_store, tmp_path):
    """12 curves: the colour cycle has 10 colours and every curve had the same marker."""
    fig = plots.save_figure(sweep.open_results(one_point_store), tmp_path / "o.png", "overlap")
    panel = fig.axes[0]
    curves = [container.lines[0] for container in panel.containers]  # errorbar data lines
    styles = {(tuple(line.get_color()), line.get_marker()) for line in curves}
    assert len(curves) == 12 and len(styles) == 12
    labels = fig.legends[0].get_texts()  # one legend, below the panels
    assert [t.get_text() for t in labels][:8] == [
        "tap",
        "nmf",
        "bp_relaxed",
        "bp_retrieval",
        "mc",
        "exact",
        "N = 12",
        "N = 16",
    ]


def test_dry_run_tells_what_a_run_would_do_with_the_store(tmp_path, one_point_store):
    config = write_config(tmp_path, ONE_POINT_SWEEP)
    (tmp_path / "a_file").write_text("not a store")
    (tmp_path / "a_dir").mkdir()
    expected = {
        str(tmp_path / "a_file"): "exists but is not a hopsweep store: would refuse, even with",
        str(tmp_path / "a_dir"): "exists but is not a hopsweep store: would refuse, even with",
        str(tmp_path / "a_file" / "s.zarr"): f"cannot be created: {tmp_path / 'a_file'} is a file",
        str(one_point_store): "exists, same spec: would resume",
        str(tmp_path / "new.zarr"): "(new)",
    }
    for store, state in expected.items():
        done = hopsweep("run", str(config), "--store", store, "--dry-run", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert state in done.stdout, done.stdout
        assert re.search(
            r"^estimate .* \(about [0-9.]+ s on one core, about [0-9.]+ s on 1; ", done.stdout, re.M
        ), done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_dir", "a_file", "sweep.toml"]


def test_rs_lines_over_correlated_patterns_say_they_are_for_iid_ones(tmp_path, one_point_store):
    store = _run_with_one_worker(
        tmp_path,
        'name = "corr"\n[grid]\nalgorithm = ["tap"]\nN = [100]\nalpha = [0.02, 0.05]\n'
        'T = [0.2, 0.5]\nseed = 1\n[patterns]\nkind = "features_sign"\nalpha_D = 0.2\n'
        '[solver]\nreaction = "spectral"\n',
        store_name="corr.zarr",
    )
    note = "RS lines: i.i.d. patterns (these: features_sign)"
    for kind in ("phase", "overlap"):
        fig = plots.save_figure(sweep.open_results(store), tmp_path / f"{kind}.png", kind)
        assert note in [t.get_text() for t in fig.legends[0].get_texts()]
        iid = plots.save_figure(sweep.open_results(one_point_store), tmp_path / "i.png", kind)
        assert not any("i.i.d." in t.get_text() for t in iid.legends[0].get_texts())


def test_a_config_without_seed_runs_one_disorder_sample(tmp_path):
    """`seed` is optional (default one sample); its default reached the planner as the int 1."""
    store = _run_with_one_worker(
        tmp_path,
        '[grid]\nalgorithm = "tap"\nN = 50\nalpha = 0.1\nT = [0.2, 0.4]\n',
        name="bare.toml",
        store_name="bare.zarr",
    )
    ds = sweep.open_results(store)
    assert ds["seed"].values.tolist() == [0] and ds.attrs["title"] == "hopsweep campaign bare"
    assert (ds["status"].values > 0).all()


def test_T_M_at_the_top_of_the_grid_is_drawn_as_a_lower_bound(one_point_store):
    """Retrieval up to the hottest (here the only) T: T_M is only bounded there (NaN,
    flagged as a lower bound), and the figure draws it as such."""
    ds = sweep.open_results(one_point_store)
    out = ds.hopfield.retrieval_temperature().sel(N=16)
    lower = out["T_M_bound"] == crossings.LOWER_BOUND
    assert lower.any()  # some algorithm retrieves at T = 0.5
    assert np.isnan(out["T_M"].where(lower, 0.0)).sum() == lower.sum()
    fig = plots.phase_diagram(ds)
    panels = [a for a in fig.axes if a.get_title()]  # not the colour bars
    for panel, algorithm in zip(panels, ds["algorithm"].values, strict=True):
        labels = panel.get_legend_handles_labels()[1]
        clipped = bool(lower.sel(algorithm=algorithm))
        assert (r"$T_M$ above the hottest $T$ of the grid" in labels) == clipped, labels
        assert (r"measured $T_M$ ($m > 0.5$)" in labels) != clipped, labels


def test_the_fix_for_zero_patterns_is_a_load_that_gives_one(tmp_path):
    """alpha N = 0.5 rounds to P = 0 (half to even): the fix said 'alpha * N >= 0.5'."""
    config = write_config(tmp_path, 'name = "h"\n[grid]\nN = [10]\nalpha = [0.05]\nT = [0.3]\n')
    done = hopsweep("run", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "alpha * N rounds to P = 0 patterns for N = 10" in done.stderr
    assert "(raise alpha or N so alpha * N >= 1)" in done.stderr


def test_a_store_keeps_its_seed_block_when_the_cost_model_changes(tmp_path):
    """A store made by a hopsweep whose cost model chose another seed block (1 seed per
    chunk here, where this version groups 3) is resumed one task per chunk."""
    from sweep.config import load_spec
    from sweep.plan import Plan, make_plan
    from sweep.store import create

    config = write_config(
        tmp_path, 'name = "blocks"\n[grid]\nN = [40]\nalpha = [0.1, 0.2]\nT = [0.3]\nseed = 3\n'
        '[cluster]\nworkers = 1\n'  # 2 tasks of 3 seeds already give one worker 2 tasks
    )
    spec = load_spec(config)
    assert make_plan(spec).seed_block == 3
    old, fresh = tmp_path / "old.zarr", tmp_path / "fresh.zarr"
    create(old, spec, Plan(spec, 1))  # what the other version made before it stopped
    for command, extra in (("shard", ["--index", "1", "--count", "2"]), ("run", [])):
        done = hopsweep(command, str(config), *extra, "--store", str(old), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert "(6 tasks, 6 points)" in done.stderr  # run: 1 seed per task, as the chunks
    assert hopsweep("run", str(config), "--store", str(fresh), cwd=tmp_path).returncode == 0
    a, b = sweep.open_results(old).load(), sweep.open_results(fresh).load()
    assert sweep.open_results(old)["status"].encoding["chunks"][3] == 1
    for name in ("m", "q", "iterations", "status"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_dry_run_estimate_of_full_bp_is_the_right_order_of_magnitude(tmp_path):
    """The cost model put full BP at 50 TAP iterations per iteration; it costs ~3000."""
    from sweep.config import load_spec
    from sweep.plan import make_plan

    config = write_config(
        tmp_path,
        'name = "fullbp"\n[grid]\nalgorithm = ["bp"]\nN = [120]\nalpha = [0.1]\n'
        "T = [0.4, 1.5]\nseed = 2\n",
    )
    store = tmp_path / "fullbp.zarr"
    for _ in range(2):  # the first run may include Numba's compilation in its wall times
        done = hopsweep(
            "run", str(config), "--store", str(store), "--workers", "1", "--overwrite", cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
    ds = sweep.open_results(store).load()
    spent = float(ds["wall_time"].sum())
    estimate = make_plan(load_spec(config)).estimated_seconds()
    # iterations and the machine's load vary: the same order of magnitude is the contract
    assert spent / 10 < estimate < spent * 10, (estimate, spent, ds["iterations"].values)


def test_config_encodings_a_user_meets(tmp_path):
    """A latin-1 comment gave a UnicodeDecodeError traceback; a BOM was 'Invalid statement'."""
    body = '\nname = "enc"\n[grid]\nN = [50]\nalpha = [0.1]\nT = [0.3]\n'
    (tmp_path / "latin1.toml").write_bytes(("# M\xe9zard 2017" + body).encode("latin-1"))
    done = hopsweep("run", "latin1.toml", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "`CONFIG`: is not UTF-8 text (byte 0xe9 at offset 3)" in done.stderr
    (tmp_path / "windows.toml").write_bytes(
        b"\xef\xbb\xbf" + ("# M\xe9zard 2017" + body).replace("\n", "\r\n").encode()
    )
    done = hopsweep("run", "windows.toml", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "spec      enc" in done.stdout


def test_a_solver_option_no_selected_algorithm_reads_is_noted(tmp_path):
    """`mc_sweeps` with only TAP and full BP selected: accepted (and hashed), but the
    user is told it has no effect, by --dry-run and by run; with `mc` selected, not."""
    grid = "[grid]\nN = [40]\nalpha = [0.05]\nT = [0.5]\nseed = 1\n"
    unused = write_config(
        tmp_path,
        f'name = "unused"\n{grid}algorithm = ["tap", "bp"]\n[solver]\nmc_sweeps = 5000\n',
        name="unused.toml",
    )
    note = "[solver] mc_sweeps = 5000 has no effect: it is read by mc only"
    dry = hopsweep("run", str(unused), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"note      {note}" in dry.stdout
    done = hopsweep("run", str(unused), "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"hopsweep: note: {note}" in done.stderr
    used = write_config(
        tmp_path,
        f'name = "used"\n{grid}algorithm = ["tap", "mc"]\n[solver]\nmc_sweeps = 200\n',
        name="used.toml",
    )
    dry = hopsweep("run", str(used), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "note" not in dry.stdout
