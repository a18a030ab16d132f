"""The production web server's configuration (gunicorn.conf.py at the project root) logs
each request without its query string: searching customers by phone or e-mail puts them
there (SPEC §9)."""

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(port: int, target: str, **headers) -> int:
    """The status of GET `target` (redirects not followed)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", target, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def server(tmp_path):
    """gunicorn started as production would be: the project's config file, one worker."""
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            fetch(port, "/login/")
            break
        except OSError:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    yield port, log
    process.terminate()
    process.wait(timeout=20)


def test_the_access_log_leaves_query_strings_and_referers_out(server):
    # given
    port, log = server

    # when: a search by phone, and the page after it (its referer holds the search)
    search = fetch(port, "/customers/?q=13800138000")
    after = fetch(port, "/login/?next=/customers/", Referer="/customers/?q=li%40example.com")
    time.sleep(0.5)  # the access line is written after the response

    # then
    written = log.read_text()
    assert (search, after) == (302, 200)
    assert '"GET /customers/ HTTP/1.1" 302' in written
    assert '"GET /login/ HTTP/1.1" 200' in written
    for leaked in ("13800138000", "li%40example.com", "li@example.com", "?q=", "?next="):
        assert leaked not in written
