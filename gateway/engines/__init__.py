"""Engines run authorized, rewritten statements: embedded DuckDB by default, Trino at scale.

An engine is anything with the :class:`Engine` shape, registered by name in ``ENGINES``; the
built-in ones use the same seam a plugin would. A result may also be a :class:`WireStream`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ResultColumn:
    name: str
    type: str


class ResultStream(Protocol):
    """Rows in pages, so memory is bounded by the page size, not the result size."""

    columns: tuple[ResultColumn, ...]

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]: ...

    def cancel(self) -> None: ...


@runtime_checkable
class WireStream(ResultStream, Protocol):
    """A result that can also hand over its rows with values in the Trino client protocol's JSON
    form (decimals and dates as text, ...), as the engine received them; ``columns`` then carry
    Trino's type names, which say each value's form. A server speaking that protocol passes
    such pages on without decoding and encoding every value again. Read a result either way,
    never both.
    """

    def wire_pages(self, size: int) -> Iterator[list[list[object]]] | None:
        """Pages like :meth:`~ResultStream.pages`; ``None`` when this result has no wire form
        (a wrapper around a result without one)."""
        ...


class Engine(Protocol):
    name: str
    dialect: str

    def execute(self, sql: str) -> ResultStream: ...

    def close(self) -> None: ...
