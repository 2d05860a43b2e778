"""Masks: one SQL expression per mask, written for each engine dialect that needs its own spelling.

A mask replaces a column inside its policy view, so every clause of the analyst's query sees
only the masked value. Null stays null for every mask. The ``hash`` mask is keyed: the key is a
per-principal derivation of a secret from settings; it appears only in the SQL sent to the engine,
never in SQL shown to a user (``explain`` and the audit log render it as ``<redacted>``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import cache

import sqlglot
from sqlglot import exp

PLACEHOLDER = "shuqiao_masked_column"
KEY_PLACEHOLDER = "shuqiao_mask_key"
REDACTED_KEY = "<redacted>"
DIALECTS = ("trino", "duckdb", "postgres", "mysql")

# Everything from the start of the address up to and including the county-level part:
# [province][prefecture-level city or autonomous prefecture]district/county/county-level city.
# The district part needs at least one character: 泸州市 and 达州市 end in 州 before 市.
ADDRESS_DISTRICT_RE = "^((?:.*?(?:省|自治区))?(?:.*?(?:市|自治州|州|盟|地区))?.+?(?:区|县|市|旗))"


@dataclass(frozen=True, slots=True)
class Mask:
    """A named mask: ``sql`` maps dialect to a template over ``{c}`` (``default`` if absent)."""

    name: str
    description: str
    example: tuple[str, str]
    sql: dict[str, str] = field(default_factory=dict)
    #: The expression itself maps null to null in every dialect (a cast, a truncation), so it
    #: needs no null guard — and stays a plain cast an engine can see through: Trino turns
    #: ``CAST(ts AS DATE) >= DATE '…'`` into a range on ``ts`` and pushes it to the source.
    strict: bool = False

    def template(self, dialect: str) -> str:
        return self.sql.get(dialect) or self.sql["default"]


MASKS: dict[str, Mask] = {
    m.name: m
    for m in (
        Mask("id_no", "region code only; the rest would leak sex and the check digit",
             ("510104199001011234", "510104************"),
             {"default": "SUBSTRING({c}, 1, 6) || '************'",
              "mysql": "CONCAT(SUBSTRING({c}, 1, 6), '************')"}),
        Mask("name", "surname's first character, then one * per remaining character",
             ("欧阳娜娜", "欧***"),
             {"default": "RPAD(SUBSTRING({c}, 1, 1), CAST(LENGTH({c}) AS INTEGER), '*')",
              "mysql": "RPAD(SUBSTRING({c}, 1, 1), CHAR_LENGTH({c}), '*')"}),
        Mask("phone", "first three and last four digits", ("13812345678", "138****5678"),
             {"default": "SUBSTRING({c}, 1, 3) || '****' || SUBSTRING({c}, 8)",
              "mysql": "CONCAT(SUBSTRING({c}, 1, 3), '****', SUBSTRING({c}, 8))"}),
        Mask("address_district", "province, city and district only",
             ("四川省成都市锦江区红星路二段70号", "四川省成都市锦江区"),
             {"default": f"REGEXP_EXTRACT({{c}}, '{ADDRESS_DISTRICT_RE}', 1)",
              "duckdb": f"NULLIF(REGEXP_EXTRACT({{c}}, '{ADDRESS_DISTRICT_RE}', 1), '')",
              "postgres": f"SUBSTRING({{c}} FROM '{ADDRESS_DISTRICT_RE}')",
              "mysql": f"REGEXP_SUBSTR({{c}}, '{ADDRESS_DISTRICT_RE}')"}),
        Mask("bank_card", "last four digits", ("6222021234567890123", "***************0123"),
             {"default": "LPAD(SUBSTRING({c}, LENGTH({c}) - 3), CAST(LENGTH({c}) AS INTEGER), '*')",
              "mysql": "LPAD(SUBSTRING({c}, CHAR_LENGTH({c}) - 3), CHAR_LENGTH({c}), '*')"}),
        Mask("date", "timestamp to its date", ("2026-03-04 08:15:00", "2026-03-04"),
             {"default": "CAST({c} AS DATE)"}, strict=True),
        Mask("month", "date to the first day of its month", ("2026-03-04", "2026-03-01"),
             {"default": "CAST(DATE_TRUNC('month', {c}) AS DATE)",
              "mysql": "CAST(DATE_FORMAT({c}, '%Y-%m-01') AS DATE)"}, strict=True),
        Mask("year", "date to the first day of its year", ("2026-03-04", "2026-01-01"),
             {"default": "CAST(DATE_TRUNC('year', {c}) AS DATE)",
              "mysql": "CAST(DATE_FORMAT({c}, '%Y-01-01') AS DATE)"}, strict=True),
        Mask("hash", "keyed SHA-256 pseudonym, stable per principal, different across principals",
             ("510104199001011234", "9f2c…(64 hex digits)"),
             {"trino": f"LOWER(TO_HEX(SHA256(TO_UTF8(CONCAT('{KEY_PLACEHOLDER}', "
                       "CAST({c} AS VARCHAR))))))",
              "duckdb": f"SHA256(CONCAT('{KEY_PLACEHOLDER}', CAST({{c}} AS VARCHAR)))",
              "postgres": f"ENCODE(SHA256(CONVERT_TO(CONCAT('{KEY_PLACEHOLDER}', "
                          "CAST({c} AS TEXT)), 'UTF8')), 'hex')",
              "mysql": f"SHA2(CONCAT('{KEY_PLACEHOLDER}', CAST({{c}} AS CHAR)), 256)"}),
        Mask("null", "always NULL (of the column's type)", ("anything", "NULL"),
             {"default": "CASE WHEN 1 = 0 THEN {c} END"}),
    )
}


def derive_key(secret: str, principal: str) -> str:
    """The per-principal hash key: stable for one principal, unrelated across principals."""
    return hmac.new(secret.encode(), principal.encode(), hashlib.sha256).hexdigest()


def mask_expression(name: str, column: exp.Expr, dialect: str, key: str) -> exp.Expr:
    """The mask applied to ``column``, as an AST to be rendered in ``dialect``."""
    template = _template(name, dialect)
    masked = template.transform(lambda n: _fill(n, column, key), copy=True)
    if MASKS[name].strict:
        return masked
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=column.copy(), expression=exp.Null()), true=exp.Null())],
        default=masked,
    )


@cache
def _template(name: str, dialect: str) -> exp.Expr:
    text = MASKS[name].template(dialect).replace("{c}", PLACEHOLDER)
    return sqlglot.parse_one(text, read=dialect)


def _fill(node: exp.Expr, column: exp.Expr, key: str) -> exp.Expr:
    if isinstance(node, exp.Column) and node.name == PLACEHOLDER and not node.table:
        return column.copy()
    if isinstance(node, exp.Literal) and node.is_string and node.this == KEY_PLACEHOLDER:
        return exp.Literal.string(key)
    return node
