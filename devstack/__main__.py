"""Command line: `python -m devstack run | demo | stop | env`."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from devstack.layout import DEFAULT_BASE_PORT, PortInUseError, StackLayout, read_state
from devstack.procs import command_line, group_members

__all__ = ["main"]


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be positive, got {raw!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=Path(os.environ.get("DEVSTACK_DATA_DIR", ".local")),
            help="data, logs and state folder (env DEVSTACK_DATA_DIR; default .local)",
        )

    run = commands.add_parser("run", help="start the whole stack and keep it running until Ctrl-C")
    add_common(run)
    run.add_argument(
        "--base-port",
        type=int,
        default=int(_env_number("DEVSTACK_BASE_PORT", DEFAULT_BASE_PORT)),
        help=f"first port of the stack (env DEVSTACK_BASE_PORT; default {DEFAULT_BASE_PORT})",
    )
    run.add_argument(
        "--publish-interval",
        type=float,
        default=_env_number("PUBLISH_INTERVAL", 30.0),
        help="seconds between scheduled publish-live calls (env PUBLISH_INTERVAL; default 30)",
    )
    run.add_argument(
        "--captcha",
        choices=("turnstile", "hcaptcha", "recaptcha"),
        default=os.environ.get("DEVSTACK_CAPTCHA") or None,
        help="guard the demo form with this provider's challenge, played locally "
        "(env DEVSTACK_CAPTCHA; default none)",
    )
    run.add_argument(
        "--rate-limit",
        type=int,
        default=int(_env_number("SANDBOX_RATE_LIMIT", 120)),
        help="sandbox requests per minute per token (env SANDBOX_RATE_LIMIT; default 120)",
    )

    demo = commands.add_parser("demo", help="run the scripted scenario against the running stack")
    add_common(demo)
    demo.add_argument(
        "--timeout", type=float, default=90.0, help="bound of each step's wait, seconds"
    )

    stop = commands.add_parser("stop", help="stop a stack left running (e.g. in another terminal)")
    add_common(stop)

    env = commands.add_parser(
        "env",
        help="print the running stack's Webflow settings as shell exports "
        '(eval "$(python -m devstack env)", then webflow-functions talks to the sandbox)',
    )
    add_common(env)
    return parser


def _env(args: argparse.Namespace) -> int:
    import shlex

    state = read_state(StackLayout(data_dir=args.data_dir).state_path)
    if state is None:
        print("No running stack found: start it with `make run` first.", file=sys.stderr)
        return 2
    sandbox = state["sandbox"]
    values = {
        "WEBFLOW_API_BASE_URL": sandbox["apiBaseUrl"],
        "WEBFLOW_API_TOKEN": sandbox["tokens"]["full"],
        "WEBFLOW_SITE_ID": sandbox["siteId"],
        "POSTS_COLLECTION_ID": sandbox["collections"]["posts"],
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from devstack.stack import StackOptions, run

    if not 1024 <= args.base_port <= 65535 - 10:
        print(f"--base-port must be between 1024 and {65535 - 10}", file=sys.stderr)
        return 2
    options = StackOptions(
        layout=StackLayout(base_port=args.base_port, data_dir=args.data_dir),
        publish_interval=args.publish_interval,
        rate_limit=args.rate_limit,
        captcha=args.captcha,
    )
    try:
        return run(options)
    except PortInUseError as exc:
        print(f"\nThe stack cannot start: {exc}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    from devstack.demo import Demo

    state = read_state(StackLayout(data_dir=args.data_dir).state_path)
    if state is None:
        print(
            f"No running stack found ({args.data_dir}/stack.json is missing): start it with `make run` "
            "in another terminal, then run `make demo` again.",
            file=sys.stderr,
        )
        return 2
    return Demo(state, sys.stdout, timeout=args.timeout).run()


def _stop(args: argparse.Namespace) -> int:
    state = read_state(StackLayout(data_dir=args.data_dir).state_path)
    if state is None:
        print("No stack state found: nothing to stop.")
        return 0
    pid = int(state["pid"])
    groups = [int(child) for child in state.get("childPids", [])]
    if _is_devstack(pid):
        os.kill(pid, signal.SIGTERM)  # the stack stops its own services
        print(f"asked the stack (pid {pid}) to stop")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _is_devstack(pid):
            time.sleep(0.1)
    else:
        print(f"the stack's own process (pid {pid}) is gone; stopping the services it left")
    groups = [group for group in groups if _ours(group)]
    _signal_groups(groups, signal.SIGTERM)
    _wait_gone(groups, timeout=10)
    _signal_groups([group for group in groups if group_members(group)], signal.SIGKILL)
    run_dir = Path(state.get("runDir") or "")
    if run_dir.name.startswith("devstack-") and run_dir.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(run_dir, ignore_errors=True)  # the servers' runtime folders
    StackLayout(data_dir=args.data_dir).state_path.unlink(missing_ok=True)
    return 0


# What the stack's children run: a process group is only signalled when one of its members does.
_SERVICE_MARKERS = ("sandbox", "functions_framework", "fake-gcs-server")


def _ours(pgid: int) -> bool:
    """True when a live member of the process group runs one of the stack's services."""
    for member in group_members(pgid):
        cmdline = command_line(member) or ""
        if any(marker in cmdline for marker in _SERVICE_MARKERS):
            return True
    return False


def _signal_groups(groups: list[int], sig: signal.Signals) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)


def _wait_gone(groups: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group_members(group) for group in groups):
        time.sleep(0.1)


def _is_devstack(pid: int) -> bool:
    """True when pid is alive and runs devstack (not a later process that reused the pid)."""
    return "devstack" in (command_line(pid) or "")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m devstack`."""
    args = _parser().parse_args(argv)
    handlers = {"run": _run, "demo": _demo, "stop": _stop, "env": _env}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:  # `run` handles its own signals; this is Ctrl-C in demo or stop
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
