"""The root of Shuqiao's error hierarchy, and the catalog's own errors.

The root lives here because ``catalog`` is the lowest layer: ``gateway`` and ``connectors``
import it, never the reverse. The whole tree is drawn in ``gateway/errors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


class ShuqiaoError(Exception):
    """Base of every error Shuqiao raises on purpose. Messages never contain data values."""


class CatalogError(ShuqiaoError):
    """The catalog store could not do what was asked (unknown name, broken store, ...)."""


class SourceError(ShuqiaoError):
    """A departmental database could not be reached or failed; names the source, no secrets."""

    error_name = "EXTERNAL"

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"source {source}: {message}")


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem in a policy file, pointing at its line (1-based)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class PolicyFileError(CatalogError):
    """A policy file was rejected whole; ``problems`` lists every problem found."""

    def __init__(self, path: str, problems: list[PolicyProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {path}:{p}" for p in problems)
        super().__init__(f"policy file {path} rejected, nothing applied:\n{lines}")
