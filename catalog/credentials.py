"""Principals' credentials: passwords (scrypt, per-user salt) and bearer tokens (stored hashed).

Credentials live in the catalog file (migration ``0002_credentials.sql``) but apart from the
policy: principals come from policy files, and these functions only manage how a principal
proves who it is. Nothing here returns or logs a password or a token after it was made; a new
token is returned once, to be shown once.

Password checks take the same time whether the principal exists or not (an unknown name is
checked against a fixed dummy hash), so neither the answer nor its timing says which part of a
credential was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import threading
from functools import cache
from pathlib import Path
from types import TracebackType

from catalog.errors import CatalogError
from catalog.store import CatalogStore

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
KEY_LENGTH = 32
SALT_LENGTH = 16
TOKEN_PREFIX = "sq_"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password``, with a fresh random salt by default."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_LENGTH)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     _b64(salt), _b64(key)))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; ``None`` (no such principal) never matches but
    costs the same time."""
    try:
        scheme, n, r, p, salt, key = (stored or _dummy_hash()).split("$")
        candidate = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return stored is not None and scheme == "scrypt" and hmac.compare_digest(
        candidate, _unb64(key))


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=128 * n * r * 2, dklen=KEY_LENGTH)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class CredentialStore:
    """Passwords and tokens in the catalog file; its own connection, safe across threads."""

    def __init__(self, catalog: CatalogStore | Path | str) -> None:
        path = catalog.path if isinstance(catalog, CatalogStore) else str(catalog)
        if not isinstance(catalog, CatalogStore):
            CatalogStore(path).close()  # applies the migrations this store relies on
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 5000")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CredentialStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def set_password(self, principal: str, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise CatalogError(
                f"a password must have at least {MIN_PASSWORD_LENGTH} characters")
        self._write(
            "INSERT INTO principal_passwords (principal, hash) VALUES (?, ?)"
            " ON CONFLICT (principal) DO UPDATE SET hash = excluded.hash,"
            " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (principal, hash_password(password)))

    def password_hash(self, principal: str) -> str | None:
        row = self._read("SELECT hash FROM principal_passwords WHERE principal = ?",
                         (principal,))
        return str(row[0]) if row else None

    def verify(self, principal: str, password: str) -> bool:
        return verify_password(self.password_hash(principal), password)

    def add_token(self, principal: str) -> str:
        """A new bearer token for ``principal``: returned once, stored only as its digest."""
        token = new_token()
        self._write("INSERT INTO principal_tokens (digest, principal) VALUES (?, ?)",
                    (token_digest(token), principal))
        return token

    def principal_for_token(self, token: str) -> str | None:
        row = self._read("SELECT principal FROM principal_tokens WHERE digest = ?",
                         (token_digest(token),))
        return str(row[0]) if row else None

    def revoke_tokens(self, principal: str) -> int:
        """Forget every token of ``principal``; how many there were."""
        return self._write("DELETE FROM principal_tokens WHERE principal = ?", (principal,))

    def _read(self, sql: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
        try:
            with self._lock:
                row: tuple[object, ...] | None = self._conn.execute(sql, params).fetchone()
                return row
        except sqlite3.Error as err:
            raise CatalogError(f"cannot read credentials: {err}") from None

    def _write(self, sql: str, params: tuple[object, ...]) -> int:
        try:
            with self._lock:
                return self._conn.execute(sql, params).rowcount
        except sqlite3.Error as err:
            raise CatalogError(f"cannot write credentials: {err}") from None
