"""Writing generated rows into one SQLite file per department.

Speed comes from SQLite's bulk-load settings (no journal, no fsync, one transaction per table)
and from creating the indexes after the rows are in, except for a table whose rows are already
in ``id_no`` order: its index is created first, and every row appends to it, which costs much
less than sorting afterwards. Python's ``executemany`` over column lists measured as fast as
loading through DuckDB's SQLite writer, and keeps row order (and therefore the file)
deterministic.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from gateway.demo.rows import Array, Rows
from gateway.demo.schema import COLUMNS, create_index, create_table

CHUNK = 250_000
BULK_LOAD = (
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA locking_mode = EXCLUSIVE",
    "PRAGMA cache_size = -262144",  # 256 MiB, for building the indexes
)

Advance = Callable[[int], None]


def write_source(path: Path, source: str, tables: dict[str, Rows], advance: Advance) -> None:
    """Replace ``path`` with a SQLite file holding ``source``'s tables, in documented order."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in BULK_LOAD:
            connection.execute(pragma)
        for table, columns in COLUMNS[source].items():
            connection.execute(create_table(table, columns))
            index_first = in_id_order(tables[table])
            if index_first:
                connection.execute(create_index(table))
            _insert(connection, table, tables[table], [name for name, _ in columns], advance)
            if not index_first:
                connection.execute(create_index(table))
    finally:
        connection.close()


def in_id_order(rows: Rows) -> bool:
    """Whether the rows are sorted by ``id_no`` (the indexed column)."""
    ids = rows.columns.get("id_no")
    return ids is not None and len(ids) > 1 and bool(np.all(ids[1:] >= ids[:-1]))


def _insert(
    connection: sqlite3.Connection, table: str, rows: Rows, names: list[str], advance: Advance
) -> None:
    if list(rows.columns) != names:
        raise ValueError(f"{table}: generated columns {list(rows.columns)} != schema {names}")
    insert = f"INSERT INTO {table} VALUES ({', '.join('?' for _ in names)})"
    connection.execute("BEGIN")
    for start in range(0, len(rows), CHUNK):
        connection.executemany(insert, _chunk(rows, start, start + CHUNK))
        advance(min(CHUNK, len(rows) - start))
    connection.execute("COMMIT")


def _chunk(rows: Rows, start: int, stop: int) -> Iterator[tuple[object, ...]]:
    return zip(*(sql_values(column[start:stop]) for column in rows.columns.values()), strict=True)


def sql_values(column: Array) -> list[object]:
    """Python values SQLite stores as the declared types expect: dates and timestamps as ISO
    text (``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS``), NaT as NULL. Strings are already Python
    strings (None for NULL)."""
    if column.dtype.kind != "M":
        values: list[object] = column.tolist()
        return values
    if np.datetime_data(column.dtype)[0] == "D":
        text = _day_text(column)
    else:
        seconds = column.astype("datetime64[s]")
        day = seconds.astype("datetime64[D]")
        text = _day_text(day) + _TIME_OF_DAY[(seconds - day).astype(np.int64) % 86_400]
    text[np.isnat(column)] = None
    result: list[object] = text.tolist()
    return result


def _day_text(days: Array) -> Array:
    """ISO dates through a lookup table over the column's range: formatting each distinct day
    once is much faster than formatting every value."""
    number = days.astype(np.int64)
    known = number[~np.isnat(days)]
    low = int(known.min()) if len(known) else 0
    high = int(known.max()) if len(known) else 0
    table = np.datetime_as_string(np.arange(low, high + 1).astype("datetime64[D]")).astype(object)
    result: Array = table[np.clip(number - low, 0, high - low)]
    return result


_TIME_OF_DAY: Array = np.array(
    [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], dtype=object
)
