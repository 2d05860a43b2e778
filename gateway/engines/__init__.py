"""Engines run authorized, rewritten statements: embedded DuckDB by default, Trino at scale.

An engine is anything with the :class:`Engine` shape, registered by name in ``ENGINES``; the
built-in ones use the same seam a plugin would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ResultColumn:
    name: str
    type: str


class ResultStream(Protocol):
    """Rows in pages, so memory is bounded by the page size, not the result size."""

    columns: tuple[ResultColumn, ...]

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]: ...

    def cancel(self) -> None: ...


class Engine(Protocol):
    name: str
    dialect: str

    def execute(self, sql: str) -> ResultStream: ...

    def close(self) -> None: ...
