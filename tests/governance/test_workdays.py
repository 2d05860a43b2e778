"""Working-day arithmetic: weekends, holidays and weekend days worked in lieu (调休)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from catalog.errors import CatalogError
from gateway.governance import WorkCalendar, load_calendar

# A Spring Festival calendar: 15-23 February off, Saturdays 14 and 28 February worked.
SPRING = WorkCalendar(
    holidays=frozenset(date(2026, 2, d) for d in range(15, 24)),
    workdays=frozenset({date(2026, 2, 14), date(2026, 2, 28)}),
)
PLAIN = WorkCalendar()


@pytest.mark.parametrize(("start", "days", "due"), [
    (date(2026, 3, 2), 5, date(2026, 3, 9)),    # Monday -> next Monday
    (date(2026, 3, 6), 1, date(2026, 3, 9)),    # Friday -> Monday
    (date(2026, 3, 7), 1, date(2026, 3, 9)),    # Saturday -> Monday
    (date(2026, 3, 8), 5, date(2026, 3, 13)),   # Sunday -> Friday
    (date(2026, 3, 2), 0, date(2026, 3, 2)),
])
def test_weekends_are_skipped(start: date, days: int, due: date) -> None:
    assert PLAIN.add_working_days(start, days) == due


def test_holidays_are_skipped_and_makeup_days_count() -> None:
    # Friday 13 Feb, then Saturday 14 (worked), the holiday week, then Tuesday 24 onwards.
    assert SPRING.add_working_days(date(2026, 2, 12), 1) == date(2026, 2, 13)
    assert SPRING.add_working_days(date(2026, 2, 12), 2) == date(2026, 2, 14)
    assert SPRING.add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 24)
    assert SPRING.add_working_days(date(2026, 2, 24), 4) == date(2026, 2, 28)
    assert SPRING.add_working_days(date(2026, 2, 24), 5) == date(2026, 3, 2)


@pytest.mark.parametrize(("start", "end", "days"), [
    (date(2026, 3, 2), date(2026, 3, 2), 0),
    (date(2026, 3, 2), date(2026, 3, 3), 1),
    (date(2026, 3, 6), date(2026, 3, 9), 1),    # Friday to Monday
    (date(2026, 3, 2), date(2026, 3, 16), 10),
    (date(2026, 3, 9), date(2026, 3, 2), 0),    # backwards
])
def test_working_days_between(start: date, end: date, days: int) -> None:
    assert PLAIN.working_days_between(start, end) == days


def test_working_days_between_agrees_with_adding_them() -> None:
    start = date(2026, 2, 10)
    for n in range(1, 30):
        assert SPRING.working_days_between(start, SPRING.add_working_days(start, n)) == n


def test_a_calendar_file(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: [2026-10-01, 2026-10-02]\nworkdays: [2026-09-27]\n",
                    encoding="utf-8")
    calendar = load_calendar(path)
    assert calendar.holidays == {date(2026, 10, 1), date(2026, 10, 2)}
    assert calendar.is_working_day(date(2026, 9, 27))  # a Sunday worked in lieu
    assert not calendar.is_working_day(date(2026, 10, 1))


@pytest.mark.parametrize("text", ["holidays: [tomorrow]\n", "holiday: [2026-10-01]\n",
                                  "holidays: 2026-10-01\n", "- 2026-10-01\n"])
def test_a_bad_calendar_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match="calendar"):
        load_calendar(path)
