"""TLS and passwords end to end: a real self-signed certificate made with ``openssl``, the
service on HTTPS with HTTP Basic and bearer tokens, and the Trino Python client verifying the
server against that certificate."""

from __future__ import annotations

import shutil
import sqlite3
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest
import trino
from trino.auth import BasicAuthentication, JWTAuthentication
from trino.exceptions import HttpError

from catalog.credentials import CredentialStore
from gateway.cli_serve import check_serving, service_app
from gateway.server.auth import CredentialAuthenticator, InsecureAuthenticator
from gateway.service import Gateway
from gateway.settings import SettingsError

from .conftest import jdbc_smoke, running

PASSWORD = "pension-audit-2026"


class World(Protocol):
    data_dir: Path
    config: Path


@dataclass(frozen=True)
class Secure:
    port: int
    cert: Path
    token: str

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"


def self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


def private_world(world: World, directory: Path) -> Path:
    """The demo config over a copy of its catalog, so credentials written here stay here."""
    with sqlite3.connect(world.data_dir / "catalog.sqlite") as source, \
            sqlite3.connect(directory / "catalog.sqlite") as copy:
        source.backup(copy)
    source.close()
    copy.close()
    shutil.copytree(world.data_dir / "secrets", directory / "secrets")
    config = directory / "shuqiao.toml"  # sources keep their absolute paths: data stays put
    config.write_text(world.config.read_text(encoding="utf-8"), encoding="utf-8")
    return config


@pytest.fixture(autouse=True)
def trust_only_what_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``requests`` lets these variables override a session's own ``verify``: without them the
    client trusts exactly the certificate the test gives it."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture(scope="module")
def secure(demo_world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    gateway = Gateway.from_config(private_world(demo_world, directory))
    credentials = CredentialStore(gateway.store)
    credentials.set_password("si_analyst", PASSWORD)
    token = credentials.add_token("mi_analyst")
    app = service_app(gateway, CredentialAuthenticator(credentials))
    with running(app, certfile=cert, keyfile=key) as port:
        yield Secure(port, cert, token)
    credentials.close()
    gateway.close()


def test_basic_over_tls_with_a_verified_certificate(secure: Secure) -> None:
    connection = trino.dbapi.connect(
        host="localhost", port=secure.port, user="si_analyst", http_scheme="https",
        auth=BasicAuthentication("si_analyst", PASSWORD), verify=str(secure.cert))
    cursor = connection.cursor()
    cursor.execute("SELECT count(*) AS n FROM social_security.public.pensioners p")
    assert cursor.fetchall()[0][0] > 0
    assert cursor.info_uri.startswith("https://localhost:")  # nextUri stays on https


def test_bearer_token_over_tls(secure: Secure) -> None:
    connection = trino.dbapi.connect(
        host="localhost", port=secure.port, user="mi_analyst", http_scheme="https",
        auth=JWTAuthentication(secure.token), verify=str(secure.cert))
    cursor = connection.cursor()
    cursor.execute("SHOW CATALOGS")
    assert cursor.fetchall() == [["medical_insurance"], ["social_security"]]


def test_jdbc_over_tls_with_a_password(secure: Secure, jdbc_jar: Path, jdbc_classes: Path,
                                       tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.sql"
    scenario.write_text("SELECT count(*) FROM social_security.public.pensioners p",
                        encoding="utf-8")
    url = (f"jdbc:trino://localhost:{secure.port}?SSL=true"
           f"&SSLTrustStorePath={secure.cert}&password={PASSWORD}")
    seen = jdbc_smoke(jdbc_jar, jdbc_classes, url, "si_analyst", scenario,
                      "SELECT d.id_no FROM public_security.public.deaths d", "x")
    assert "public_security" in [c[0] for c in seen["catalog"]]
    assert int(seen["row"][0][0]) > 0 and "refused-error" in seen


def test_wrong_password_is_refused(secure: Secure) -> None:
    connection = trino.dbapi.connect(
        host="localhost", port=secure.port, user="si_analyst", http_scheme="https",
        auth=BasicAuthentication("si_analyst", "wrong"), verify=str(secure.cert))
    with pytest.raises(HttpError, match="401"):
        connection.cursor().execute("SELECT 1")


def test_unknown_user_and_wrong_password_are_indistinguishable(secure: Secure) -> None:
    with httpx.Client(verify=trusting(secure.cert)) as client:
        answers = [client.post(f"{secure.url}/v1/statement", content="SELECT 1",
                               auth=(user, password))
                   for user, password in (("si_analyst", "wrong password"),
                                          ("no_such_user", "wrong password"),
                                          ("no_such_user", PASSWORD))]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert len({tuple(sorted((k, v) for k, v in a.headers.items() if k != "date"))
                for a in answers}) == 1
    assert answers[0].headers["www-authenticate"].startswith("Basic")


def test_an_untrusted_certificate_is_rejected_by_the_client(secure: Secure) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{secure.url}/v1/info")  # the system trust store does not know it


def test_insecure_mode_is_refused_when_not_on_loopback() -> None:
    with pytest.raises(SettingsError):
        InsecureAuthenticator("0.0.0.0")
    with pytest.raises(SettingsError):
        check_serving("0.0.0.0", None, None, insecure=True)
