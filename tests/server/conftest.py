"""The HTTP service in-process: the app over the demo world, driven through httpx's ASGI
transport on one event loop (queries started by one request are continued by the next)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.server import create_app
from gateway.server.auth import Authenticator, InsecureAuthenticator
from gateway.service import Gateway

FIXTURES = Path(__file__).parents[1] / "fixtures" / "server"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Service:
    """Requests to an app, all on one private event loop."""

    def __init__(self, app: FastAPI, client: tuple[str, int] = ("127.0.0.1", 40000)) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=client)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                content: str | bytes | None = None) -> httpx.Response:
        call = self.client.request(method, url, headers=dict(headers or {}), content=content)
        return self.loop.run_until_complete(call)

    def statement(self, sql: str, user: str = "si_analyst",
                  headers: Mapping[str, str] | None = None) -> list[httpx.Response]:
        """POST ``sql`` and follow ``nextUri`` to the end; every response, in order."""
        sent = {"X-Trino-User": user, **(headers or {})}
        responses = [self.request("POST", "/v1/statement", headers=sent, content=sql)]
        while responses[-1].status_code == 200 and "nextUri" in responses[-1].json():
            responses.append(self.request("GET", responses[-1].json()["nextUri"], headers=sent))
        return responses

    def close(self) -> None:
        """As the app's shutdown does: cancel what still runs, then stop."""
        self.app.state.registry.close()
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


#: More rows than one page (1,000), so its POST answers with a ``nextUri``.
MANY_ROWS = "SELECT p.id_no FROM social_security.public.payments p"


def rows_of(responses: list[httpx.Response]) -> list[list[object]]:
    return [row for r in responses for row in r.json().get("data", [])]


def final(responses: list[httpx.Response]) -> dict[str, Any]:
    document: dict[str, Any] = responses[-1].json()
    return document


def make_service(gateway: Gateway, auth: Authenticator | None = None,
                 client: tuple[str, int] = ("127.0.0.1", 40000), *,
                 first_wait: float = 10.0) -> Service:
    """The app over ``gateway``; generous waits, so answers do not depend on machine speed."""
    app = create_app(gateway, auth or InsecureAuthenticator("127.0.0.1"), max_wait=30.0,
                     first_wait=first_wait)
    return Service(app, client)


@pytest.fixture(scope="module")
def service(gateway: Gateway) -> Iterator[Service]:
    made = make_service(gateway)
    yield made
    made.close()
