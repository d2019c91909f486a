"""The Zarr store of a sweep: template, region writes, status, provenance.

The template (every coordinate and every variable, chunks unwritten) is built
before any task runs, in a temporary sibling directory renamed into place, so
processes starting together never see a half-made store; whoever loses the
rename checks that the winner's spec hash is its own. Unwritten chunks read as
their fill values: ``status`` 0 is pending. Results are written one task (one
chunk) at a time, values first and ``status`` last, so a point is never marked
done before its values are on disk. Nothing is ever appended or resized.

Layout (DESIGN.md, "The dataset"): dimensions (algorithm, N, alpha, seed, T)
[+ site]; variables ``m, m_other, q, free_energy, iterations, residual,
converged, wall_time, status`` over all five, ``error`` (text of failed points)
over (algorithm, N, alpha, seed), ``magnetization`` over all six when asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kernels.patterns import ALPHA_KEY_SCALE
from kernels.status import FAILED, PENDING, STATUS_MEANINGS

from . import provenance

if TYPE_CHECKING:
    import xarray

    from kernels.patterns import Patterns

    from .plan import Plan, Task
    from .spec import Spec


DIMS = ("algorithm", "N", "alpha", "seed", "T")
SAMPLE_DIMS = DIMS[:4]


@dataclass(frozen=True)
class Variable:
    """One stored variable: dtype, fill value, CF attributes."""

    dtype: str
    fill: Any
    long_name: str
    units: str


#: Data variables over all five dimensions, in the order they are written
#: (``status`` last: it marks the point done).
VARIABLES: dict[str, Variable] = {
    "m": Variable("float64", np.nan, "overlap with the retrieved pattern (pattern 0)", "1"),
    "m_other": Variable("float64", np.nan, "largest |overlap| with any other pattern", "1"),
    "q": Variable("float64", np.nan, "Edwards-Anderson parameter (1/N) sum_i <s_i>^2", "1"),
    "free_energy": Variable("float64", np.nan, "free energy per neuron at the fixed point", "J"),
    "iterations": Variable("int32", -1, "iterations (Monte Carlo sweeps) spent, -1 if not run",
                           "1"),
    "residual": Variable("float64", np.nan, "last max_i |m_i(t+1) - m_i(t)|", "1"),
    "converged": Variable("bool", False, "iteration met its tolerance", "1"),
    "wall_time": Variable("float64", np.nan,
                          "solver wall time of the seed shared equally among its temperatures",
                          "s"),
    "status": Variable("int8", PENDING, "outcome of the point", "1"),
}

#: Text of the error of failed points, over (algorithm, N, alpha, seed); "" otherwise.
ERROR = Variable("str", "", "error of a failed point (empty otherwise)", "1")
#: Per-neuron magnetizations (``[output] sites = true``), NaN-padded past N, stored
#: in the solver's dtype (``[solver] dtype``).
MAGNETIZATION_ATTRS = {"long_name": "local magnetization <s_i>", "units": "1"}

COORDINATES = {
    "algorithm": ("algorithm name (kernels.registry)", "1"),
    "N": ("number of neurons", "1"),
    "alpha": ("load P / N", "1"),
    "seed": ("disorder sample index", "1"),
    "T": ("temperature", "J / k_B"),
    "site": ("neuron index", "1"),
}


class StoreMismatch(ValueError):
    """The store exists but holds another spec (or is no hopsweep store)."""


class StoreLocationError(ValueError):
    """The store cannot be created where asked (no such directory, not writable)."""


def location_problem(path: str | os.PathLike) -> str | None:
    """Why no store can be created at ``path`` (as far as can be seen), or None."""
    above = Path(path).parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is a file, not a directory"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"{above} is not writable"
    return None


def _location_error(path: Path, err: OSError) -> StoreLocationError:
    reason = location_problem(path) or f"{err.strerror or type(err).__name__} in {path.parent}"
    return StoreLocationError(
        f"--store {path}: cannot create a store there ({reason}) "
        "(choose a --store in a writable directory)"
    )


def _root_attrs(spec: Spec, plan: Plan) -> dict[str, Any]:
    return {
        "title": f"hopsweep campaign {spec.name}",
        "Conventions": "CF-1.10",
        "spec": spec.canonical,
        "spec_hash": spec.hash,
        "seed_block": plan.seed_block,
        **provenance.attributes(),
    }


def _consolidate(path: Path) -> None:
    """Consolidate metadata (Zarr warns that v3 has it only as an extension)."""
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def _small_array(root, name: str, values: np.ndarray, dims: list[str], attrs: dict) -> None:
    """Write a coordinate-sized array in one chunk (strings as Zarr variable-length text)."""
    text = values.dtype.kind == "U"
    arr = root.create_array(name, shape=values.shape, chunks=values.shape,
                            dtype=str if text else values.dtype, fill_value="" if text else 0,
                            dimension_names=dims, attributes=attrs)
    arr[:] = values


def _build(path: Path, spec: Spec, plan: Plan) -> None:
    """Write the template (metadata and coordinates only) at ``path``."""
    import zarr

    root = zarr.open_group(str(path), mode="w-", zarr_format=3,
                           attributes=_root_attrs(spec, plan))
    root.create_group("_lock", attributes={"description": "its zarr.json is hopsweep's lock file"})
    coords = {"algorithm": np.array(spec.algorithm, dtype=str), "N": np.array(spec.N),
              "alpha": np.array(spec.alpha), "seed": np.array(spec.seed), "T": np.array(spec.T)}
    if spec.sites:
        coords["site"] = np.arange(max(spec.N))
    for name, values in coords.items():
        long_name, units = COORDINATES[name]
        _small_array(root, name, values, [name], {"long_name": long_name, "units": units})
    P = np.rint(np.multiply.outer(np.array(spec.N), np.array(spec.alpha))).astype(np.int64)
    _small_array(root, "P", P, ["N", "alpha"],
                 {"long_name": "number of patterns round(alpha N)", "units": "1"})
    chunks = plan.chunks
    shape = dict(zip(DIMS, spec.shape, strict=True))
    for name, var in VARIABLES.items():
        attrs = {"long_name": var.long_name, "units": var.units, "coordinates": "P"}
        if name == "status":
            attrs["flag_values"] = list(STATUS_MEANINGS)
            attrs["flag_meanings"] = " ".join(STATUS_MEANINGS.values())
        root.create_array(name, shape=tuple(shape.values()),
                          chunks=tuple(chunks[d] for d in DIMS), dtype=var.dtype,
                          fill_value=var.fill, dimension_names=list(DIMS), attributes=attrs)
    root.create_array("error", shape=spec.shape[:4], chunks=tuple(chunks[d] for d in SAMPLE_DIMS),
                      dtype=str, fill_value=ERROR.fill, dimension_names=list(SAMPLE_DIMS),
                      attributes={"long_name": ERROR.long_name, "units": ERROR.units})
    if spec.sites:
        dims = [*DIMS, "site"]
        root.create_array("magnetization", shape=(*spec.shape, max(spec.N)),
                          chunks=tuple(chunks[d] for d in dims), dtype=spec.options.dtype,
                          fill_value=np.nan, dimension_names=dims,
                          attributes=MAGNETIZATION_ATTRS)
    _consolidate(path)


def _temporary_sibling(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def stored_hash(path: str | os.PathLike) -> str:
    """The spec hash recorded in a store.

    Raises
    ------
    StoreMismatch
        When ``path`` is not a hopsweep store.
    """
    import zarr

    try:
        attrs = zarr.open_group(str(path), mode="r").attrs
        return str(attrs["spec_hash"])
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError) as err:
        raise StoreMismatch(
            f"--store {path}: exists but is not a hopsweep store (choose another --store "
            "or remove it)"
        ) from err


def verify(path: str | os.PathLike, spec: Spec) -> None:
    """Check that the store at ``path`` was made from ``spec``.

    Raises
    ------
    StoreMismatch
        Another spec (or no hopsweep store) is there; the message names the fix.
    """
    found = stored_hash(path)
    if found != spec.hash:
        import zarr

        stored = json.loads(zarr.open_group(str(path), mode="r").attrs["spec"])
        changed = _differing_keys(stored, spec.physics())
        raise StoreMismatch(
            f"--store {path}: holds another spec (hash {found[:12]}, this config "
            f"{spec.hash[:12]}; differs in {', '.join(changed) or 'its canonical text'}); "
            "replace it with `hopsweep run CONFIG --overwrite`, or choose another --store"
        )


def _differing_keys(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys (``solver.field``) whose values differ between two canonical specs."""
    keys = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _differing_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def create(path: str | os.PathLike, spec: Spec, plan: Plan) -> bool:
    """Create the store template atomically, or verify the one already there.

    Parameters
    ----------
    path : path-like
        Store directory (its parent is created if needed).
    spec, plan : Spec, Plan

    Returns
    -------
    bool
        True if this call created the store, False if it was there already.

    Raises
    ------
    StoreMismatch
        The existing store holds another spec.
    StoreLocationError
        The store cannot be made at ``path`` (its parent is a file, is not
        writable, ...); nothing is left behind.
    """
    path = Path(path)
    if path.exists():
        verify(path, spec)
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _location_error(path, err) from err
    tmp = _temporary_sibling(path, "new")
    try:
        _build(tmp, spec, plan)
        os.rename(tmp, path)
    except OSError as err:
        if not path.exists():
            raise _location_error(path, err) from err
        verify(path, spec)
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def stored_plan(path: str | os.PathLike, plan: Plan) -> Plan:
    """``plan`` with the seed block of the store at ``path`` (its chunks along ``seed``).

    The seed block comes from a cost model, which may change between hopsweep
    versions; a store keeps the block it was made with, so that resuming it
    with a newer hopsweep still runs one task per chunk (one writer per chunk).
    """
    import zarr

    from .plan import Plan

    block = int(zarr.open_group(str(path), mode="r")["status"].chunks[3])
    return plan if block == plan.seed_block else Plan(plan.spec, block)


def replace(path: str | os.PathLike, spec: Spec, plan: Plan) -> None:
    """Replace whatever is at ``path`` by a fresh template (``--overwrite``).

    The new template is complete before the old store moves away; the caller
    holds the old store's exclusive lock.
    """
    path = Path(path)
    tmp = _temporary_sibling(path, "new")
    _build(tmp, spec, plan)
    old = _temporary_sibling(path, "old")
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def touch(path: str | os.PathLike) -> None:
    """Record the ``updated`` time and refresh the consolidated metadata."""
    import zarr

    root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    root.attrs["updated"] = provenance.now()
    _consolidate(Path(path))


class Writer:
    """The single writer of a store (the driver, or one shard over its own chunks).

    Parameters
    ----------
    path : path-like
        An existing store.
    """

    def __init__(self, path: str | os.PathLike):
        import zarr

        self.path = Path(path)
        root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        self.arrays = {name: root[name] for name in [*VARIABLES, "error"]}
        if "magnetization" in root:
            self.arrays["magnetization"] = root["magnetization"]

    def status(self) -> np.ndarray:
        """Status of every point, shape (algorithm, N, alpha, seed, T), int8."""
        return self.arrays["status"][...]

    def _write(self, task: Task, seeds: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        """Write rows ``values[name][j]`` for the selected seeds of a task, status last."""
        rows = np.flatnonzero(seeds)
        whole = rows.size == task.s1 - task.s0
        for name in [*values]:
            if name == "status":
                continue
            self._rows(name, task, rows, values[name], whole)
        self._rows("status", task, rows, values["status"], whole)

    def _rows(self, name: str, task: Task, rows: np.ndarray, data: np.ndarray,
              whole: bool) -> None:
        arr = self.arrays[name]
        if whole:
            arr[task.a, task.n, task.k, task.s0:task.s1] = data
            return
        for j, row in enumerate(rows):
            arr[task.a, task.n, task.k, task.s0 + row] = data[j]

    def write_result(self, task: Task, seeds: np.ndarray, result: Mapping[str, np.ndarray]
                     ) -> None:
        """Store a task's result (see sweep.tasks.run_task) for its selected seeds.

        ``magnetization`` rows shorter than the site axis are NaN-padded.
        """
        values = {name: result[name] for name in VARIABLES}
        values["error"] = np.full(int(seeds.sum()), ERROR.fill, dtype=object)
        if "magnetization" in self.arrays:
            mag = result["magnetization"]
            padded = np.full((*mag.shape[:2], self.arrays["magnetization"].shape[-1]), np.nan,
                             dtype=self.arrays["magnetization"].dtype)
            padded[..., : mag.shape[-1]] = mag
            values["magnetization"] = padded
        self._write(task, seeds, values)

    def write_failure(self, task: Task, seeds: np.ndarray, error: str) -> None:
        """Mark the selected seeds of a task failed (all temperatures) with ``error``."""
        n_seeds, K = int(seeds.sum()), self.arrays["status"].shape[-1]
        values = {"error": np.full(n_seeds, error, dtype=object),
                  "status": np.full((n_seeds, K), FAILED, dtype=np.int8)}
        self._write(task, seeds, values)


def remaining_core_seconds(path: str | os.PathLike) -> float | None:
    """Compute time the pending points of a store still need, core-seconds
    (:func:`sweep.progress.core_seconds_left` of its status and wall times).

    Parameters
    ----------
    path : path-like
        A store (it may be being written).

    Returns
    -------
    float or None
        Core-seconds (divide by the number of workers for wall time); None while
        no point has a wall time (nothing computed yet, or only failures).
    """
    import zarr

    from .progress import core_seconds_left
    from .spec import spec_from_canonical

    root = zarr.open_group(str(path), mode="r")
    return core_seconds_left(root["status"][...], root["wall_time"][...],
                             spec_from_canonical(root.attrs["spec"]))


def open_results(store: str | os.PathLike) -> xarray.Dataset:
    """Open a sweep's store as a lazy, labelled xarray Dataset.

    Parameters
    ----------
    store : path-like
        A store written by ``hopsweep run`` or ``hopsweep shard``.

    Returns
    -------
    xarray.Dataset
        Dask-backed variables over (algorithm, N, alpha, seed, T) as in DESIGN.md.
    """
    import importlib.util

    import xarray as xr

    if not Path(store).exists():
        raise ValueError(f"store {store} does not exist (run `hopsweep run CONFIG` first)")
    if importlib.util.find_spec("sweep.analysis") is not None:
        import sweep.analysis  # noqa: F401  (registers the Dataset accessor)
    return xr.open_zarr(str(store), consolidated=True)


def patterns_for(ds: xarray.Dataset, *, algorithm: str, N: int, alpha: float,
                 seed: int) -> Patterns:
    """Regenerate the patterns of one point from the store alone.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`open_results` (its ``spec`` attribute is used).
    algorithm : str
        Algorithm coordinate of the point (patterns do not depend on it, but it
        must be in the store).
    N, alpha, seed
        Coordinates of the point; alpha is matched to the stored coordinate.

    Returns
    -------
    kernels.patterns.Patterns
        Identical to the patterns the point was computed with.
    """
    from .spec import spec_from_canonical
    from .tasks import build_patterns

    spec = spec_from_canonical(ds.attrs["spec"])
    for key, value, axis in (("algorithm", algorithm, spec.algorithm), ("N", N, spec.N),
                             ("seed", seed, spec.seed)):
        if value not in axis:
            raise ValueError(f"{key} must be one of the store's {list(axis)}, got {value!r}")
    keys = [round(a * ALPHA_KEY_SCALE) for a in spec.alpha]
    if round(float(alpha) * ALPHA_KEY_SCALE) not in keys:
        raise ValueError(f"alpha must be one of the store's {list(spec.alpha)}, got {alpha!r}")
    return build_patterns(spec, N, spec.alpha[keys.index(round(float(alpha) * ALPHA_KEY_SCALE))],
                          seed)
