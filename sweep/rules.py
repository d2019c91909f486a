"""The vocabulary of config validation: rules a value must satisfy, and one message format.

Each rule (:class:`Interval`, :class:`Options`, :class:`Text`, :class:`Flag`,
:class:`TextList`, :class:`Axis`) says what a value must be; :func:`problem`
writes every complaint the same way::

    `grid.T`: must be > 0, got -0.1 (set start > 0)

The table of which key follows which rule is :mod:`sweep.keys`; applying it is
:mod:`sweep.config`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


def problem(key: str, message: str, value: Any, fix: str) -> str:
    """One validation message: "`key`: message, got value (fix)"."""
    return f"`{key}`: {message}, got {value!r} ({fix})"


@dataclass(frozen=True)
class Interval:
    """A number of type ``kind`` (int or float) in an interval.

    ``low``/``high`` of None mean unbounded; ``closed`` says which ends belong.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            left, right = "[" if lo_in else "(", "]" if hi_in else ")"
            return f"must be {noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"must be {noun} {'>=' if lo_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"must be {noun} {'<=' if hi_in else '<'} {self.high:g}"
        return f"must be {noun}"

    def check(self, value: Any) -> str | None:
        """None when ``value`` satisfies the rule, else what it must be."""
        types = (int, float) if self.kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, types):
            return self.describe()
        if isinstance(value, float) and not math.isfinite(value):
            return self.describe()
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not lo_in)):
            return self.describe()
        if self.high is not None and (value > self.high or (value == self.high and not hi_in)):
            return self.describe()
        return None


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def describe(self) -> str:
        return "must be one of " + ", ".join(repr(v) for v in self.values)

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, str) and value in self.values else self.describe()


@dataclass(frozen=True)
class Text:
    """A string, optionally matching a regular expression."""

    pattern: re.Pattern | None = None
    what: str = "a non-empty string"

    def describe(self) -> str:
        return f"must be {self.what}"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            return self.describe()
        if self.pattern is not None and not self.pattern.match(value):
            return self.describe()
        return None


@dataclass(frozen=True)
class Flag:
    """A boolean."""

    def describe(self) -> str:
        return "must be true or false"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else self.describe()


@dataclass(frozen=True)
class TextList:
    """A list of strings (a single string is accepted as a list of one)."""

    def describe(self) -> str:
        return "must be a list of strings"

    def check(self, value: Any) -> str | None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            return self.describe()
        return None


@dataclass(frozen=True)
class Axis:
    """A sweep axis: a value, a list of values, or {start, stop, num} (linspace).

    ``element`` is the rule of every value; ``integer`` axes accept no ranges.
    """

    element: Interval | Options
    integer: bool = False
    count_ok: bool = False  # ``seed``: an integer n means range(n)

    def describe(self) -> str:
        return "must be a value, a list of values or {start, stop, num}"


@dataclass(frozen=True)
class Rule:
    """How one config key is checked, its default and how to fix a bad value."""

    check: Interval | Options | Text | Flag | TextList | Axis
    default: Any = None
    fix: str = ""
    required: bool = False
