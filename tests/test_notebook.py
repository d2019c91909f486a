"""examples/phase_diagram.ipynb runs from a fresh kernel: its sweep through ``sweep.run``
on a Dask cluster the notebook starts, on a store it makes or one ``hopsweep run`` made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
from cluster_helpers import COMMAND_TIMEOUT, env, write_config
from jupyter_client.kernelspec import KernelSpecManager

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "phase_diagram.ipynb"
FIGURES = ("phase_diagram.png", "overlap_curves.png", "convergence_map.png",
           "transitions.png")
#: Seconds one notebook cell may take (the fallback sweep cell is the longest).
CELL_TIMEOUT = 300
#: A figure file smaller than this has no content (an empty 3-panel PNG is ~5 kB).
MIN_FIGURE_BYTES = 10_000

#: A store with two algorithms, so the comparison cell has something to compare.
TINY_SWEEP = """
name = "nbtest"
root_seed = 5

[grid]
algorithm = ["tap", "nmf"]
N = [100]
alpha = [0.04, 0.1]
T = { start = 0.1, stop = 0.7, num = 6 }
seed = 2

[cluster]
workers = 1
"""


def run_notebook(tmp_path: Path, store: Path, monkeypatch,
                 config: Path | None = None) -> nbformat.NotebookNode:
    """Execute the notebook in ``tmp_path`` with the store and figure paths (and the
    config, if given) set."""
    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user"], check=True)
    figures = tmp_path / "figures"
    for key, value in {
        **env(),
        "HOPSWEEP_STORE": str(store),
        "HOPSWEEP_FIGURES": str(figures),
        **({"HOPSWEEP_CONFIG": str(config)} if config else {}),
    }.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return notebook


def check_outputs(notebook: nbformat.NotebookNode, figures: Path) -> None:
    for name in FIGURES:
        assert (figures / name).stat().st_size > MIN_FIGURE_BYTES, name
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(FIGURES)


def chunk_files(store: Path) -> dict[str, int]:
    """Modification times (ns) of every chunk file of a store."""
    return {str(f.relative_to(store)): f.stat().st_mtime_ns for f in store.rglob("*")
            if f.is_file() and "/c/" in f.as_posix()}


def stream_text(notebook: nbformat.NotebookNode, name: str) -> str:
    """Everything the notebook's cells wrote to one stream (stdout or stderr)."""
    return "".join(o.get("text", "") for cell in notebook.cells
                   for o in cell.get("outputs", []) if o.get("name") == name)


def test_notebook_on_a_real_store(tmp_path, monkeypatch):
    config = write_config(tmp_path, TINY_SWEEP)
    store = tmp_path / "nbtest.zarr"
    done = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(config), "--store", str(store)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
        timeout=COMMAND_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    before = chunk_files(store)
    notebook = run_notebook(tmp_path, store, monkeypatch, config=config)
    assert chunk_files(store) == before  # sweep.run resumed the complete store: no recompute
    assert "exists, same spec: would resume" in stream_text(notebook, "stdout")
    check_outputs(notebook, tmp_path / "figures")
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "nothing to compare" not in text  # two algorithms: the paired comparison ran


def test_notebook_makes_its_own_store_when_missing(tmp_path, monkeypatch):
    store = tmp_path / "missing.zarr"
    notebook = run_notebook(tmp_path, store, monkeypatch)
    assert (store / "zarr.json").exists()  # the notebook ran its sweep itself, through sweep.run
    progress = stream_text(notebook, "stderr")
    assert "hopsweep: 100%" in progress and "72/72" in progress, progress[-2000:]
    assert "done      72/72" in stream_text(notebook, "stdout")  # sweep.status(STORE)
    check_outputs(notebook, tmp_path / "figures")
