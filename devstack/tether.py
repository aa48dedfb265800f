"""Run a command that ends when the process that started it does, however that process ends.

    python -I -S devstack/tether.py --parent PID [--grace SECONDS] -- COMMAND [ARG...]

PID is the process starting this one (its parent); when it is not (it has died already), the command
is not run and the exit status is 125 (126 or 127 when the command cannot be run). The command replaces this process (exec): it keeps
its pid, parent, process group, standard streams and exit status, so whoever started it signals, waits
for and reads it as if it had started the command itself. Just before the exec, a watcher is forked: a
copy of this small interpreter that waits for whichever of the command and PID exits first (woken by
pidfds on Linux, else by polling every 0.2 s).

- The command exits first (it was stopped, or it stopped on its own): the watcher exits too.
- PID exits first (killed, `timeout`, a crashed test worker): the watcher sends SIGTERM to the command's
  process group, waits up to --grace seconds (default 5) for the command, then sends SIGKILL to what is
  left of the group, itself included. Without a group of its own (started without
  `start_new_session=True`), only the command is signalled.

The watcher is a member of the command's process group. It ignores SIGINT, SIGTERM and SIGHUP, so a
signal to the group stops the command as before and the watcher follows at once; SIGKILL to the group
ends it with the rest. It closes its standard streams: a reader of the command's output sees its end
when the command exits.

PR_SET_PDEATHSIG would be simpler but fires when the *thread* that forked the child exits, and runners
start servers from helper threads. Only the standard library is used: run with -I -S, the tether adds
about 15 ms to a start. `tethered(argv)` returns the command line that runs argv this way.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Callable, Sequence

__all__ = ["process_exists", "tethered"]

USAGE = "usage: tether.py --parent PID [--grace SECONDS] -- COMMAND [ARG...]"
POLL_SECONDS = 0.2


def tethered(argv: Sequence[str], *, grace: float = 5.0) -> list[str]:
    """The command line that runs argv tethered to the calling process (see the module's docstring)."""
    return [
        sys.executable,
        "-I",
        "-S",
        os.path.abspath(__file__),
        "--parent",
        str(os.getpid()),
        "--grace",
        repr(float(grace)),
        "--",
        *argv,
    ]


def _parse(argv: Sequence[str]) -> tuple[int, float, list[str]]:
    """(parent pid, grace seconds, command) from the command line; SystemExit(125) when malformed."""
    args = list(argv)
    options: dict[str, str] = {}
    while args and args[0] != "--":
        name = args.pop(0)
        if name not in ("--parent", "--grace") or not args:
            raise SystemExit(f"tether: unexpected {name!r}\n{USAGE}")
        options[name] = args.pop(0)
    command = args[1:]
    if "--parent" not in options or not command:
        raise SystemExit(f"tether: --parent and a command are required\n{USAGE}")
    try:
        return int(options["--parent"]), float(options.get("--grace", "5")), command
    except ValueError as exc:
        raise SystemExit(f"tether: {exc}\n{USAGE}") from exc


def _pidfd(pid: int) -> int | None:
    """A pidfd of pid (readable once it exits), or None where the system has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class _Watch:
    """What the watcher waits on: the command (its parent) and the runner."""

    def __init__(self, command: int, runner: int, *, group: bool) -> None:
        self.command = command
        self.runner = runner
        self.group = group
        # Opened before the fork: the command's pid is this process's own until the exec.
        self.command_fd = _pidfd(command)
        self.runner_fd = _pidfd(runner) if self.command_fd is not None else None

    def command_exited(self, timeout: float | None) -> bool:
        """Wait up to timeout (None: forever) for the command to exit; True when it has."""
        if self.command_fd is not None:
            return bool(select.select([self.command_fd], [], [], timeout)[0])
        return self._poll(timeout, lambda: os.getppid() != self.command)

    def runner_exited_first(self) -> bool:
        """Wait until the command or the runner exits; True when it is the runner."""
        if self.command_fd is not None and self.runner_fd is not None:
            ready = select.select([self.command_fd, self.runner_fd], [], [])[0]
            return self.command_fd not in ready
        while True:
            if os.getppid() != self.command:
                return False
            if not process_exists(self.runner):
                return True
            select.select([], [], [], POLL_SECONDS)

    @staticmethod
    def _poll(timeout: float | None, done: Callable[[], bool]) -> bool:
        waited = 0.0
        while not done():
            if timeout is not None and waited >= timeout:
                return False
            select.select([], [], [], POLL_SECONDS)
            waited += POLL_SECONDS
        return True

    def signal(self, sig: signal.Signals) -> None:
        """Signal the command's group (its pgid stays ours while this watcher is in it), or the command."""
        try:
            if self.group:
                os.killpg(self.command, sig)
            elif self.command_fd is not None:
                signal.pidfd_send_signal(self.command_fd, sig)
            elif os.getppid() == self.command:  # still our parent: not exited, so not a reused pid
                os.kill(self.command, sig)
        except (ProcessLookupError, PermissionError):
            pass


def process_exists(pid: int) -> bool:
    """True while a process (or a zombie) has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watcher(watch: _Watch, grace: float) -> None:
    """The forked watcher's whole life; it never returns."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if watch.runner_exited_first():
            watch.signal(signal.SIGTERM)
            watch.command_exited(grace)
            watch.signal(signal.SIGKILL)
    finally:
        os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Fork the watcher, then become the command."""
    parent, grace, command = _parse(sys.argv[1:] if argv is None else argv)
    watch = _Watch(os.getpid(), parent, group=os.getpgrp() == os.getpid())
    if os.getppid() != parent:  # checked after opening its pidfd: that pidfd is the runner's
        print(f"tether: process {parent} is gone; not running {command[0]}", file=sys.stderr)
        return 125
    if os.fork() == 0:
        _watcher(watch, grace)
    for fd in (watch.command_fd, watch.runner_fd):
        if fd is not None:
            os.close(fd)
    # Python ignores these two at start; an exec would pass that on to the command.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"tether: cannot run {command[0]}: {exc}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126


if __name__ == "__main__":
    sys.exit(main())
