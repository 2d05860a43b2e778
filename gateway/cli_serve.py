"""``shuqiao serve``, ``shuqiao demo`` (serving the demo world) and ``shuqiao principal ...``.

Exit codes follow the CLI's contract: 0 success, 1 any error (reason on stderr).

Serving modes:

- default: HTTP Basic passwords and bearer tokens (``shuqiao principal passwd|token``). Off
  loopback it needs ``--tls-cert`` and ``--tls-key``: credentials never cross a network in
  clear.
- ``--insecure``: ``X-Trino-User`` is trusted; refused unless bound to a loopback address, and
  announced loudly when the service starts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI, Response

from catalog.credentials import CredentialStore
from catalog.errors import ShuqiaoError
from catalog.store import CatalogStore
from gateway.metrics import metrics_response
from gateway.server.auth import (
    Authenticator,
    CredentialAuthenticator,
    InsecureAuthenticator,
    is_loopback,
)
from gateway.service import Gateway
from gateway.settings import SettingsError, load_settings

EXIT_OK, EXIT_ERROR = 0, 1
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SHUTDOWN_GRACE = 5  # seconds running statements get when the service stops
DEMO_DIR = Path(".demo")
DEMO_SCALE = 100_000
DEMO_SEED = 42
DEMO_PRINCIPALS = ("si_analyst", "chengdu_si_analyst", "mi_analyst", "lapsed_analyst",
                   "auditor", "admin")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to shuqiao.toml.")]
NameArgument = Annotated[str, typer.Argument(help="Principal name (from the policy).")]

principal_app = typer.Typer(
    no_args_is_help=True,
    help="Principals' credentials. Principals themselves come from policy files.")


def _say(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(message: str) -> typer.Exit:
    _say(f"error: {message}")
    return typer.Exit(EXIT_ERROR)


def serve(
    config: ConfigOption,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Trust X-Trino-User without a password (loopback only).")] = False,
) -> None:
    """Serve the Trino client protocol: trino CLI, JDBC, Python and BI tools connect here."""
    try:
        check_serving(host, tls_cert, tls_key, insecure)
        gateway = Gateway.from_config(config)
        auth = authenticator(gateway, host, insecure)
    except ShuqiaoError as error:
        raise _fail(str(error)) from None
    run_server(gateway, auth, host, port, tls_cert, tls_key)


def check_serving(host: str, tls_cert: Path | None, tls_key: Path | None,
                  insecure: bool) -> None:
    """Refuse, before anything is served, combinations that would expose credentials."""
    if (tls_cert is None) != (tls_key is None):
        raise SettingsError("--tls-cert and --tls-key go together")
    if insecure and not is_loopback(host):
        raise SettingsError(f"--insecure is refused on {host}: it trusts X-Trino-User, so it "
                            "may only be bound to a loopback address such as 127.0.0.1")
    if not insecure and tls_cert is None and not is_loopback(host):
        raise SettingsError(f"serving passwords on {host} needs TLS: give --tls-cert and "
                            "--tls-key")


def authenticator(gateway: Gateway, host: str, insecure: bool) -> Authenticator:
    if insecure:
        return InsecureAuthenticator(host)
    return CredentialAuthenticator(CredentialStore(gateway.store))


def service_app(gateway: Gateway, auth: Authenticator) -> FastAPI:
    """The whole service: the Trino protocol, the audit API (auditors only) and ``/metrics``."""
    from gateway.governance import Governance
    from gateway.server import create_app, current_principal
    from gateway.server.audit_listener import ProtocolAuditListener
    from gateway.server.audit_routes import audit_router
    from gateway.server.governance_routes import governance_router

    app = create_app(gateway, auth,
                     audit_router=audit_router(gateway.audit.log, current_principal,
                                               gateway.snapshot),
                     metrics_route=metrics_route(gateway),
                     listeners=[ProtocolAuditListener(gateway.audit)])
    app.include_router(governance_router(Governance.for_gateway(gateway), current_principal))
    if gateway.settings["opa.enabled"]:
        # Trino's OPA plugin sends no credentials: expose this only to the coordinator.
        from gateway.server.opa_routes import opa_router

        app.include_router(opa_router(gateway.snapshot, gateway.clock,
                                      str(gateway.settings["trino.user"]),
                                      lambda p: gateway.target(p, "trino").mask_key))
    return app


def metrics_route(gateway: Gateway) -> Callable[[], Response]:
    def metrics() -> Response:
        """Prometheus metrics: counts and timings by decision and department, no data."""
        body, content_type = metrics_response(gateway.metrics)
        return Response(body, media_type=content_type)

    return metrics


def run_server(gateway: Gateway, auth: Authenticator, host: str, port: int,
               tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    import uvicorn

    from gateway.server import settle_heap

    app = service_app(gateway, auth)
    settle_heap()
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                timeout_graceful_shutdown=SHUTDOWN_GRACE,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None)


def demo_serve(data_dir: Path = DEMO_DIR, port: int = DEFAULT_PORT) -> None:
    """Build the demo world in ``data_dir`` unless it is there, then serve it on 127.0.0.1 in
    insecure demo mode."""
    from gateway.demo.build import CONFIG_NAME, build_demo

    config = data_dir / CONFIG_NAME
    try:
        if not config.exists():
            _say(f"building the demo world in {data_dir} ({DEMO_SCALE:,} residents)...")
            config = build_demo(data_dir, scale=DEMO_SCALE, seed=DEMO_SEED,
                                progress=sys.stderr.isatty())
        gateway = Gateway.from_config(config)
        auth = InsecureAuthenticator(DEFAULT_HOST)
    except ShuqiaoError as error:
        raise _fail(str(error)) from None
    print(connection_help(DEFAULT_HOST, port), flush=True)
    run_server(gateway, auth, DEFAULT_HOST, port)


def demo_callback(
    ctx: typer.Context,
    data_dir: Annotated[Path, typer.Option(
        "--data-dir", help="Demo world directory (built there if missing).")] = DEMO_DIR,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
) -> None:
    """The reference demo world. Without a subcommand: build it if needed and serve it."""
    if ctx.invoked_subcommand is None:
        demo_serve(data_dir, port)


def connection_help(host: str, port: int) -> str:
    url = f"http://{host}:{port}"
    return "\n".join((
        f"Shuqiao demo: {url} (demo mode: the user name is trusted, loopback only)",
        f"  principals:  {', '.join(DEMO_PRINCIPALS)}",
        f"  trino CLI:   java -jar trino-cli-476-executable.jar --server {url} "
        "--user si_analyst --catalog social_security --schema public",
        f"  Python:      trino.dbapi.connect(host='{host}', port={port}, user='si_analyst')",
        f"  SQLAlchemy:  create_engine('trino://si_analyst@{host}:{port}/social_security')",
        f"  JDBC:        jdbc:trino://{host}:{port}/social_security/public?user=si_analyst",
        "  try:         SELECT p.name, p.monthly_amount FROM social_security.public.pensioners p "
        "LIMIT 5",
    ))


# --- credentials ------------------------------------------------------------------------------


def _credentials(config: Path, name: str) -> CredentialStore:
    with CatalogStore(load_settings(config).path("catalog.path")) as store:
        if store.snapshot().principal(name) is None:
            raise SettingsError(
                f"unknown principal {name!r}: principals come from policy files")
        return CredentialStore(store)


def _read_password() -> str:
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return sys.stdin.readline().rstrip("\r\n")


@principal_app.command("passwd")
def passwd(name: NameArgument, config: ConfigOption) -> None:
    """Set NAME's password, read from stdin (or prompted for on a terminal)."""
    try:
        with _credentials(config, name) as credentials:
            credentials.set_password(name, _read_password())
    except ShuqiaoError as error:
        raise _fail(str(error)) from None
    _say(f"password set for {name}")


@principal_app.command("token")
def token(name: NameArgument, config: ConfigOption) -> None:
    """Make a new bearer token for NAME and print it, once: it cannot be shown again."""
    try:
        with _credentials(config, name) as credentials:
            made = credentials.add_token(name)
    except ShuqiaoError as error:
        raise _fail(str(error)) from None
    sys.stdout.write(made + "\n")


@principal_app.command("revoke-tokens")
def revoke_tokens(name: NameArgument, config: ConfigOption) -> None:
    """Revoke every bearer token of NAME."""
    try:
        with _credentials(config, name) as credentials:
            count = credentials.revoke_tokens(name)
    except ShuqiaoError as error:
        raise _fail(str(error)) from None
    _say(f"revoked {count} token(s) of {name}")
