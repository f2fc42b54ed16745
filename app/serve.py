"""``proctrail serve``: the same TUI in a browser, through textual-serve, locked down.

Each browser connection runs ``proctrail open`` on the case as its own process, its
screen carried over a websocket. Anyone who reaches the address gets the whole case, so
it listens on 127.0.0.1 unless another address is asked for explicitly, and says so when
it is not a loopback address. And every page the analyst's browser opens can reach
127.0.0.1 too, so (:class:`LockedServer`):

- a secret token per launch, printed in the URL (``--token`` sets one), then kept in a
  cookie; compared in constant time; without it, no page, asset, download or websocket;
- a request whose ``Host`` is not the server's own (DNS rebinding), or a websocket whose
  ``Origin`` is not, is refused before any process starts;
- at most ``--max-sessions`` apps run at once; each ends when its socket closes;
- the page loads nothing from elsewhere (textual-serve's page asks a font of Google's).
"""

from __future__ import annotations

import argparse
import atexit
import hmac
import ipaddress
import os
import secrets
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proctrail.store.db import database_url
from proctrail.store.errors import EXIT_OK, UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SESSIONS = 4
COOKIE = "proctrail_token"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_command(args: argparse.Namespace) -> str:
    """The shell command each connection runs: this Python's ``proctrail open``."""
    command = [sys.executable, "-m", "proctrail.app.cli", "open"]
    if args.redact:
        command.append("--redact")
    for pattern in args.redact_pattern:
        command += ["--redact-pattern", pattern]
    return shlex.join(command)


def allowed_hosts(host: str, port: int, public_url: str | None) -> set[str]:
    """The ``Host`` values (host:port, lower case) that name this server."""
    names = {host.lower(), f"[{host}]".lower() if ":" in host else host.lower()}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    out = {f"{n}:{port}" for n in names}
    if public_url:
        out.add(urlsplit(public_url).netloc.lower())
    return out


def local_templates(templates: Path) -> Path:
    """textual-serve's page without the font it fetches from Google: a jump box is often
    offline, and a case should not call out (a copy in a temporary folder)."""
    folder = Path(tempfile.mkdtemp(prefix="proctrail-serve-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # gone when serve stops
    for page in templates.glob("*.html"):
        kept = [line for line in page.read_text(encoding="utf-8").splitlines(keepends=True)
                if "fonts.googleapis.com" not in line]
        (folder / page.name).write_text("".join(kept), encoding="utf-8")
    return folder


def make_server(args: argparse.Namespace, token: str) -> Any:
    """The textual-serve server for ``args``, locked down (see the module)."""
    from aiohttp import web
    from textual_serve.server import Server

    hosts = allowed_hosts(args.host, args.port, args.public_url)
    origins = {f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts}
    limit = max(1, args.max_sessions)

    class LockedServer(Server):  # type: ignore[misc]
        """textual-serve with a token, Host and Origin checks and a session cap."""

        active = 0

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self._guard)
            return app

        @web.middleware
        async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
            if request.host.lower() not in hosts:
                return web.Response(status=403, text="proctrail: not this server's address")
            given = request.query.get("token") or request.cookies.get(COOKIE, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=403, text="proctrail: the link with the token "
                                                     "is needed (printed when serve started)")
            if request.path == "/ws":
                if request.headers.get("Origin", "").lower() not in origins:
                    return web.Response(status=403, text="proctrail: foreign origin")
                if LockedServer.active >= limit:
                    return web.Response(status=503, text=f"proctrail: {limit} sessions "
                                                         "already open (--max-sessions)")
                LockedServer.active += 1
                try:
                    return await handler(request)
                finally:
                    LockedServer.active -= 1
            response = await handler(request)
            if "token" in request.query:
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                                    path="/")
            return response

    server = LockedServer(app_command(args), host=args.host, port=args.port,
                          title="proctrail", public_url=args.public_url)
    server.templates_path = local_templates(Path(server.templates_path))
    return server


def serve(args: argparse.Namespace) -> int:
    """Serve the TUI on ``args.host``:``args.port`` until interrupted."""
    from proctrail.store.db import open_engine

    if not 0 < args.port < 65536:
        raise UsageError(f"serve: --port must be 1..65535, not {args.port}")
    url = database_url(args.db)
    open_engine(url).dispose()  # refuse a store that cannot be opened before listening
    # The case reaches each app process through the environment, never its command line
    # (which every local user can read, password and all).
    os.environ["PROCTRAIL_DB"] = url
    token = args.token or secrets.token_urlsafe(24)
    host = args.host
    shown_host = f"[{host}]" if ":" in host else host
    where = (args.public_url or f"http://{shown_host}:{args.port}").rstrip("/")
    if not is_loopback(host):
        print(f"proctrail: warning: listening on {host}, not a loopback address: anyone "
              "who reaches it and has the token gets the whole case", file=sys.stderr)
    print(f"proctrail: serving the case in a browser at {where}/?token={token} (listening "
          f"on {shown_host}:{args.port}, at most {args.max_sessions} sessions); Ctrl+C "
          "stops it", flush=True)
    make_server(args, token).serve()
    return EXIT_OK
