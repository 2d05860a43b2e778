"""Authentication: passwords and tokens from the catalog, insecure mode on loopback only, and
401s that never say which part of a credential was wrong."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from catalog.credentials import CredentialStore, hash_password, token_digest, verify_password
from catalog.errors import CatalogError
from gateway.server.auth import CredentialAuthenticator, InsecureAuthenticator, is_loopback
from gateway.service import Gateway
from gateway.settings import SettingsError

from .conftest import MANY_ROWS, Service, final, make_service

PASSWORD = "correct horse battery"


class World(Protocol):
    data_dir: Path


def copy_catalog(world: World, target: Path) -> Path:
    """A private copy of the demo catalog, so credentials written here stay here."""
    with sqlite3.connect(world.data_dir / "catalog.sqlite") as source, \
            sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    copy.close()
    return target


@pytest.fixture
def credentials(demo_world: World, tmp_path: Path) -> Iterator[CredentialStore]:
    store = CredentialStore(copy_catalog(demo_world, tmp_path / "catalog.sqlite"))
    store.set_password("si_analyst", PASSWORD)
    yield store
    store.close()


@pytest.fixture
def secured(gateway: Gateway, credentials: CredentialStore) -> Iterator[Service]:
    made = make_service(gateway, CredentialAuthenticator(credentials))
    yield made
    made.close()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def post(service: Service, headers: dict[str, str]) -> httpx.Response:
    return service.request("POST", "/v1/statement", headers=headers, content="SELECT 1 AS one")


def test_a_password_opens_the_protocol(secured: Service) -> None:
    responses = secured.statement("SELECT 1 AS one", headers=basic("si_analyst", PASSWORD))
    assert final(responses)["data"] == [[1]]


def test_wrong_password_and_unknown_user_get_the_same_answer(secured: Service) -> None:
    wrong = post(secured, basic("si_analyst", "not the password"))
    unknown = post(secured, basic("no_such_principal", PASSWORD))
    missing = post(secured, {})
    for response in (wrong, unknown, missing):
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == [
            'Basic realm="Shuqiao"', 'Bearer realm="Shuqiao"']
    assert wrong.content == unknown.content == missing.content
    assert dict(wrong.headers) == dict(unknown.headers)


@pytest.mark.parametrize("authorization", [
    "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer ", "Digest x",
    "Bearer sq_not-a-token",
])
def test_malformed_credentials_are_plain_401s(secured: Service, authorization: str) -> None:
    assert post(secured, {"Authorization": authorization}).status_code == 401


def test_x_trino_user_must_be_the_authenticated_principal(secured: Service) -> None:
    headers = {**basic("si_analyst", PASSWORD), "X-Trino-User": "mi_analyst"}
    assert post(secured, headers).status_code == 403
    same = {**basic("si_analyst", PASSWORD), "X-Trino-User": "si_analyst"}
    assert post(secured, same).status_code == 200


def test_bearer_tokens_work_until_revoked(secured: Service,
                                          credentials: CredentialStore) -> None:
    token = credentials.add_token("mi_analyst")
    headers = {"Authorization": f"Bearer {token}"}
    assert final(secured.statement("SELECT 1 AS one", "mi_analyst", headers))["data"] == [[1]]
    assert credentials.revoke_tokens("mi_analyst") == 1
    assert post(secured, headers).status_code == 401


def test_a_changed_password_takes_effect_at_once(secured: Service,
                                                 credentials: CredentialStore) -> None:
    assert post(secured, basic("si_analyst", PASSWORD)).status_code == 200
    credentials.set_password("si_analyst", "a brand new password")
    assert post(secured, basic("si_analyst", PASSWORD)).status_code == 401
    assert post(secured, basic("si_analyst", "a brand new password")).status_code == 200


def test_every_request_of_a_query_is_authenticated(secured: Service) -> None:
    first = secured.request("POST", "/v1/statement", headers=basic("si_analyst", PASSWORD),
                            content=MANY_ROWS).json()
    assert secured.request("GET", first["nextUri"]).status_code == 401


# --- insecure mode ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "gateway.example.org"])
def test_insecure_mode_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(SettingsError, match="insecure"):
        InsecureAuthenticator(host)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("127.8.0.1", True),
    ("10.0.0.1", False), ("example.org", False), ("", False),
])
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_insecure_mode_ignores_requests_from_elsewhere(gateway: Gateway) -> None:
    remote = make_service(gateway, client=("10.1.2.3", 5000))
    try:
        assert post(remote, {"X-Trino-User": "si_analyst"}).status_code == 401
    finally:
        remote.close()


# --- the credential store -------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password(first, PASSWORD) and not verify_password(first, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("scrypt$broken", PASSWORD)


def test_only_token_digests_are_stored(credentials: CredentialStore, tmp_path: Path) -> None:
    token = credentials.add_token("si_analyst")
    assert token.startswith("sq_") and len(token) > 40
    assert credentials.principal_for_token(token) == "si_analyst"
    with sqlite3.connect(tmp_path / "catalog.sqlite") as raw:
        dump = "\n".join(raw.iterdump())
    raw.close()
    assert token not in dump and token_digest(token) in dump
    assert PASSWORD not in dump


def test_short_passwords_are_refused(credentials: CredentialStore) -> None:
    with pytest.raises(CatalogError, match="at least 8"):
        credentials.set_password("si_analyst", "short")
