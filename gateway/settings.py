"""Settings, declared once: name, default, help. Read from ``shuqiao.toml``, validated before
anything runs. Secrets are references (``env:NAME`` or ``file:/path``), never values, and a
:class:`Secret` never prints what it holds.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.errors import ShuqiaoError


class SettingsError(ShuqiaoError):
    """The configuration is invalid; raised before anything is served or run."""


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: object
    help: str
    cast: Callable[[Any], object] = str


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def _secret_ref(value: Any) -> str:
    text = str(value)
    if text and not text.startswith(("env:", "file:")):
        raise ValueError("must be a reference, env:NAME or file:/path, never the secret itself")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("catalog.path", "catalog.sqlite",
            "Catalog store (SQLite file), relative to the config file."),
    Setting("audit.path", "audit.sqlite",
            "Audit log (SQLite file, append-only, hash-chained), relative to the config file."),
    Setting("security.hash_key", "",
            "Reference (env:NAME or file:/path) to the secret keying the hash mask.",
            _secret_ref),
    Setting("engine.default", "duckdb",
            "Engine for statements: duckdb, trino, direct or auto (direct for one PostgreSQL "
            "source, else trino when enabled and able, else duckdb)."),
    Setting("engine.duckdb_threads", 2, "Threads the embedded DuckDB may use.", _positive_int),
    Setting("engine.duckdb_memory_limit", "4GB", "Memory limit of the embedded DuckDB."),
    Setting("engine.page_size", 10000, "Rows per result page streamed to clients.", _positive_int),
    Setting("policy.plan_cache_size", 4096, "Authorized plans kept in memory.", _positive_int),
    Setting("trino.enabled", False, "Whether auto routing may send statements to Trino.",
            _boolean),
    Setting("trino.host", "127.0.0.1", "Trino coordinator host."),
    Setting("trino.port", 58080, "Trino coordinator port.", _positive_int),
    Setting("trino.user", "shuqiao", "The gateway's service user on Trino."),
    Setting("trino.query_timeout_s", 300, "Statements on Trino are cancelled after this.",
            _positive_int),
    Setting("opa.enabled", False,
            "Serve the decision endpoint for Trino's OPA access-control plugin under /opa/v1 "
            "(unauthenticated: reachable by the Trino coordinator only).", _boolean),
    Setting("direct.enabled", True,
            "Whether auto routing sends single-PostgreSQL-source statements straight there.",
            _boolean),
    Setting("governance.deadline_days", 5,
            "Working days a data owner has to answer a conditional request before it lapses.",
            _positive_int),
    Setting("governance.calendar", "",
            "YAML file of holidays and worked weekend days (keys holidays, workdays), relative "
            "to the config file."),
    Setting("direct.pool_size", 4, "Connections per PostgreSQL source on the direct route.",
            _positive_int),
)
SETTING_NAMES = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Secret:
    """A resolved secret; its repr and str never show the value."""

    reference: str
    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return f"Secret({self.reference})"


def resolve_secret(reference: str, base: Path | None = None) -> Secret:
    kind, _, target = reference.partition(":")
    if kind == "env":
        value = os.environ.get(target)
        if value is None:
            raise SettingsError(f"secret {reference}: environment variable is not set")
        return Secret(reference, value)
    if kind == "file":
        path = Path(target)
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            return Secret(reference, path.read_text(encoding="utf-8").strip())
        except OSError:
            raise SettingsError(f"secret {reference}: file cannot be read") from None
    raise SettingsError(f"secret reference {reference!r} must start with env: or file:")


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, object]
    base_dir: Path

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def path(self, name: str) -> Path:
        path = Path(str(self.values[name]))
        return path if path.is_absolute() else self.base_dir / path

    def secret(self, name: str) -> Secret | None:
        reference = str(self.values[name])
        return resolve_secret(reference, self.base_dir) if reference else None


def load_settings(path: Path | str) -> Settings:
    config = Path(path)
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {config} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"config file {config}: {err}") from None
    return Settings(_validated(_flatten(raw)), config.resolve().parent)


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _validated(flat: Mapping[str, Any]) -> dict[str, object]:
    unknown = sorted(set(flat) - set(SETTING_NAMES))
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(unknown)}")
    values: dict[str, object] = {}
    for setting in SETTINGS:
        raw = flat.get(setting.name, setting.default)
        try:
            values[setting.name] = setting.cast(raw)
        except (TypeError, ValueError) as err:
            raise SettingsError(f"setting {setting.name}: {err}") from None
    return values


def render_settings(values: Mapping[str, object]) -> str:
    """A ``shuqiao.toml`` text for ``values`` (names as in SETTINGS), grouped by section."""
    sections: dict[str, list[str]] = {}
    for name, value in values.items():
        section, _, key = name.partition(".")
        literal = str(value).lower() if isinstance(value, bool) else (
            str(value) if isinstance(value, int) else f'"{value}"')
        sections.setdefault(section, []).append(f"{key} = {literal}")
    return "\n\n".join(f"[{s}]\n" + "\n".join(lines) for s, lines in sections.items()) + "\n"
