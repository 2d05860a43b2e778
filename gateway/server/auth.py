"""Who is asking: the authenticator seam and the two built-in authenticators.

An :class:`Authenticator` turns a request into a principal name or raises
:class:`Unauthenticated` (HTTP 401 with ``WWW-Authenticate``; the body never says which part of
a credential was wrong) or :class:`Forbidden` (HTTP 403).

- :class:`CredentialAuthenticator` (the default): HTTP Basic passwords checked against the
  scrypt hashes in the catalog, and bearer tokens checked against their stored digests. A
  request may name itself in ``X-Trino-User`` only as the principal it authenticated as.
  A successful password check is remembered for a few minutes (keyed by the stored hash, so a
  changed password takes effect at once): clients authenticate every request, and scrypt is
  slow on purpose.
- :class:`InsecureAuthenticator`: trusts ``X-Trino-User``. Only for a service bound to a
  loopback address (refused otherwise at start-up) and only for requests from loopback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import threading
from typing import Protocol

from cachetools import TTLCache
from starlette.requests import Request

from catalog.credentials import CredentialStore, verify_password
from gateway.server import constants as h
from gateway.settings import SettingsError

PASSWORD_CACHE_SECONDS = 300
PASSWORD_CACHE_SIZE = 4096


class Unauthenticated(Exception):
    """No valid credentials: answered with 401 and the service's challenges."""


class Forbidden(Exception):
    """Valid credentials, but for something this principal may not do."""


class Authenticator(Protocol):
    #: ``WWW-Authenticate`` challenges sent with a 401.
    challenges: tuple[str, ...]

    def authenticate(self, request: Request) -> str: ...


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class InsecureAuthenticator:
    """Trusts ``X-Trino-User``: for local development and the demo, on loopback only."""

    challenges: tuple[str, ...] = ()

    def __init__(self, host: str) -> None:
        if not is_loopback(host):
            raise SettingsError(
                f"insecure mode trusts X-Trino-User and is refused on {host}: bind it to "
                "127.0.0.1 or ::1, or serve with passwords and TLS")
        self.host = host

    def authenticate(self, request: Request) -> str:
        client = request.client.host if request.client else ""
        if not is_loopback(client):
            raise Unauthenticated()
        user = request.headers.get(h.USER, "").strip()
        if not user:
            raise Unauthenticated()
        return user


class CredentialAuthenticator:
    """HTTP Basic passwords and bearer tokens, checked against the catalog's credentials."""

    challenges: tuple[str, ...] = (f'Basic realm="{h.REALM}"', f'Bearer realm="{h.REALM}"')

    def __init__(self, credentials: CredentialStore) -> None:
        self.credentials = credentials
        self._verified: TTLCache[bytes, bool] = TTLCache(PASSWORD_CACHE_SIZE,
                                                         PASSWORD_CACHE_SECONDS)
        self._lock = threading.Lock()

    def authenticate(self, request: Request) -> str:
        scheme, _, value = request.headers.get(h.AUTHORIZATION, "").strip().partition(" ")
        if scheme.lower() == "basic":
            principal = self._password(value.strip())
        elif scheme.lower() == "bearer":
            principal = self._token(value.strip())
        else:
            raise Unauthenticated()
        claimed = request.headers.get(h.USER, "").strip()
        if claimed and claimed != principal:
            raise Forbidden(f"principal {principal} may not act as another user")
        return principal

    def _password(self, encoded: str) -> str:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated() from None
        user, sep, password = decoded.partition(":")
        if not sep or not user:
            raise Unauthenticated()
        stored = self.credentials.password_hash(user)
        key = hashlib.sha256("\0".join((user, stored or "", password)).encode()).digest()
        with self._lock:
            known = stored is not None and self._verified.get(key, False)
        if known:
            return user
        if not verify_password(stored, password):
            raise Unauthenticated()
        with self._lock:
            self._verified[key] = True
        return user

    def _token(self, token: str) -> str:
        principal = self.credentials.principal_for_token(token) if token else None
        if principal is None:
            raise Unauthenticated()
        return principal
