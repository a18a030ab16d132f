"""Shared fixtures: users per role, API clients, a fixed `as_of`."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import import_module
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crm.celery import app
from crm.core.databases import url_from_settings

ROLES = ("marketer", "analyst", "support", "integration")


def pytest_unconfigure(config):
    """Stop the suite's embedded server when this session started it (tests/settings.py)."""
    if getattr(settings, "TEST_DATABASE_SERVER_STARTED", False):
        settings.TEST_DATABASE_SERVER.stop()


@pytest.fixture
def as_of():
    """A fixed 'now' so every window and stage is reproducible."""
    return datetime(2026, 6, 30, 12, 0, tzinfo=ZoneInfo("UTC"))


def ensure_roles() -> None:
    """Recreate the role groups of the migrations when a transactional test flushed them.

    Tests marked django_db(transaction=True) (browser, races) truncate every table at the
    end; the flush recreates content types and permissions (post_migrate) but not the
    groups the data migrations made, so they are rebuilt here from the same tables.
    """
    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    crm_roles = {
        role: [
            *first,
            *(
                ("crm", codename)
                for codename in import_module(
                    "crm.migrations.0008_points_permissions"
                ).ROLE_PERMISSIONS.get(role, [])
            ),
        ]
        for role, first in import_module("crm.migrations.0002_roles").ROLE_PERMISSIONS.items()
    }
    campaign_roles = {
        role: [*first, *import_module(later).ROLE_PERMISSIONS.get(role, [])]
        for role, first in import_module("campaigns.migrations.0002_roles").ROLE_PERMISSIONS.items()
        for later in [
            "campaigns.migrations.0010_audience_record_permissions",
            "campaigns.migrations.0015_push_permissions",
        ]
    }
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in crm_roles.get(role, []):
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="campaigns", codename__in=campaign_roles.get(role, [])
            )
        )


def other_connection(*, autocommit: bool) -> psycopg.Connection:
    """A connection of its own to the test database, beside Django's (to hold a lock, or
    to watch from outside the test's transaction)."""
    database = connection.settings_dict
    return psycopg.connect(
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        user=database["USER"],
        dbname=database["NAME"],
        autocommit=autocommit,
    )


@contextmanager
def customer_table_locked() -> Iterator[None]:
    """Within: the customer table locked (ACCESS EXCLUSIVE) from another connection, so
    that every query of it waits as a long one would run. The test's own transaction must
    not have written customers (the lock would wait for it): such tests commit theirs
    (django_db(transaction=True))."""
    holder = other_connection(autocommit=False)
    holder.execute("LOCK TABLE crm_customer IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def make_user(role: str | None, *, superuser: bool = False) -> User:
    ensure_roles()
    username = role or "admin"
    user = User.objects.create_user(
        username=username,
        password="pw-" + username,
        is_superuser=superuser,
        is_staff=superuser or role == "support",
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def marketer(db):
    return make_user("marketer")


@pytest.fixture
def analyst(db):
    return make_user("analyst")


@pytest.fixture
def support(db):
    return make_user("support")


@pytest.fixture
def integration(db):
    return make_user("integration")


@pytest.fixture
def admin_user(db):
    return make_user(None, superuser=True)


def token_client(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def marketer_api(marketer):
    return token_client(marketer)


@pytest.fixture
def integration_api(integration):
    return token_client(integration)


@pytest.fixture
def analyst_api(analyst):
    return token_client(analyst)


def celery_environment() -> dict[str, str]:
    """The environment of a Celery worker or beat started by a test: the test settings, this
    session's test database (not the server's base one), tasks sent rather than run."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": url_from_settings(connection.settings_dict),
        "OPSCRM_TEST_CELERY_PROCESS": "1",
    }


WORKER_LOGS = Path(__file__).resolve().parent.parent / "var" / "log" / "test-workers"
SPAWNED_WORKERS: list[subprocess.Popen] = []


def worker_logs(last: int = 3, tail: int = 6000) -> str:
    """The end of the output of the last workers spawned (for a failure's message)."""
    return "\n".join(
        f"--- {worker.log_path.name} (exit {worker.poll()}):\n"
        + worker.log_path.read_text(errors="replace")[-tail:]
        for worker in SPAWNED_WORKERS[-last:]
    )


def spawn_celery_worker(name: str = "worker") -> subprocess.Popen:
    """Start a real Celery worker process (solo pool) named `name`@host on the suite's
    broker and test database, and wait until it answers a ping. Its output goes to a file
    (worker_logs() reads it), never to a pipe nobody drains while the test waits."""
    root = Path(__file__).resolve().parent.parent
    WORKER_LOGS.mkdir(parents=True, exist_ok=True)
    log_path = WORKER_LOGS / f"{name}-{time.time_ns()}.log"
    log = log_path.open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "crm",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{name}@%h",
            "-l",
            "INFO",
        ],
        cwd=root,
        env=celery_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    worker.log_path = log_path
    SPAWNED_WORKERS.append(worker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = app.control.ping(timeout=0.5)
        if any(next(iter(answer)).startswith(f"{name}@") for answer in answers):
            return worker
        if worker.poll() is not None:
            raise RuntimeError(log_path.read_text(errors="replace"))
    worker.kill()
    raise RuntimeError(f"the Celery worker {name} did not answer within 60 s")


def stop_celery_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def celery_broker(transactional_db, settings):
    """Tasks sent from the test go through the suite's broker (tests/settings.py: the demo's
    filesystem transport, or TEST_CELERY_BROKER_URL) instead of running inline; the queue
    is purged before and after."""
    app.conf.task_always_eager = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.control.purge()
    yield app
    app.control.purge()
    app.conf.task_always_eager = True


@pytest.fixture
def celery_worker_process(celery_broker):
    """A real Celery worker (subprocess) on the suite's broker, on the test database;
    stopped afterwards."""
    worker = spawn_celery_worker()
    yield worker
    stop_celery_worker(worker)
