"""Where a store came from: versions, source checkout, host and times."""

from __future__ import annotations

import datetime
import importlib.metadata
import socket
import subprocess
from pathlib import Path

#: Packages whose versions are recorded in every store.
PACKAGES = ("hopsweep", "numpy", "scipy", "numba", "dask", "distributed", "xarray", "zarr")

#: Seconds a git query may take before provenance gives up on it.
GIT_TIMEOUT = 10.0


def now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Installed versions of ``PACKAGES`` ("missing" when not installed)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def _git(*args: str) -> str | None:
    source = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                              text=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> tuple[str, bool | None]:
    """(commit, dirty) of the hopsweep source checkout; ("unknown", None) outside git."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return "unknown", None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, (bool(status) if status is not None else None)


def attributes() -> dict[str, object]:
    """Provenance attributes of a new store (DESIGN.md, "The dataset")."""
    versions = package_versions()
    commit, dirty = git_state()
    stamp = now()
    return {
        "hopsweep_version": versions["hopsweep"],
        "git_commit": commit,
        "git_dirty": "unknown" if dirty is None else str(dirty).lower(),
        "package_versions": " ".join(f"{k}={v}" for k, v in versions.items()),
        "host": socket.gethostname(),
        "created": stamp,
        "updated": stamp,
    }
