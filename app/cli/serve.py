"""``proctrail serve``: the same TUI in a browser, locked down (textual-serve)."""

from __future__ import annotations

import argparse

from proctrail.app.cli.common import add_config, add_db, add_redact, settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="open the same TUI in a browser (textual-serve)",
        description="Serve the investigator TUI over HTTP: each browser tab runs 'proctrail "
                    "open' on the case. Listens on 127.0.0.1 unless --host says otherwise; "
                    "anyone who reaches the address gets the whole case.")
    add_db(p)
    p.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--public-url", metavar="URL",
                     help="the address browsers use, when behind a proxy or a tunnel")
    p.add_argument("--token", default=None,
                     help="the secret the URL carries (default: a new random one per launch)")
    p.add_argument("--max-sessions", type=int, default=4, metavar="N",
                     help="browser sessions (each a 'proctrail open') at once (default 4)")
    add_redact(p)
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.serve import serve

    if args.config is not None:  # each tab's 'proctrail open' gets the file's redaction
        config = settings(args)
        args.redact = args.redact or config.redact
        args.redact_pattern = [*config.redact_patterns, *args.redact_pattern]
    return serve(args)
