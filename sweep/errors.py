"""The typed errors of hopsweep's library, and the words their fixes are told in.

Every error a caller can fix is a subclass of :class:`HopsweepError`; those about
the input (a bad config, a store made from another spec, a store another
process is writing, a store that cannot be made where asked) are also
``ValueError``. A message names what is wrong and the fix. The fix is written
with placeholders for the arguments a caller changes (``{store}``,
``{overwrite}``, ...): ``str(err)`` fills them with the Python API's keywords
(:data:`PYTHON_WORDS`, e.g. ``overwrite=True``), and the ``hopsweep`` command
renders the same error with its flags (``err.render(words)``, e.g. ``--overwrite``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: How the library names the arguments a fix changes (``sweep.run`` keywords).
PYTHON_WORDS: dict[str, str] = {
    "store": "store",
    "overwrite": "sweep.run(config, store=..., overwrite=True)",
    "overwrite_flag": "overwrite=True",
    "make_store": "sweep.run(config, store=...)",
    "retry_failed": "retry_failed=True",
    "scheduler": "cluster.address or client=",
    "index": "index",
    "count": "count",
}


class HopsweepError(Exception):
    """An error a caller can fix; its message names the fix.

    Parameters
    ----------
    template : str
        The message, with ``{word}`` placeholders for argument names (keys of
        :data:`PYTHON_WORDS`) and for ``values``.
    **values
        Values the message shows (paths, hashes), never re-read as templates.
    """

    def __init__(self, template: str, **values: Any):
        self.template = template
        self.values = values
        super().__init__(self.render(PYTHON_WORDS))

    def render(self, words: Mapping[str, str]) -> str:
        """The message with ``words`` naming the arguments (e.g. the CLI's flags)."""
        return self.template.format(**{**words, **self.values})


class SpecError(HopsweepError, ValueError):
    """A config is invalid; ``str(err)`` lists every problem, one per line.

    Each problem names its config key (dotted, ``grid.T``) and the fix; a dict
    config has the TOML's structure, so the keys are the same for both.

    Attributes
    ----------
    problems : tuple of str
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("{text}", text="\n".join(self.problems))


class StoreMismatch(HopsweepError, ValueError):
    """The store exists but holds another spec (or is no hopsweep store)."""


class StoreLocationError(HopsweepError, ValueError):
    """The store cannot be created where asked (no such directory, not writable)."""


class StoreBusy(HopsweepError, ValueError):
    """Another hopsweep process holds the store's lock."""


class ClusterUnavailable(HopsweepError, RuntimeError):
    """The cluster could not be started or reached (nothing was computed)."""


class ArgumentError(HopsweepError, ValueError):
    """An argument of a call (a shard's index or count, ...) has a bad value."""
