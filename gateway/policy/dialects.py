"""sqlglot dialects by name, each made once. sqlglot makes a new :class:`Dialect` for every
dialect name it is given, which costs more than some whole steps of the pipeline; a dialect holds
no state of its own (each tokenizer, parser and generator is made per call), so one instance per
name serves every thread."""

from __future__ import annotations

from functools import cache

from sqlglot.dialects.dialect import Dialect


@cache
def dialect(name: str) -> Dialect:
    return Dialect.get_or_raise(name)


TRINO = dialect("trino")
