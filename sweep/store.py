"""Writing the Zarr store of a sweep: template, region writes, locking-safe replacement.

The template (every coordinate and every variable of the plan's
:class:`~sweep.schema.Layout`, chunks unwritten) is built before any task runs,
in a temporary sibling directory renamed into place, so processes starting
together never see a half-made store; whoever loses the rename checks that the
winner's spec hash is its own. Unwritten chunks read as their fill values:
``status`` 0 is pending. Results are written one task (one chunk) at a time,
values first and ``status`` last, so a point is never marked done before its
values are on disk. Nothing is ever appended or resized.

The layout itself (names, dtypes, fill values, attributes) is
:mod:`sweep.schema`'s; reading results is :mod:`sweep.results`'.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kernels.status import FAILED

from . import provenance
from .errors import StoreLocationError, StoreMismatch
from .schema import COORDINATES, ERROR, MAGNETIZATION, layout_of, status_attrs

if TYPE_CHECKING:
    from .plan import Plan, Task
    from .spec import Spec


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
        "{store} {path}: cannot create a store there ({reason}) "
        "(choose a {store} in a writable directory)", path=str(path), reason=reason)


def _root_attrs(spec: Spec, plan: Plan) -> dict[str, Any]:
    return {
        "title": f"hopsweep campaign {spec.name}",
        "Conventions": "CF-1.10",
        "spec": spec.canonical,
        "spec_hash": spec.hash,
        "seed_block": plan.seed_block,
        "effective_tol": spec.options.effective_tol,
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
    """Write the template (metadata and coordinates only) of ``plan.layout`` at ``path``."""
    import zarr

    layout = plan.layout
    root = zarr.open_group(str(path), mode="w-", zarr_format=3,
                           attributes=_root_attrs(spec, plan))
    root.create_group("_lock", attributes={"description": "its zarr.json is hopsweep's lock file"})
    coords = {dim: np.array(spec.coords[dim], dtype=str if dim == "algorithm" else None)
              for dim in layout.dims}
    if spec.sites:
        coords["site"] = np.arange(max(spec.N))
    for name, values in coords.items():
        long_name, units = COORDINATES[name]
        _small_array(root, name, values, [name], {"long_name": long_name, "units": units})
    has_P = "alpha" in layout.dims  # a critical_load store searches alpha: no P per point
    if has_P:
        P = np.rint(np.multiply.outer(np.array(spec.N), np.array(spec.alpha))).astype(np.int64)
        long_name, units = COORDINATES["P"]
        _small_array(root, "P", P, ["N", "alpha"], {"long_name": long_name, "units": units})
    chunks = plan.chunks
    shape = {dim: coords[dim].size for dim in layout.dims}
    for name, var in layout.variables.items():
        attrs = {**var.attrs, **({"coordinates": "P"} if has_P else {}),
                 **(status_attrs(layout.flags) if name == "status" else {})}
        root.create_array(name, shape=tuple(shape.values()),
                          chunks=tuple(chunks[d] for d in layout.dims), dtype=var.dtype,
                          fill_value=var.fill, dimension_names=list(layout.dims),
                          attributes=attrs)
    sample = layout.sample_dims
    root.create_array("error", shape=tuple(shape[d] for d in sample),
                      chunks=tuple(chunks[d] for d in sample), dtype=str, fill_value=ERROR.fill,
                      dimension_names=list(sample), attributes=ERROR.attrs)
    if spec.sites:
        dims = [*layout.dims, "site"]
        root.create_array("magnetization", shape=(*shape.values(), max(spec.N)),
                          chunks=tuple(chunks[d] for d in dims), dtype=spec.options.dtype,
                          fill_value=MAGNETIZATION.fill, dimension_names=dims,
                          attributes=MAGNETIZATION.attrs)
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
            "{store} {path}: exists but is not a hopsweep store (choose another {store} "
            "or remove it)", path=str(path)) from err


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
            "{store} {path}: holds another spec (hash {found}, this config {wanted}; "
            "differs in {changed}); replace it with {overwrite}, or choose another {store}",
            path=str(path), found=found[:12], wanted=spec.hash[:12],
            changed=", ".join(changed) or "its canonical text")


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
    import dataclasses

    import zarr

    block = int(zarr.open_group(str(path), mode="r")["status"].chunks[3])
    return plan if block == plan.seed_block else dataclasses.replace(plan, seed_block=block)


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

        from .spec import spec_from_canonical

        self.path = Path(path)
        root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        layout = layout_of(spec_from_canonical(root.attrs["spec"]))
        # the variables of the store's own layout: one made by an older hopsweep
        # may lack a variable added since, and is still resumed
        self.variables = [name for name in layout.variables if name in root]
        self.arrays = {name: root[name] for name in [*self.variables, "error"]}
        if "magnetization" in root:
            self.arrays["magnetization"] = root["magnetization"]

    def status(self) -> np.ndarray:
        """Status of every point, shape (algorithm, N, alpha, seed, T) (transition
        stores: (algorithm, N, alpha or T, seed)), int8."""
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
        values = {name: result[name] for name in self.variables}
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
        n_seeds, per_seed = int(seeds.sum()), self.arrays["status"].shape[4:]
        values = {"error": np.full(n_seeds, error, dtype=object),
                  "status": np.full((n_seeds, *per_seed), FAILED, dtype=np.int8)}
        self._write(task, seeds, values)
