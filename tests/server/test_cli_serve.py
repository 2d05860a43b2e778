"""``shuqiao serve`` refusals and ``shuqiao principal passwd | token | revoke-tokens``."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Protocol

import pytest
import typer
from typer.testing import CliRunner

from catalog.credentials import CredentialStore
from gateway.cli_serve import (
    check_serving,
    connection_help,
    principal_app,
    serve,
    service_app,
)
from gateway.server.auth import InsecureAuthenticator
from gateway.service import Gateway
from gateway.settings import SettingsError

from .conftest import Service, final


class World(Protocol):
    data_dir: Path
    config: Path


@pytest.fixture
def config(demo_world: World, tmp_path: Path) -> Path:
    """A config over a private copy of the demo catalog."""
    with sqlite3.connect(demo_world.data_dir / "catalog.sqlite") as source, \
            sqlite3.connect(tmp_path / "catalog.sqlite") as copy:
        source.backup(copy)
    source.close()
    copy.close()
    shutil.copytree(demo_world.data_dir / "secrets", tmp_path / "secrets")
    path = tmp_path / "shuqiao.toml"
    path.write_text(demo_world.config.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(principal_app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_passwd_reads_stdin_and_sets_the_password(config: Path, tmp_path: Path) -> None:
    code, _, err = cli("passwd", "si_analyst", "--config", str(config),
                       stdin="a long enough password\n")
    assert code == 0 and "password set" in err
    with CredentialStore(tmp_path / "catalog.sqlite") as store:
        assert store.verify("si_analyst", "a long enough password")


def test_token_is_printed_once_and_revoked(config: Path, tmp_path: Path) -> None:
    code, out, _ = cli("token", "mi_analyst", "--config", str(config))
    token = out.strip()
    assert code == 0 and token.startswith("sq_")
    with CredentialStore(tmp_path / "catalog.sqlite") as store:
        assert store.principal_for_token(token) == "mi_analyst"
    code, _, err = cli("revoke-tokens", "mi_analyst", "--config", str(config))
    assert code == 0 and "revoked 1 token" in err
    with CredentialStore(tmp_path / "catalog.sqlite") as store:
        assert store.principal_for_token(token) is None


@pytest.mark.parametrize("command", ["passwd", "token", "revoke-tokens"])
def test_unknown_principals_are_refused(config: Path, command: str) -> None:
    code, _, err = cli(command, "nobody", "--config", str(config), stdin="long password\n")
    assert code == 1 and "unknown principal 'nobody'" in err


def test_a_short_password_is_refused(config: Path) -> None:
    code, _, err = cli("passwd", "si_analyst", "--config", str(config), stdin="short\n")
    assert code == 1 and "at least 8" in err


@pytest.mark.parametrize(("host", "tls", "insecure", "message"), [
    ("0.0.0.0", False, True, "--insecure is refused on 0.0.0.0"),
    ("10.0.0.2", False, False, "needs TLS"),
    ("127.0.0.1", None, False, "go together"),
])
def test_serving_refuses_exposing_credentials(host: str, tls: bool | None, insecure: bool,
                                              message: str, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem" if tls is not False else None
    key = tmp_path / "key.pem" if tls else None
    with pytest.raises(SettingsError, match=message):
        check_serving(host, cert, key, insecure)


@pytest.mark.parametrize(("host", "tls", "insecure"), [
    ("127.0.0.1", False, True), ("127.0.0.1", False, False), ("0.0.0.0", True, False),
])
def test_serving_allows_safe_combinations(host: str, tls: bool, insecure: bool,
                                          tmp_path: Path) -> None:
    cert, key = (tmp_path / "c.pem", tmp_path / "k.pem") if tls else (None, None)
    check_serving(host, cert, key, insecure)


def test_serve_exits_1_before_serving_insecure_mode_off_loopback(config: Path) -> None:
    app = typer.Typer()
    app.command()(serve)
    app.command("other")(lambda: None)  # several commands, so "serve" is named on the line
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--host", "0.0.0.0",
                                      "--insecure"])
    assert result.exit_code == 1
    assert "--insecure is refused" in result.stderr


def test_demo_help_shows_every_client() -> None:
    text = connection_help("127.0.0.1", 8080)
    for needle in ("--server http://127.0.0.1:8080", "trino.dbapi.connect",
                   "trino://si_analyst@127.0.0.1:8080", "jdbc:trino://127.0.0.1:8080"):
        assert needle in text


def test_the_served_app_has_the_audit_api_and_metrics(gateway: Gateway) -> None:
    served = Service(service_app(gateway, InsecureAuthenticator("127.0.0.1")))
    try:
        final(served.statement("SELECT 1 AS one"))
        audit = served.request("GET", "/api/v1/audit?n=5", headers={"X-Trino-User": "auditor"})
        assert audit.status_code == 200 and audit.json()["count"] >= 1
        refused = served.request("GET", "/api/v1/audit", headers={"X-Trino-User": "si_analyst"})
        assert refused.status_code == 403
        metrics = served.request("GET", "/metrics")
        assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    finally:
        served.close()
