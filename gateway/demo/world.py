"""The demo world: six departments' SQLite databases, and the answers the scenarios must give.

``generate(out_dir, scale)`` writes ``<source>.sqlite`` for each department in ``SOURCES`` plus
``ground_truth.json``, and returns the `GroundTruth`. Generation is vectorised and
deterministic: the same seed and scale give byte-identical files.

The people come first (`people`), then what happened to them (`lives`, `justice`), then each
department's view of them (`benefits`, `records`); `truth` reads the answers back off the rows.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from gateway.demo.benefits import insured_rows, payments_rows, pensioners_rows
from gateway.demo.justice import draw_terms
from gateway.demo.lives import deaths_rows, draw_lives
from gateway.demo.people import draw_people, residents_rows
from gateway.demo.records import (
    certificate_rows,
    hospitalization_rows,
    plan_events,
    trip_rows,
)
from gateway.demo.rows import Rows
from gateway.demo.schema import SOURCES
from gateway.demo.timeline import AS_OF
from gateway.demo.truth import GroundTruth, ground_truth
from gateway.demo.writer import write_source

__all__ = ["AS_OF", "SOURCES", "GroundTruth", "World", "build", "generate"]

#: From this many rows on, social security's file is written by a second process.
PARALLEL_FROM = 2_000_000
#: The largest department's file, written on its own while the others are written.
LARGEST = "social_security"


@dataclass(frozen=True)
class World:
    """Every department's generated rows, before they are written."""

    scale: int
    seed: int
    tables: dict[str, dict[str, Rows]]  # source -> table -> rows

    @property
    def row_count(self) -> int:
        return sum(len(rows) for tables in self.tables.values() for rows in tables.values())


def build(scale: int, seed: int = 42) -> World:
    """Generate all rows in memory (no I/O)."""
    if scale < 1:
        raise ValueError("scale must be at least 1 resident")
    people = draw_people(seed, scale)
    lives = draw_lives(seed, people)
    terms = draw_terms(seed, people, lives)
    stays, trips = plan_events(seed, people, lives, terms)
    pensioners = pensioners_rows(seed, people, lives)
    return World(scale, seed, {
        "public_security": {
            "residents": residents_rows(seed, people, lives.status),
            "deaths": deaths_rows(seed, people, lives),
        },
        "social_security": {
            "insured": insured_rows(seed, people, lives),
            "pensioners": pensioners,
            "payments": payments_rows(people, lives, terms, pensioners),
        },
        "medical_insurance": {"hospitalizations": hospitalization_rows(seed, people, stays)},
        "transport": {"trips": trip_rows(seed, people, trips)},
        "justice": {"incarcerations": terms.rows(seed, people)},
        "disabled_persons": {"certificates": certificate_rows(seed, people, lives)},
    })


def generate(out_dir: Path, scale: int, seed: int = 42, *, progress: bool = False) -> GroundTruth:
    """Write the world for ``scale`` residents into ``out_dir`` and return its ground truth.

    In a large world without a progress bar, social security's file (about half the rows) is
    written by a forked process while this one writes the other departments' files and computes
    the ground truth.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with _progress(progress) as bar:
        building = bar.add_task("generating the demo world", total=None) if bar else None
        world = build(scale, seed)
        if bar and building is not None:
            bar.update(building, total=1, completed=1)
        with _aside(out_dir, world, enabled=bar is None) as written_aside:
            _write(out_dir, world, bar, skip=written_aside)
            truth = ground_truth(world.tables, scale=scale, seed=seed)
    truth.save(out_dir / "ground_truth.json")
    return truth


def _write(out_dir: Path, world: World, bar: Progress | None,
           skip: frozenset[str] = frozenset()) -> None:
    total = sum(len(rows) for source, tables in world.tables.items() if source not in skip
                for rows in tables.values())
    task = bar.add_task("writing", total=total) if bar else None

    def advance(rows: int) -> None:
        if bar and task is not None:
            bar.advance(task, rows)

    for source, tables in world.tables.items():
        if source in skip:
            continue
        if bar and task is not None:
            bar.update(task, description=f"writing {source}")
        write_source(out_dir / f"{source}.sqlite", source, tables, advance)
    if bar and task is not None:
        bar.update(task, description=f"wrote {len(world.tables)} departments' databases")


@contextmanager
def _aside(out_dir: Path, world: World, *, enabled: bool) -> Iterator[frozenset[str]]:
    """Write the largest department's file in a forked child (which shares the generated rows
    without copying them); yields the sources it writes, and waits for it on the way out.
    Not while a progress bar is drawn: its thread may hold the terminal's lock at the fork."""
    if (not enabled or world.row_count < PARALLEL_FROM or LARGEST not in world.tables
            or "fork" not in multiprocessing.get_all_start_methods() or (os.cpu_count() or 1) < 2):
        yield frozenset()
        return
    child = multiprocessing.get_context("fork").Process(
        target=write_source, name=f"write {LARGEST}",
        args=(out_dir / f"{LARGEST}.sqlite", LARGEST, world.tables[LARGEST], _ignore))
    child.start()
    try:
        yield frozenset({LARGEST})
    finally:
        child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"writing {LARGEST}.sqlite failed (exit code {child.exitcode})")


def _ignore(rows: int) -> None:
    """Progress of the forked writer is not reported."""


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        yield bar
