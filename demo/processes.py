"""The demo's processes: the site (gunicorn), a Celery worker and Celery beat.

They are the production code path (SPEC §8), each its own process as in a deployment, on
the broker the settings name. The supervisor owns them: Ctrl-C (or SIGTERM, or a closed
terminal's SIGHUP) stops each one with SIGTERM, waits for it, kills what does not stop, and
then lets the caller stop the database. Children run in their own sessions, so the
terminal's Ctrl-C reaches the supervisor only and the order of the shutdown is ours; and
each gets SIGTERM when the supervisor dies, even killed, so none outlives it. If one of
them dies, the others are stopped too: a demo without its worker would quietly stop
starting campaigns.
"""

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# gunicorn answered its first request about 1.5 s after start on the 2-core machine.
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
# What stops the demo: Ctrl-C, a kill, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# linux/prctl.h: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


class DemoProcessError(Exception):
    """A demo process could not start, or stopped on its own."""


@dataclass
class DemoProcess:
    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen | None = None


def demo_processes(*, port: int, log_dir: Path, base_dir: Path) -> list[DemoProcess]:
    """The site on 127.0.0.1:`port`, one worker with two task processes, and beat."""
    python = sys.executable
    return [
        DemoProcess(
            "site",
            [
                python,
                "-m",
                "gunicorn",
                # The production configuration: no query strings in the access log.
                "-c",
                str(base_dir / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--error-logfile",
                "-",
            ],
            log_dir / "site.log",
        ),
        DemoProcess(
            "worker",
            [python, "-m", "celery", "-A", "crm", "worker", "--concurrency=2", "-l", "INFO"],
            log_dir / "worker.log",
        ),
        DemoProcess(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "crm",
                "beat",
                "-l",
                "INFO",
                "--schedule",
                str(base_dir / "var" / "celerybeat-schedule"),
            ],
            log_dir / "beat.log",
        ),
    ]


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Supervisor:
    """Starts the demo processes and stops them all, in order, exactly once."""

    def __init__(self, processes: list[DemoProcess], *, cwd: Path):
        self.processes = processes
        self.cwd = cwd
        self.stopping = False

    def start(self) -> None:
        # Set here rather than inherited: a shell without job control starts a background
        # job with SIGINT ignored, which Python keeps, and `kill -INT` then stopped nothing.
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise_keyboard_interrupt)
        for demo_process in self.processes:
            demo_process.log.parent.mkdir(parents=True, exist_ok=True)
            log = open(demo_process.log, "ab")  # noqa: SIM115 - the child keeps writing to it
            demo_process.process = subprocess.Popen(  # noqa: S603 - our own commands
                demo_process.command,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                # (safe: the supervisor runs no threads)
                preexec_fn=functools.partial(_stop_with_parent, os.getpid()),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()

    def wait_for_site(self, url: str, *, is_up: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.check_alive()
            if is_up(url):
                return
            time.sleep(0.3)
        raise DemoProcessError(f"the site did not answer at {url} within {READY_TIMEOUT_SECONDS} s")

    def check_alive(self) -> None:
        for demo_process in self.processes:
            code = demo_process.process.poll() if demo_process.process else None
            if code is not None:
                raise DemoProcessError(
                    f"the demo's {demo_process.name} stopped (exit code {code}); "
                    f"see {demo_process.log}"
                )

    def run_until_stopped(self) -> None:
        """Block until a STOP_SIGNALS signal, or until a process dies (DemoProcessError)."""
        try:
            while True:
                self.check_alive()
                time.sleep(1)
        except KeyboardInterrupt:
            return

    def stop(self) -> list[str]:
        """SIGTERM every process still running, wait, then SIGKILL stragglers. Returns the
        names of the processes that had to be killed."""
        if self.stopping:
            return []
        self.stopping = True
        # A second Ctrl-C, kill or hang-up must not cut the shutdown short.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        running = [p for p in self.processes if p.process and p.process.poll() is None]
        for demo_process in running:
            # The main process only: gunicorn's arbiter and Celery's main process stop their
            # own children; a TERM to the whole group made Celery's pool hang past 20 s.
            demo_process.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        killed = []
        for demo_process in running:
            try:
                demo_process.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(demo_process.process, signal.SIGKILL)
                demo_process.process.wait()
                killed.append(demo_process.name)
        return killed


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the child's whole session (gunicorn's and Celery's own children too): only
    for SIGKILL, when the main process did not stop them itself."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop_with_parent(supervisor: int) -> None:
    """In a child, before it runs its command: SIGTERM when the supervisor dies, even by
    SIGKILL, since in their own sessions nothing else would stop them (Linux). A supervisor
    already gone before this ran stops the child at once."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt
