"""Result encoding for the Trino client protocol. Pure functions.

Engines describe columns with DuckDB type strings (``VARCHAR``, ``DECIMAL(12,2)``,
``TIMESTAMP``, ``INTEGER[]``, ``STRUCT(a INTEGER)``); the catalog uses the same spelling. Trino
clients expect a Trino type with its ``typeSignature`` and values in Trino's JSON forms:
decimals as exact strings, dates as ``YYYY-MM-DD``, timestamps as
``YYYY-MM-DD HH:MM:SS.fff``, doubles' NaN and infinities as strings, varbinary as base64, rows as
arrays. :func:`trino_type` maps the type, :func:`encoder` picks the value conversion once per
column, and :func:`encode_rows` applies them to a page.

Clients that do not announce the ``PARAMETRIC_DATETIME`` capability get ``timestamp`` and
``time`` without a precision, and values at millisecond precision, as Trino does for them.

Values an engine received from Trino in this same JSON form need no encoding at all:
:func:`passes_through` tells when a column's values can go to the client as Trino sent them.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

UNBOUNDED = 2147483647
DEFAULT_PRECISION = 3
DATETIME_RAWS = frozenset({"timestamp", "timestamp with time zone", "time", "time with time zone"})


@dataclass(frozen=True, slots=True)
class Field:
    """A named field of a ``row`` type."""

    name: str
    type: TrinoType


TypeArgument = int | Field


@dataclass(frozen=True, slots=True)
class TrinoType:
    """A Trino type: its raw name and its arguments (lengths, precisions, element types)."""

    raw: str
    arguments: tuple[TypeArgument | TrinoType, ...] = ()

    @property
    def display(self) -> str:
        if self.raw == "varchar" and self.arguments == (UNBOUNDED,):
            return "varchar"
        if self.raw in ("timestamp with time zone", "time with time zone") and self.arguments:
            word = self.raw.split(" ", 1)
            return f"{word[0]}({self.arguments[0]}) {word[1]}"
        if not self.arguments:
            return self.raw
        return f"{self.raw}({', '.join(_display_argument(a) for a in self.arguments)})"

    @property
    def sql_name(self) -> str:
        """The name catalogs list (``decimal(10,2)``): numeric arguments without spaces."""
        if self.arguments and all(isinstance(a, int) for a in self.arguments):
            return self.display.replace(", ", ",")
        return self.display

    def signature(self) -> dict[str, Any]:
        return {"rawType": self.raw, "arguments": [_signature_argument(a) for a in self.arguments]}

    @property
    def precision(self) -> int:
        first = self.arguments[0] if self.arguments else DEFAULT_PRECISION
        return first if isinstance(first, int) else DEFAULT_PRECISION


def _display_argument(argument: TypeArgument | TrinoType) -> str:
    if isinstance(argument, Field):
        return f"{argument.name} {argument.type.display}"
    if isinstance(argument, TrinoType):
        return argument.display
    return str(argument)


def _signature_argument(argument: TypeArgument | TrinoType) -> dict[str, Any]:
    if isinstance(argument, Field):
        return {"kind": "NAMED_TYPE", "value": {"fieldName": {"name": argument.name},
                                                "typeSignature": argument.type.signature()}}
    if isinstance(argument, TrinoType):
        return {"kind": "TYPE", "value": argument.signature()}
    return {"kind": "LONG", "value": argument}


def simple(raw: str, *arguments: TypeArgument | TrinoType) -> TrinoType:
    return TrinoType(raw, tuple(arguments))


VARCHAR = simple("varchar", UNBOUNDED)
BIGINT = simple("bigint")

# DuckDB (and SQL standard) names without arguments -> Trino type.
_PLAIN: dict[str, TrinoType] = {
    "BOOLEAN": simple("boolean"), "BOOL": simple("boolean"),
    "TINYINT": simple("tinyint"), "INT1": simple("tinyint"),
    "SMALLINT": simple("smallint"), "INT2": simple("smallint"), "UTINYINT": simple("smallint"),
    "INTEGER": simple("integer"), "INT": simple("integer"), "INT4": simple("integer"),
    "USMALLINT": simple("integer"),
    "BIGINT": BIGINT, "INT8": BIGINT, "UINTEGER": BIGINT,
    "HUGEINT": simple("decimal", 38, 0), "UHUGEINT": simple("decimal", 38, 0),
    "UBIGINT": simple("decimal", 20, 0),
    "REAL": simple("real"), "FLOAT": simple("real"), "FLOAT4": simple("real"),
    "DOUBLE": simple("double"), "FLOAT8": simple("double"),
    "DECIMAL": simple("decimal", 18, 3), "NUMERIC": simple("decimal", 18, 3),
    "VARCHAR": VARCHAR, "TEXT": VARCHAR, "STRING": VARCHAR, "CHAR": simple("char", 1),
    "BLOB": simple("varbinary"), "BYTEA": simple("varbinary"), "VARBINARY": simple("varbinary"),
    "DATE": simple("date"),
    "TIME": simple("time", 3), "TIMESTAMP": simple("timestamp", 3),
    "DATETIME": simple("timestamp", 3), "TIMESTAMP_S": simple("timestamp", 0),
    "TIMESTAMP_MS": simple("timestamp", 3), "TIMESTAMP_US": simple("timestamp", 6),
    "TIMESTAMP_NS": simple("timestamp", 6),
    "TIMESTAMP WITH TIME ZONE": simple("timestamp with time zone", 3),
    "TIMESTAMPTZ": simple("timestamp with time zone", 3),
    "TIME WITH TIME ZONE": simple("time with time zone", 3),
    "TIMETZ": simple("time with time zone", 3),
    "INTERVAL": simple("interval day to second"),
    "UUID": simple("uuid"), "JSON": simple("json"),
}
_PARAMETRIC = re.compile(r"([A-Z_ ]+?)\s*\((.*)\)(.*)", re.S | re.I)


def trino_type(text: str) -> TrinoType:
    """The Trino type for a DuckDB or Trino type string; unknown types read as varchar."""
    spelled = " ".join(text.strip().split())
    upper = spelled.upper()
    if upper.endswith("]"):
        return simple("array", trino_type(spelled[: spelled.rindex("[")]))
    if upper in _PLAIN:
        return _PLAIN[upper]
    match = _PARAMETRIC.fullmatch(spelled)
    if match is None:
        return VARCHAR
    name, inner, suffix = match.group(1).strip().upper(), match.group(2), match.group(3)
    return _parametric(name, split_top_level(inner), suffix.strip().upper())


def _parametric(name: str, parts: list[str], suffix: str) -> TrinoType:
    if name in ("DECIMAL", "NUMERIC") and all(p.strip().isdigit() for p in parts):
        numbers = [int(p) for p in parts]
        return simple("decimal", numbers[0], numbers[1] if len(numbers) > 1 else 0)
    if name in ("VARCHAR", "CHAR") and len(parts) == 1 and parts[0].strip().isdigit():
        return simple(name.lower(), int(parts[0]))
    if name in ("TIMESTAMP", "TIME") and len(parts) == 1 and parts[0].strip().isdigit():
        raw = name.lower() + (" with time zone" if suffix == "WITH TIME ZONE" else "")
        return simple(raw, int(parts[0]))
    if name in ("LIST", "ARRAY") and len(parts) == 1:
        return simple("array", trino_type(parts[0]))
    if name == "MAP" and len(parts) == 2:
        return simple("map", trino_type(parts[0]), trino_type(parts[1]))
    if name in ("STRUCT", "ROW"):
        return TrinoType("row", tuple(_field(p) for p in parts))
    return VARCHAR


def _field(text: str) -> Field:
    name, _, rest = text.strip().partition(" ")
    return Field(name.strip('"').lower(), trino_type(rest))


def split_top_level(text: str) -> list[str]:
    """``a INTEGER, b DECIMAL(3,1)`` -> its comma-separated parts, ignoring nested commas."""
    parts: list[str] = []
    depth, start, quoted = 0, 0, False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def for_client(kind: TrinoType, parametric_datetime: bool) -> TrinoType:
    """The type as a client sees it: without ``PARAMETRIC_DATETIME``, date-times carry no
    precision in their type (and are sent at millisecond precision)."""
    if parametric_datetime:
        return kind
    if kind.raw in DATETIME_RAWS:
        return TrinoType(kind.raw)
    return replace(kind, arguments=tuple(_argument_for_client(a) for a in kind.arguments))


def _argument_for_client(argument: TypeArgument | TrinoType) -> TypeArgument | TrinoType:
    if isinstance(argument, TrinoType):
        return for_client(argument, False)
    if isinstance(argument, Field):
        return Field(argument.name, for_client(argument.type, False))
    return argument


def column_document(name: str, kind: TrinoType) -> dict[str, Any]:
    return {"name": name, "type": kind.display, "typeSignature": kind.signature()}


# --- values -----------------------------------------------------------------------------------

Encoder = Callable[[Any], object]


def encoder(kind: TrinoType) -> Encoder | None:
    """The conversion of one non-null value of ``kind`` to JSON; ``None`` when none is needed."""
    if kind.raw in ("boolean", "tinyint", "smallint", "integer", "bigint", "varchar", "char",
                    "json"):
        return None
    make = _ENCODERS.get(kind.raw)
    return make(kind) if make else str


def _decimal(kind: TrinoType) -> Encoder:
    scale = kind.arguments[1] if len(kind.arguments) > 1 else 0
    assert isinstance(scale, int)

    def encode(value: Any) -> object:
        return f"{Decimal(value):.{scale}f}"

    return encode


def _double(kind: TrinoType) -> Encoder:
    return encode_double


def encode_double(value: Any) -> object:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def _date(kind: TrinoType) -> Encoder:
    return encode_date


def encode_date(value: Any) -> object:
    day: date = value
    return day.isoformat()


def _timestamp(kind: TrinoType) -> Encoder:
    precision = kind.precision

    def encode(value: Any) -> object:
        return encode_timestamp(value, precision)

    return encode


def encode_timestamp(value: datetime, precision: int) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") + fraction(value.microsecond, precision)


def _timestamp_tz(kind: TrinoType) -> Encoder:
    precision = kind.precision

    def encode(value: Any) -> object:
        return encode_timestamp(value, precision) + " " + zone(value)

    return encode


def zone(value: datetime | time) -> str:
    offset = value.utcoffset()
    if offset is None or offset == timedelta(0):
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _time(kind: TrinoType) -> Encoder:
    precision = kind.precision

    def encode(value: Any) -> object:
        moment: time = value
        text = moment.strftime("%H:%M:%S") + fraction(moment.microsecond, precision)
        return text + (" " + zone(moment) if kind.raw == "time with time zone" else "")

    return encode


def fraction(microseconds: int, precision: int) -> str:
    """The fractional seconds at ``precision`` digits (truncated), with its dot; none at 0."""
    if precision <= 0:
        return ""
    digits = f"{microseconds:06d}"
    return "." + (digits[:precision] if precision <= 6 else digits + "0" * (precision - 6))


def _varbinary(kind: TrinoType) -> Encoder:
    def encode(value: Any) -> object:
        return base64.b64encode(bytes(value)).decode("ascii")

    return encode


def _interval(kind: TrinoType) -> Encoder:
    def encode(value: Any) -> object:
        span: timedelta = value
        sign = "-" if span < timedelta(0) else ""
        span = abs(span)
        hours, rest = divmod(span.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        millis = span.microseconds // 1000
        return f"{sign}{span.days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"

    return encode


def _array(kind: TrinoType) -> Encoder:
    element = kind.arguments[0]
    assert isinstance(element, TrinoType)
    inner = encoder(element)

    def encode(value: Any) -> object:
        return [_apply(inner, item) for item in value]

    return encode


def _map(kind: TrinoType) -> Encoder:
    key_type, value_type = kind.arguments
    assert isinstance(key_type, TrinoType) and isinstance(value_type, TrinoType)
    keys, values = encoder(key_type), encoder(value_type)

    def encode(value: Any) -> object:
        return {str(_apply(keys, k)): _apply(values, v) for k, v in dict(value).items()}

    return encode


def _row(kind: TrinoType) -> Encoder:
    fields = [a for a in kind.arguments if isinstance(a, Field)]
    inner = [(f.name, encoder(f.type)) for f in fields]

    def encode(value: Any) -> object:
        if isinstance(value, dict):
            found = {k.lower(): v for k, v in value.items()}
            return [_apply(f, found.get(name)) for name, f in inner]
        return [_apply(f, item) for (_, f), item in zip(inner, value, strict=False)]

    return encode


def _uuid(kind: TrinoType) -> Encoder:
    return str


_ENCODERS: dict[str, Callable[[TrinoType], Encoder]] = {
    "decimal": _decimal, "double": _double, "real": _double, "date": _date,
    "timestamp": _timestamp, "timestamp with time zone": _timestamp_tz,
    "time": _time, "time with time zone": _time, "varbinary": _varbinary,
    "interval day to second": _interval, "array": _array, "map": _map, "row": _row,
    "uuid": _uuid,
}


def _apply(encode: Encoder | None, value: object) -> object:
    if value is None or encode is None:
        return value
    return encode(value)


def value_type(kind: TrinoType, parametric_datetime: bool) -> TrinoType:
    """The type whose encoding a client gets: millisecond date-times for clients without
    ``PARAMETRIC_DATETIME``."""
    if parametric_datetime or kind.raw not in DATETIME_RAWS:
        return kind
    return TrinoType(kind.raw, (DEFAULT_PRECISION,))


def encoders(kinds: Sequence[TrinoType]) -> list[Encoder | None]:
    return [encoder(k) for k in kinds]


def encode_rows(encode: Sequence[Encoder | None], rows: Sequence[Sequence[object]]
                ) -> list[list[object]]:
    """One page in Trino's JSON form: each value through its column's encoder."""
    if all(e is None for e in encode):
        return [list(row) for row in rows]
    pairs = list(enumerate(encode))
    return [
        [row[i] if e is None or row[i] is None else e(row[i]) for i, e in pairs]
        for row in rows
    ]


# --- values as Trino sent them ----------------------------------------------------------------

# Types whose values this module and Trino write in the same JSON form. Types :func:`trino_type`
# does not know (intervals, ``ipaddress``, ...) are read as varchar and so never pass through.
_WRITTEN_ALIKE = frozenset({
    "boolean", "tinyint", "smallint", "integer", "bigint", "real", "double", "decimal",
    "varchar", "char", "varbinary", "json", "uuid", "date", "time", "time with time zone",
    "timestamp", "timestamp with time zone", "array", "map", "row",
})


def passes_through(text: str, parametric_datetime: bool) -> bool:
    """Whether the values Trino sends a parametric date-time client for a column of its type
    ``text`` can go to this client as they are: the type announced for the column is Trino's
    own, and the client sees date-times at the precision Trino sent."""
    kind = trino_type(text)
    return _spelling(kind.display) == _spelling(text) and _alike(kind, parametric_datetime)


def _spelling(text: str) -> str:
    return text.lower().replace(" ", "").replace('"', "")


def _alike(kind: TrinoType, parametric_datetime: bool) -> bool:
    if kind.raw not in _WRITTEN_ALIKE:
        return False
    if value_type(kind, parametric_datetime) != kind:
        return False
    inner = [a.type if isinstance(a, Field) else a for a in kind.arguments
             if not isinstance(a, int)]
    return all(_alike(t, parametric_datetime) for t in inner)
