"""Generated rows: a table's column arrays, each row tagged with the person it is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
# Text is built with numpy's vectorised string functions (which need StringDType), and stored in
# columns as object arrays of Python strings: lookups into those share the string objects
# instead of copying them, and SQLite takes them without another conversion.
STRING = np.dtypes.StringDType()


@dataclass(frozen=True)
class Rows:
    """One table's rows as numpy columns (in DDL order) plus ``owner``, the index of the person
    each row belongs to, which the ground truth uses instead of re-parsing identity numbers."""

    owner: Array
    columns: dict[str, Array]

    def __len__(self) -> int:
        return len(self.owner)

    def take(self, order: Array) -> Rows:
        """The same rows, reordered or filtered by an index array."""
        return Rows(self.owner[order], {name: col[order] for name, col in self.columns.items()})


def strings(values: tuple[str, ...] | list[str] | str) -> Array:
    """Pieces to build text from, indexed by integer codes (a str is split into characters)."""
    return np.array(list(values), dtype=STRING)


def labels(values: tuple[str, ...] | list[str]) -> Array:
    """A column's vocabulary, indexed by integer codes to give the column."""
    result: Array = np.empty(len(values), dtype=object)
    result[:] = values
    return result


def column(built: Array) -> Array:
    """Text built as StringDType, as a column of Python strings."""
    return built.astype(object)


def choose(condition: Array, if_true: str, if_false: str) -> Array:
    """One of two words per row."""
    result: Array = labels((if_false, if_true))[condition.astype(np.intp)]
    return result


def pick(rng: np.random.Generator, weights: tuple[float, ...], size: int) -> Array:
    """Integer codes drawn with the given relative weights."""
    p = np.asarray(weights, dtype=np.float64)
    result: Array = rng.choice(len(p), size=size, p=p / p.sum())
    return result


def sample(
    rng: np.random.Generator, candidates: Array, weight: Array, count: int, *, replace: bool
) -> Array:
    """``count`` of the candidates, drawn in proportion to their weight (none if there are no
    candidates, as in a world of a handful of residents)."""
    count = count if replace else min(count, len(candidates))
    if count == 0 or len(candidates) == 0:
        return np.zeros(0, dtype=np.int64)
    result: Array = rng.choice(candidates, size=count, replace=replace, p=weight / weight.sum())
    return result


def join_pairs(left: Array, right: Array) -> tuple[Array, Array]:
    """Every (i, j) with ``left[i] == right[j]``: a vectorised equi-join of two key arrays."""
    order = np.argsort(right, kind="stable")
    ordered = right[order]
    low = np.searchsorted(ordered, left, side="left")
    counts = np.searchsorted(ordered, left, side="right") - low
    left_index = np.repeat(np.arange(len(left)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    right_index = order[np.repeat(low, counts) + within]
    return left_index, right_index
