"""The demo's supervisor stops its processes however it is stopped: a `kill -INT` of a demo
started in the background by a script (whose shell ignores SIGINT for background jobs), or
a SIGKILL of the supervisor itself, which leaves it no chance to stop anything.

Real processes: a supervisor started through bash with `&`, supervising a sleeping Python.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

SUPERVISED = """
import os, sys
from pathlib import Path
from demo.processes import DemoProcess, Supervisor
child = DemoProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                    Path(sys.argv[1]))
supervisor = Supervisor([child], cwd=Path.cwd())
try:  # as the demo command: a stop signal from the start on ends in stop()
    supervisor.start()
    print(os.getpid(), child.process.pid, flush=True)
    supervisor.run_until_stopped()
finally:
    print("killed:", supervisor.stop(), flush=True)
"""


def running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def background_demo(tmp_path):
    """A supervisor started as a script starts a background job (`bash -c '... & wait'`),
    and the pids of it and of its child."""
    shell = subprocess.Popen(
        [
            "/bin/bash",
            "-c",
            f'"{sys.executable}" -c "$0" "$1" & wait',
            SUPERVISED,
            tmp_path / "log",
        ],
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    supervisor, child = (int(pid) for pid in shell.stdout.readline().split())
    yield shell, supervisor, child
    for pid in (supervisor, child):
        if running(pid):
            os.kill(pid, signal.SIGKILL)
    shell.wait(timeout=10)


def test_a_kill_int_of_a_background_demo_stops_it_and_its_processes(background_demo):
    shell, supervisor, child = background_demo
    assert running(child)

    os.kill(supervisor, signal.SIGINT)

    assert shell.wait(timeout=20) == 0
    assert shell.stdout.read().strip() == "killed: []"
    assert gone_within(child, 1)


def test_a_killed_supervisor_leaves_no_process_behind(background_demo):
    _, supervisor, child = background_demo

    os.kill(supervisor, signal.SIGKILL)

    assert gone_within(child, 5)
