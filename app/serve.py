"""``proctrail serve``: the same TUI in a browser, through textual-serve.

Each browser connection runs ``proctrail open`` on the case as its own process, its
screen carried over a websocket. Anyone who reaches the address gets the whole case, so
it listens on 127.0.0.1 unless another address is asked for explicitly, and says so when
it is not a loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import sys

from proctrail.store.db import database_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


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


def serve(args: argparse.Namespace) -> int:
    """Serve the TUI on ``args.host``:``args.port`` until interrupted."""
    from textual_serve.server import Server

    from proctrail.app.cli import EXIT_OK, EXIT_USAGE, _error
    from proctrail.store.db import open_engine

    if not 0 < args.port < 65536:
        _error(f"serve: --port must be 1..65535, not {args.port}")
        return EXIT_USAGE
    url = database_url(args.db)
    open_engine(url).dispose()  # refuse a store that cannot be opened before listening
    # The case reaches each app process through the environment, never its command line
    # (which every local user can read, password and all).
    os.environ["PROCTRAIL_DB"] = url
    host = args.host
    shown_host = f"[{host}]" if ":" in host else host
    where = args.public_url or f"http://{shown_host}:{args.port}"
    if not is_loopback(host):
        print(f"proctrail: warning: listening on {host}, not a loopback address: anyone "
              "who reaches it gets the whole case", file=sys.stderr)
    print(f"proctrail: serving the case in a browser at {where} (listening on "
          f"{shown_host}:{args.port}); Ctrl+C stops it", flush=True)
    Server(app_command(args), host=host, port=args.port, title="proctrail",
           public_url=args.public_url).serve()
    return EXIT_OK
