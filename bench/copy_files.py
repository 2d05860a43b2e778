"""Section 2: "copy the files", the way departments compare today.

Per scenario: each department exports the whole tables the comparison needs (PostgreSQL
``COPY ... TO STDOUT`` into a CSV file on the analyst's side; MariaDB ``SELECT ... INTO
OUTFILE``, falling back to a client-side export when the server cannot write the file), the
analyst loads the CSVs into pandas and matches them with merges and groupbys implementing the
scenario. The figure is the total: export + load + match.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from bench.common import SCENARIO_NAMES, Accuracy, Timing, check, timed
from bench.world import BenchWorld
from catalog.models import CatalogSnapshot, Source
from connectors import mysql, postgres
from gateway.demo.schema import COLUMNS

TableRef = tuple[str, str]  # (source, table)
Frames = dict[str, pd.DataFrame]
Result = tuple[list[str], list[tuple[object, ...]]]

NEEDS: dict[str, tuple[TableRef, ...]] = {
    "scenario1_coverage": (("public_security", "residents"), ("social_security", "insured"),
                           ("disabled_persons", "certificates")),
    "scenario2_verification": (("social_security", "pensioners"),
                               ("medical_insurance", "hospitalizations"),
                               ("transport", "trips")),
    "scenario3_fund_risk": (("social_security", "pensioners"), ("public_security", "deaths"),
                            ("social_security", "payments"), ("justice", "incarcerations")),
}
ALL_TABLES: tuple[TableRef, ...] = tuple((s, t) for s, ts in COLUMNS.items() for t in ts)
AS_OF = "2026-11-01"
WINDOW_START = "2025-11-01"
ADULT_BORN_BY = "2010-11-01"
NULLS = ["", r"\N"]


@dataclass(frozen=True)
class Exported:
    path: Path
    header: bool


# ---------------------------------------------------------------------------------------------
# Export.


def export_dir(root: Path) -> Path:
    """A directory the database servers' own OS users may write into (INTO OUTFILE)."""
    path = Path(tempfile.mkdtemp(prefix="shuqiao-bench-export-", dir=root))
    path.chmod(0o777)
    return path


def export(snapshot: CatalogSnapshot, tables: Sequence[TableRef], into: Path) -> dict[
        TableRef, Exported]:
    """Every table exported at once (each department exports its own, in parallel)."""
    async def all_tables() -> list[Exported]:
        return list(await asyncio.gather(*(_export_one(_source(snapshot, s), t, into)
                                           for s, t in tables)))

    return dict(zip(tables, asyncio.run(all_tables()), strict=True))


def _source(snapshot: CatalogSnapshot, name: str) -> Source:
    source = snapshot.source(name)
    if source is None:
        raise LookupError(f"source {name} is not registered")
    return source


async def _export_one(source: Source, table: str, into: Path) -> Exported:
    path = into / f"{source.name}.{table}.csv"
    path.unlink(missing_ok=True)
    if source.kind == "postgres":
        async with postgres.connect(source, timeout=60) as con:
            await con.copy_from_table(table, output=path, format="csv", header=True)
        return Exported(path, header=True)
    async with mysql.connect(source, timeout=60) as con, con.cursor() as cursor:
        try:
            await cursor.execute(
                f"SELECT * INTO OUTFILE '{path}' CHARACTER SET utf8mb4"
                " FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
                f" LINES TERMINATED BY '\\n' FROM {table}")
        except Exception:  # the server cannot write there: export on the client side
            path.unlink(missing_ok=True)
            await cursor.execute(f"SELECT * FROM {table}")
            rows = await cursor.fetchall()
            with path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows(rows)
    return Exported(path, header=False)


# ---------------------------------------------------------------------------------------------
# Load and match.


def load(files: dict[TableRef, Exported]) -> Frames:
    frames: Frames = {}
    for (source, table), exported in files.items():
        names = [name for name, _ in COLUMNS[source][table]]
        frames[table] = pd.read_csv(exported.path, header=0 if exported.header else None,
                                    names=names, dtype=str, na_values=NULLS,
                                    keep_default_na=False)
    return frames


def _cents(amounts: pd.Series) -> pd.Series:
    return (amounts.astype(float) * 100).round().astype("int64")


def coverage(f: Frames) -> Result:
    r = f["residents"]
    r = r[(r["status"] == "active") & r["hukou_region_code"].str.startswith("51")
          & (r["birth_date"] <= ADULT_BORN_BY)]
    r = r[~r["id_no"].isin(f["insured"]["id_no"])].copy()
    r["disabled"] = r["id_no"].isin(f["certificates"]["id_no"])
    r["uninsured_in_region"] = r.groupby("hukou_region_code")["id_no"].transform("size")
    r = r.sort_values(["hukou_region_code", "id_no"])
    columns = ["id_no", "name", "hukou_region_code", "phone", "disabled", "uninsured_in_region"]
    return columns, list(r[columns].itertuples(index=False, name=None))


def _days(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d")


def verification(f: Frames) -> Result:
    start, end = pd.Timestamp(WINDOW_START), pd.Timestamp(AS_OF)
    seen = []
    for table, column in (("hospitalizations", "admitted_on"), ("trips", "departed_at")):
        day = _days(f[table][column])
        inside = (day > start) & (day <= end)
        seen.append(day[inside].groupby(f[table]["id_no"][inside]).max())
    p = f["pensioners"][["id_no", "name", "region_code"]].copy()
    a, d = p["id_no"].map(seen[0]), p["id_no"].map(seen[1])
    p["verified"] = a.notna() | d.notna()
    p["last_seen"] = a.where(a.notna() & (d.isna() | (a >= d)), d)
    p = p.sort_values("id_no")
    columns = ["id_no", "name", "region_code", "verified", "last_seen"]
    rows: list[tuple[object, ...]] = [
        (i, n, r, v, None if pd.isna(s) else s.date().isoformat())
        for i, n, r, v, s in p[columns].itertuples(index=False, name=None)]
    return columns, rows


def fund_risk(f: Frames) -> Result:
    pensioners = f["pensioners"][["id_no", "name"]]
    pay = f["payments"][["id_no", "pay_month", "amount"]].assign(
        cents=lambda x: _cents(x["amount"]))
    dead = (f["deaths"][["id_no", "death_date"]].merge(pensioners, on="id_no")
            .merge(pay, on="id_no"))
    dead = dead[dead["pay_month"] > dead["death_date"]]
    jail = (f["incarcerations"][["id_no", "start_date", "end_date"]].merge(pensioners, on="id_no")
            .merge(pay, on="id_no"))
    end = jail["end_date"].fillna(AS_OF)
    jail = jail[(jail["pay_month"] >= jail["start_date"]) & (jail["pay_month"] <= end)]
    parts = []
    for reason, frame in (("deceased", dead), ("incarcerated", jail)):
        grouped = frame.groupby(["id_no", "name"], as_index=False).agg(
            months=("cents", "size"), cents=("cents", "sum"))
        grouped["reason"] = reason
        parts.append(grouped)
    out = pd.concat(parts).sort_values(["reason", "id_no"])
    rows: list[tuple[object, ...]] = [(i, n, r, int(m), f"{c // 100}.{c % 100:02d}")
            for i, n, r, m, c in out[["id_no", "name", "reason", "months", "cents"]]
            .itertuples(index=False, name=None)]
    return ["id_no", "name", "reason", "months", "amount"], rows


MATCH: dict[str, Callable[[Frames], Result]] = {
    "scenario1_coverage": coverage,
    "scenario2_verification": verification,
    "scenario3_fund_risk": fund_risk,
}


# ---------------------------------------------------------------------------------------------
# Measure.


@dataclass
class CopyRun:
    total: Timing | None = None
    export: Timing | None = None
    load: Timing | None = None
    match: Timing | None = None
    accuracy: Accuracy | None = None
    csv_bytes: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"total": self.total, "export": self.export, "load": self.load,
                "match": self.match, "accuracy": self.accuracy, "csv_bytes": self.csv_bytes,
                "error": self.error}


def one_run(bench: BenchWorld, snapshot: CatalogSnapshot, scenario: str,
            root: Path) -> tuple[float, float, float, Result, int]:
    into = export_dir(root)
    try:
        export_s, files = timed(lambda: export(snapshot, NEEDS[scenario], into))
        assert isinstance(files, dict)
        size = sum(e.path.stat().st_size for e in files.values())
        load_s, frames = timed(lambda: load(files))
        assert isinstance(frames, dict)
        match_s, result = timed(lambda: MATCH[scenario](frames))
        assert isinstance(result, tuple)
        return export_s, load_s, match_s, result, size
    finally:
        shutil.rmtree(into, ignore_errors=True)


def measure(bench: BenchWorld, *, runs: int, root: Path,
            log: Callable[[str], None] = print) -> dict[str, CopyRun]:
    snapshot = bench.snapshot("real")
    results: dict[str, CopyRun] = {}
    for scenario in SCENARIO_NAMES:
        run = CopyRun()
        try:
            one_run(bench, snapshot, scenario, root)  # warm-up
            samples = [one_run(bench, snapshot, scenario, root) for _ in range(runs)]
            run.export = Timing.of([s[0] for s in samples])
            run.load = Timing.of([s[1] for s in samples])
            run.match = Timing.of([s[2] for s in samples])
            run.total = Timing.of([s[0] + s[1] + s[2] for s in samples])
            run.csv_bytes = samples[-1][4]
            run.accuracy = check(scenario, bench.truth, *samples[-1][3])
            log(f"  copy files  {scenario:<24} total {run.total.median_s:8.3f}s (export "
                f"{run.export.median_s:.3f}s, load {run.load.median_s:.3f}s, match "
                f"{run.match.median_s:.3f}s) exact={run.accuracy.exact}")
        except Exception as error:
            run.error = f"{type(error).__name__}: {str(error)[:300]}"
            log(f"  copy files  {scenario:<24} error {run.error}")
        results[scenario] = run
    return results
