"""An advisory lock on a store: one ``run`` at a time, any number of shards.

``fcntl.flock`` on a file inside the store: exclusive for ``hopsweep run`` (the
single writer), shared for ``hopsweep shard`` processes (each owns whole chunks).
The kernel releases the lock when its process dies, even on SIGKILL, so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from .errors import StoreBusy

#: The lock file, relative to the store root: the metadata of the empty Zarr group
#: ``_lock`` that the store template contains for this purpose. Zarr never rewrites
#: it, and a separate file would be an object Zarr does not recognise (it warns).
LOCK_FILE = Path("_lock") / "zarr.json"


class StoreLock:
    """Context manager holding the lock of a store, refusing at once if busy.

    Parameters
    ----------
    store : path-like
        A store made by sweep.store (FileNotFoundError otherwise).
    shared : bool, default=False
        Shared (shards) instead of exclusive (run).
    """

    def __init__(self, store: str | os.PathLike, shared: bool = False):
        self.path = Path(store) / LOCK_FILE
        self.shared = shared
        self._file = None

    def acquire(self) -> StoreLock:
        handle = open(self.path)  # noqa: SIM115 (held until release)
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreBusy(
                "store {path} is being written by another hopsweep process (wait for it "
                "to finish, or stop it; a killed process frees the store at once)",
                path=str(self.path.parent.parent)) from None
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, exc_type: type | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
