"""Structured logs: one JSON object per line, only fields on an allow-list.

::

    log = get_logger("statement")
    emit(log, "statement.refused", query_id=qid, principal="si_analyst", rule="deny")
    -> {"ts": "...Z", "level": "info", "event": "statement.refused", "query_id": "...", ...}

The event is a fixed dotted name, never free text: a message that is not one is replaced by
``unstructured`` and its arguments dropped. Fields not on :data:`ALLOWED_FIELDS`, and values that
are not plain scalars (or lists of strings), are refused: left out, their *names* listed under
``refused``. Exceptions are reduced to their class name; messages and tracebacks can quote data.
So nothing reaches a log line that was not meant to: no data values, no SQL, no secrets.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

ROOT = "shuqiao"
ALLOWED_FIELDS = frozenset({
    "ts", "level", "event", "logger", "query_id", "principal", "department", "decision",
    "rule", "error", "status", "duration_ms", "planning_ms", "rows", "engine", "sources",
    "audit_seq", "refused",
})
MAX_TEXT = 200

_EVENT = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
_FIELDS_ATTR = "shuqiao_fields"
Scalar = str | int | float | bool | None


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{ROOT}.{name}")


def emit(logger: logging.Logger, event: str, *, level: int = logging.INFO,
         **fields: object) -> None:
    """Log ``event`` with ``fields``; the handler's filter decides what is written."""
    logger.log(level, event, extra={_FIELDS_ATTR: fields})


class AllowListFilter(logging.Filter):
    """Keeps every record, but rewrites it down to allow-listed fields with plain values."""

    def __init__(self, allowed: frozenset[str] = ALLOWED_FIELDS) -> None:
        super().__init__()
        self.allowed = allowed

    def filter(self, record: logging.LogRecord) -> bool:
        fields: Mapping[str, object] = getattr(record, _FIELDS_ATTR, {})
        kept, refused = _split(fields, self.allowed)
        if refused:
            kept["refused"] = refused
        event = record.msg if isinstance(record.msg, str) and _EVENT.fullmatch(record.msg) \
            else "unstructured"
        if record.exc_info and record.exc_info[0] is not None:
            kept.setdefault("error", record.exc_info[0].__name__)
        record.msg, record.args, record.exc_info, record.exc_text = event, None, None, None
        record.stack_info = None
        setattr(record, _FIELDS_ATTR, kept)
        return True


def _split(fields: Mapping[str, object],
           allowed: frozenset[str]) -> tuple[dict[str, object], list[str]]:
    kept: dict[str, object] = {}
    refused: list[str] = []
    for name, value in fields.items():
        clean = _plain(value)
        if name in allowed and name not in ("ts", "level", "event", "refused") \
                and clean is not _REFUSED:
            kept[name] = clean
        else:
            refused.append(name if _EVENT.fullmatch(name) else "?")
    return kept, sorted(refused)


_REFUSED = object()


def _plain(value: object) -> object:
    """The value if it is a short scalar or a list of short strings; otherwise refused."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else _REFUSED
    if isinstance(value, list | tuple) and all(isinstance(v, str) and len(v) <= MAX_TEXT
                                               for v in value):
        return list(value)
    return _REFUSED


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Run after :class:`AllowListFilter`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "event": record.msg if isinstance(record.msg, str) else "unstructured",
            "logger": record.name,
        }
        line.update(getattr(record, _FIELDS_ATTR, {}))
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def configure_logging(stream: TextIO | None = None, level: int | str = logging.INFO,
                      allowed: frozenset[str] = ALLOWED_FIELDS) -> logging.Handler:
    """Send the ``shuqiao`` loggers to ``stream`` (stderr) as JSON lines; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(AllowListFilter(allowed))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger(ROOT)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
