"""Command line: ``python -m sandbox`` / ``webflow-sandbox``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .app import build_app, make_server


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="webflow-sandbox",
        description="A local server that behaves like the Webflow Data API v2.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8700, help="port; 0 picks a free one (default 8700)"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=60,
        help="requests per minute per token; 0 turns limiting off",
    )
    parser.add_argument("--db", default=None, help="SQLite file keeping the data across restarts")
    parser.add_argument("--seed", default=None, help="seed JSON file replacing the default seed")
    parser.add_argument("--log-level", default="INFO", help="log level (stderr)")
    args = parser.parse_args(argv)
    if args.rate_limit < 0:
        parser.error("--rate-limit must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGINT or SIGTERM."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        if args.db:
            Path(args.db).parent.mkdir(parents=True, exist_ok=True)  # e.g. .local on a fresh clone
        app = build_app(
            host=args.host, rate_limit=args.rate_limit, db_path=args.db, seed_path=args.seed
        )
        server = make_server(app, args.port)
    except (OSError, ValueError, KeyError, TypeError, sqlite3.Error) as exc:
        # a port in use, an unreadable or malformed seed, a database that is not ours
        print(f"webflow-sandbox: cannot start: {exc!r}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns: call it from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready = {
        "apiBaseUrl": app.api_base_url,
        "controlUrl": f"{app.root_url}/_sandbox",
        "rootUrl": app.root_url,
        "pid": os.getpid(),
        "port": app.port,
        "db": args.db,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    logging.getLogger("sandbox").info("listening on %s", app.root_url)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for extension in app.extensions:
            extension.close()
        server.server_close()
        app.store.close()
    logging.getLogger("sandbox").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
