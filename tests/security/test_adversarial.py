"""The adversarial corpus (``tests/fixtures/security/corpus.yaml``) run through ``Gateway.execute``.

Every entry names a principal, a statement and what must happen to it:

- ``expect: refuse`` with ``error: <class of gateway.errors>``: the statement raises that class (or
  a subclass), and the message quotes no protected value and no value of the departments' raw
  tables that the statement itself does not contain;
- ``expect: rows``: the statement runs and no value it returns is a protected raw value for that
  principal (long values such as phones, identity numbers and addresses are also looked for inside
  longer strings). Optional checks: ``columns``, ``row_count``, ``value`` (first cell) and
  ``groups`` (aggregate-only grants: every returned group holds at least ten persons in the raw
  data, recounted with the entry's own SQL over the raw files).

Protected values come from the raw SQLite files, not from the catalog, so a grant loaded wrong
cannot weaken the checks. For each principal they are the values DEMO.md withholds from it (denied,
match-only, masked, or outside its row filter) minus every value it may see in clear anywhere,
so a value that legitimately appears elsewhere (a shared name, a phone inside an identity number)
is never reported.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

import pytest
import yaml

import gateway.errors as errors
from gateway.demo.build import demo_policy_path
from gateway.service import Gateway

CORPUS = Path(__file__).parents[1] / "fixtures" / "security" / "corpus.yaml"
PAGE = 1000
MIN_GROUP = 10
LONG = 8  # protected values at least this long are also looked for inside longer strings

CATEGORIES = (
    "aliasing", "star", "cte", "set_operations", "subqueries", "unnest_lateral", "positional",
    "match_misuse", "aggregate_only", "system_tables", "table_functions", "meta_statements",
    "multi_statement", "dml_ddl", "comments", "identifiers", "side_channels", "expired_grant",
    "no_grants", "not_granted", "masks_row_filters",
)
PRINCIPALS = (
    "si_analyst", "chengdu_si_analyst", "mi_analyst", "lapsed_analyst", "auditor", "admin",
    "nobody",
)
ENTRY_KEYS = frozenset({
    "id", "category", "principal", "sql", "expect", "error", "columns", "row_count", "value",
    "groups", "message_contains", "note",
})
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

# ------------------------------------------------------------------------------------------------
# The corpus
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCheck:
    """Raw SQL over ``source`` (plus ``attach``-ed departments) giving, per group key (the first
    ``keys`` columns, in the statement's output order), the group's true number of persons."""

    source: str
    sql: str
    keys: int
    attach: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    principal: str
    sql: str
    expect: Literal["refuse", "rows"]
    error: str | None = None
    columns: tuple[str, ...] | None = None
    row_count: int | None = None
    has_value: bool = False
    value: object = None
    groups: GroupCheck | None = None
    message_contains: tuple[str, ...] = ()
    note: str = ""

    @property
    def error_class(self) -> type[errors.ShuqiaoError]:
        assert self.error is not None
        found = getattr(errors, self.error)
        assert isinstance(found, type) and issubclass(found, errors.ShuqiaoError)
        return found


def load_corpus(path: Path = CORPUS) -> list[Entry]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(raw, list), f"{path}: expected a list of entries"
    entries = [_entry(item) for item in raw]
    duplicates = [i for i, n in Counter(e.id for e in entries).items() if n > 1]
    assert not duplicates, f"{path}: duplicate ids {duplicates}"
    return entries


def _entry(item: Mapping[str, Any]) -> Entry:
    unknown = set(item) - ENTRY_KEYS
    name = item.get("id", "?")
    assert not unknown, f"corpus entry {name}: unknown keys {sorted(unknown)}"
    assert item["category"] in CATEGORIES, f"corpus entry {name}: unknown category"
    assert item["principal"] in PRINCIPALS, f"corpus entry {name}: unknown principal"
    assert item["expect"] in ("refuse", "rows"), f"corpus entry {name}: bad expect"
    refuse = item["expect"] == "refuse"
    assert refuse == ("error" in item), f"corpus entry {name}: error goes with expect: refuse"
    if refuse:
        assert not {"columns", "row_count", "value", "groups"} & set(item), name
    else:
        assert "message_contains" not in item, name
    groups = item.get("groups")
    entry = Entry(
        id=str(item["id"]),
        category=str(item["category"]),
        principal=str(item["principal"]),
        sql=str(item["sql"]),
        expect=item["expect"],
        error=item.get("error"),
        columns=tuple(item["columns"]) if "columns" in item else None,
        row_count=item.get("row_count"),
        has_value="value" in item,
        value=item.get("value"),
        groups=GroupCheck(groups["source"], groups["sql"], int(groups["keys"]),
                          tuple(groups.get("attach", ()))) if groups else None,
        message_contains=tuple(str(m) for m in item.get("message_contains", ())),
        note=str(item.get("note", "")),
    )
    if refuse:
        _ = entry.error_class  # an unknown class name fails here, at collection
    return entry


ENTRIES = load_corpus()

# ------------------------------------------------------------------------------------------------
# What each principal may see, restated from DEMO.md (not read from the catalog)
# ------------------------------------------------------------------------------------------------

Row = Mapping[str, object]
RowFilter = Callable[[Row], bool]


def _everything(row: Row) -> bool:
    return True


def _sichuan_active(row: Row) -> bool:
    return str(row["hukou_region_code"]).startswith("51") and row["status"] == "active"


def _chengdu_active(row: Row) -> bool:
    return str(row["hukou_region_code"]).startswith("5101") and row["status"] == "active"


def _chengdu_region(row: Row) -> bool:
    return str(row["region_code"]).startswith("5101")


@dataclass(frozen=True)
class Clear:
    """Columns of a table a principal reads in clear (``None``: every column), on some rows."""

    table: str  # "source.table"
    columns: tuple[str, ...] | None
    rows: RowFilter = _everything


RESIDENTS_CLEAR = ("id_no", "name", "gender", "birth_date", "hukou_region_code", "status")
MATCH_TABLES_CLEAR = (
    Clear("public_security.deaths", ("death_date", "region_code")),
    Clear("medical_insurance.hospitalizations",
          ("record_id", "hospital_code", "admitted_on", "discharged_on")),
    Clear("transport.trips", ("trip_id", "mode")),
    Clear("justice.incarcerations", ("start_date", "end_date")),
    Clear("disabled_persons.certificates", ("category", "grade")),
)
CLEAR: dict[str, tuple[Clear, ...]] = {
    "si_analyst": (  # G1-G7
        Clear("social_security.insured", None),
        Clear("social_security.pensioners", None),
        Clear("social_security.payments", None),
        Clear("public_security.residents", RESIDENTS_CLEAR, _sichuan_active),
        *MATCH_TABLES_CLEAR,
    ),
    "chengdu_si_analyst": (  # G8
        Clear("social_security.insured", None, _chengdu_region),
        Clear("social_security.pensioners", None, _chengdu_region),
        Clear("social_security.payments", None, _chengdu_region),
        Clear("public_security.residents", RESIDENTS_CLEAR, _chengdu_active),
        *MATCH_TABLES_CLEAR,
    ),
    "mi_analyst": (  # G9; G10's allowed columns may show as group keys
        Clear("medical_insurance.hospitalizations", None),
        Clear("social_security.pensioners",
              ("region_code", "pension_type", "start_date", "monthly_amount")),
    ),
    "lapsed_analyst": (Clear("transport.trips", None),),  # G11 (G12 expired)
}

# The values worth protecting; region codes, categories and most dates are left out because
# they legitimately repeat across tables.
SENSITIVE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("public_security.residents", ("id_no", "name", "phone", "address")),
    ("public_security.deaths", ("id_no",)),
    ("social_security.insured", ("id_no", "name")),
    ("social_security.pensioners", ("id_no", "name", "bank_account")),
    ("social_security.payments", ("id_no",)),
    ("medical_insurance.hospitalizations", ("id_no", "diagnosis_code", "total_cost")),
    ("transport.trips", ("id_no", "departed_at")),
    ("justice.incarcerations", ("id_no", "facility_code")),
    ("disabled_persons.certificates", ("id_no",)),
)


# ------------------------------------------------------------------------------------------------
# Values as strings, the same way for raw cells and for result cells
# ------------------------------------------------------------------------------------------------


def norm(value: object) -> str | None:
    """One canonical string per value: decimals with two places, dates in ISO form."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cell_strings(value: object) -> Iterator[str]:
    """Every string a result cell carries, looking inside lists, structs and maps."""
    if isinstance(value, list | tuple | set):
        for item in value:
            yield from cell_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from cell_strings(key)
            yield from cell_strings(item)
    else:
        text = norm(value)
        if text is not None:
            yield text


def substrings(text: str, lengths: Iterable[int]) -> Iterator[str]:
    for length in lengths:
        for start in range(len(text) - length + 1):
            yield text[start:start + length]


# ------------------------------------------------------------------------------------------------
# Facts computed from the raw department files
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protected:
    exact: frozenset[str]  # a result value equal to one of these is a leak
    inside: frozenset[str]  # ... and so is one containing one of these
    lengths: tuple[int, ...]  # the lengths found in ``inside``

    def found_in(self, text: str) -> set[str]:
        found = {text} & self.exact
        lengths = [n for n in self.lengths if n <= len(text)]
        if lengths:
            found |= set(substrings(text, lengths)) & self.inside
        return found


def street_part(address: str) -> str | None:
    """What follows the last district-level character of an address: the street and number, which
    no mask lets through. The ``address_district`` mask never reaches past that character."""
    cut = max(address.rfind(c) for c in "区县市旗")
    tail = address[cut + 1:] if cut >= 0 else ""
    return tail if len(tail) >= 4 else None


class Facts:
    """The raw world as the test sees it: every table's rows, straight from the SQLite files."""

    def __init__(self, data_dir: Path, raw: Callable[[str], sqlite3.Connection]) -> None:
        self.data_dir = data_dir
        self.raw = raw
        self.tables: dict[str, list[dict[str, object]]] = {}
        for source in ("public_security", "social_security", "medical_insurance", "transport",
                       "justice", "disabled_persons"):
            con = raw(source)
            try:
                con.row_factory = sqlite3.Row
                names = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")]
                for name in names:
                    rows = con.execute(f'SELECT * FROM "{name}"').fetchall()
                    self.tables[f"{source}.{name}"] = [dict(r) for r in rows]
            finally:
                con.close()
        self.policy_text = demo_policy_path().read_text(encoding="utf-8")
        self._protected: dict[str, Protected] = {}

    def rows(self, table: str) -> list[dict[str, object]]:
        return self.tables[table]

    # --- protected values ---------------------------------------------------------------------

    def clear_values(self, principal: str) -> set[str]:
        seen: set[str] = set()
        for clear in CLEAR.get(principal, ()):
            for row in self.rows(clear.table):
                if not clear.rows(row):
                    continue
                for column in clear.columns or tuple(row):
                    text = norm(row[column])
                    if text is not None:
                        seen.add(text)
        return seen

    @cached_property
    def _sensitive(self) -> set[str]:
        values: set[str] = set()
        for table, columns in SENSITIVE:
            for row in self.rows(table):
                for column in columns:
                    text = norm(row[column])
                    # A midnight timestamp reads like a masked date cast back; leave those out.
                    if text is not None and not text.endswith(" 00:00:00"):
                        values.add(text)
        return values

    @cached_property
    def _streets(self) -> set[str]:
        return {street for r in self.rows("public_security.residents")
                if (street := street_part(str(r["address"])))}

    def protected(self, principal: str) -> Protected:
        cached = self._protected.get(principal)
        if cached is not None:
            return cached
        clear = self.clear_values(principal)
        exact = self._sensitive - clear
        inside = {v for v in exact if len(v) >= LONG} | self._streets
        lengths = sorted({len(v) for v in inside})
        # Drop what a principal legitimately sees inside a longer clear value (a phone number
        # inside an identity number, say).
        inside_clear: set[str] = set()
        for text in clear:
            inside_clear.update(substrings(text, (n for n in lengths if n < len(text))))
        exact -= inside_clear
        inside -= inside_clear | clear
        made = Protected(frozenset(exact), frozenset(inside),
                         tuple(sorted({len(v) for v in inside})))
        self._protected[principal] = made
        return made

    def leaks(self, principal: str, rows: Iterable[tuple[object, ...]]) -> set[str]:
        protected = self.protected(principal)
        found: set[str] = set()
        for row in rows:
            for cell in row:
                for text in cell_strings(cell):
                    found |= protected.found_in(text)
        return found

    # --- error messages -------------------------------------------------------------------------

    @cached_property
    def _raw_values(self) -> tuple[frozenset[str], frozenset[str], tuple[int, ...]]:
        """Every raw cell worth looking for in a message: words (whole-token match) and the rest
        (substring match); values too short to mean anything are left out."""
        words: set[str] = set()
        others: set[str] = set()
        for rows in self.tables.values():
            for row in rows:
                for value in row.values():
                    for text in {norm(value), None if value is None else str(value)}:
                        if text is None:
                            continue
                        if re.fullmatch(r"[A-Za-z_]+", text):
                            if len(text) >= 4:
                                words.add(text)
                        elif len(text) >= 4 or (not text.isascii() and len(text) >= 2):
                            others.add(text)
        return frozenset(words), frozenset(others), tuple(sorted({len(v) for v in others}))

    def message_leaks(self, message: str, sql: str, principal: str) -> set[str]:
        """Raw values (and protected values) quoted by ``message`` that neither the statement nor
        the policy file contains."""
        words, others, lengths = self._raw_values
        found = {t for t in re.findall(r"[A-Za-z_]+", message) if t in words}
        found |= set(substrings(message, (n for n in lengths if n <= len(message)))) & others
        protected = self.protected(principal)
        found |= protected.found_in(message)
        for token in re.findall(r"\S+", message):
            found |= protected.found_in(token)
        lowered_sql = sql.lower()
        return {v for v in found
                if v not in sql and v.lower() not in lowered_sql and v not in self.policy_text}

    # --- aggregate-only groups ------------------------------------------------------------------

    def group_sizes(self, check: GroupCheck) -> dict[tuple[str | None, ...], int]:
        con = self.raw(check.source)
        try:
            for name in check.attach:
                uri = f"file:{self.data_dir / name}.sqlite?mode=ro"
                con.execute("ATTACH DATABASE ? AS " + name, (uri,))
            sizes: dict[tuple[str | None, ...], int] = {}
            for row in con.execute(check.sql):
                sizes[tuple(norm(v) for v in row[:check.keys])] = int(row[check.keys])
            return sizes
        finally:
            con.close()

    # --- placeholders ---------------------------------------------------------------------------

    @cached_property
    def placeholders(self) -> dict[str, str]:
        si = self.protected("si_analyst").exact
        chengdu = self.protected("chengdu_si_analyst").exact
        mi = self.protected("mi_analyst").exact
        all_ids = {str(r["id_no"]) for rows in self.tables.values() for r in rows if "id_no" in r}

        def first(values: Iterable[str], what: str) -> str:
            ordered = sorted(values)
            if not ordered:
                pytest.fail(f"the demo world has no {what}; the security corpus needs one")
            return ordered[0]

        deaths = [str(r["id_no"]) for r in self.rows("public_security.deaths")]
        death_regions = {str(r["id_no"]): str(r["region_code"])
                         for r in self.rows("public_security.deaths")}
        x_ids = [i for i in deaths if not i.isdigit()]
        residents = self.rows("public_security.residents")
        visible = [r for r in residents
                   if _sichuan_active(r) and _chengdu_active(r) and r["phone"]]
        chosen = min(visible, key=lambda r: str(r["id_no"])) if visible else None
        if chosen is None:
            pytest.fail("the demo world has no active Chengdu resident with a phone")
        pensioners = self.rows("social_security.pensioners")
        per_region = Counter(str(r["region_code"]) for r in pensioners)
        per_start = Counter((str(r["region_code"]), str(r["start_date"])) for r in pensioners)
        solo = first((f"{region}|{start}" for (region, start), n in per_start.items()
                      if n == 1 and per_region[region] >= MIN_GROUP), "pensioner alone in a group")
        absent = "110101190001010012"
        assert absent not in all_ids
        return {
            "dead_id": first((i for i in deaths if i in si), "death only si_analyst cannot see"),
            "dead_digits_id": first((i for i in deaths if i.isdigit() and i in si),
                                    "all-digit death id"),
            "dead_x_region": death_regions[first(x_ids, "death id ending in X")] if x_ids
            else death_regions[deaths[0]],
            "absent_id": absent,
            "hidden_resident_id": first(
                (str(r["id_no"]) for r in residents
                 if not _sichuan_active(r) and str(r["id_no"]) in si and str(r["name"]) in si),
                "resident outside the G2 row filter"),
            "visible_resident_id": str(chosen["id_no"]),
            "visible_phone": str(chosen["phone"]),
            "visible_phone_prefix": str(chosen["phone"])[:7],
            "visible_address": str(chosen["address"]),
            "hosp_only_id": first((str(r["id_no"]) for r in
                                   self.rows("medical_insurance.hospitalizations")
                                   if str(r["id_no"]) in si), "hospitalised person hidden from si"),
            "pensioner_id": first((str(r["id_no"]) for r in pensioners if str(r["id_no"]) in mi),
                                  "pensioner never hospitalised"),
            "solo_region": solo.split("|")[0],
            "solo_start": solo.split("|")[1],
            "outside_chengdu_id": first(
                (str(r["id_no"]) for r in self.rows("social_security.insured")
                 if not _chengdu_region(r) and str(r["id_no"]) in chengdu),
                "insured person outside Chengdu"),
        }

    def fill(self, sql: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.placeholders, f"unknown placeholder {{{{{name}}}}}"
            return self.placeholders[name]

        return PLACEHOLDER.sub(value, sql)


class World(Protocol):
    """What the ``demo_world`` fixture offers."""

    data_dir: Path

    def raw(self, source: str) -> sqlite3.Connection: ...


@pytest.fixture(scope="module")
def facts(demo_world: World) -> Facts:
    return Facts(demo_world.data_dir, demo_world.raw)


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------


Result = tuple[tuple[str, ...], list[tuple[object, ...]]]


def run(gateway: Gateway, principal: str, sql: str) -> Result:
    """Execute and fetch everything; engine errors may surface while fetching."""
    execution = gateway.execute(principal, sql)
    rows = [row for page in execution.result.pages(PAGE) for row in page]
    return tuple(c.name for c in execution.result.columns), rows


def test_corpus_size_and_coverage() -> None:
    assert len(ENTRIES) >= 100
    per_category = Counter(e.category for e in ENTRIES)
    thin = {c: per_category[c] for c in CATEGORIES if per_category[c] < 3}
    assert not thin, f"categories with fewer than three statements: {thin}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_adversarial(entry: Entry, gateway: Gateway, facts: Facts) -> None:
    sql = facts.fill(entry.sql)
    if entry.expect == "refuse":
        check_refused(entry, sql, gateway, facts)
    else:
        check_rows(entry, sql, gateway, facts)


def check_refused(entry: Entry, sql: str, gateway: Gateway, facts: Facts) -> None:
    expected = entry.error_class
    try:
        _, rows = run(gateway, entry.principal, sql)
    except errors.ShuqiaoError as err:
        message = str(err)
        assert isinstance(err, expected), (
            f"expected {expected.__name__}, got {type(err).__name__}: {message}")
        leaked = facts.message_leaks(message, sql, entry.principal)
        assert not leaked, f"the refusal quotes raw values {sorted(leaked)}: {message}"
        for text in entry.message_contains:
            assert text in message, f"the refusal should mention {text!r}: {message}"
        return
    leaked = facts.leaks(entry.principal, rows)
    detail = f"; protected values returned: {sorted(leaked)[:5]}" if leaked else ""
    pytest.fail(f"expected {expected.__name__}, but the statement ran and returned "
                f"{len(rows)} rows{detail}")


def check_rows(entry: Entry, sql: str, gateway: Gateway, facts: Facts) -> None:
    columns, rows = run(gateway, entry.principal, sql)
    leaked = facts.leaks(entry.principal, rows)
    assert not leaked, (
        f"{len(leaked)} protected values returned to {entry.principal}, e.g. {sorted(leaked)[:5]}")
    if entry.columns is not None:
        assert columns == entry.columns
    if entry.row_count is not None:
        assert len(rows) == entry.row_count
    if entry.has_value:
        assert rows, "expected a first row"
        assert rows[0][0] == entry.value
    if entry.groups is not None:
        check_groups(entry.groups, rows, facts)


def check_groups(check: GroupCheck, rows: list[tuple[object, ...]], facts: Facts) -> None:
    sizes = facts.group_sizes(check)
    small = []
    for row in rows:
        key = tuple(norm(v) for v in row[:check.keys])
        if sizes.get(key, 0) < MIN_GROUP:
            small.append((key, sizes.get(key, 0)))
    assert not small, f"groups of fewer than {MIN_GROUP} persons returned: {small[:5]}"
