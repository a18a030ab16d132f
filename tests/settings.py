"""Test-only overrides; production settings never mention tests.

The suite runs on `TEST_DATABASE_URL` when it is set, otherwise on its own embedded server
under var/postgres-test, configured for the suite (tests/conftest.py stops it at the end
when this session started it).
"""

import os
from pathlib import Path

from crm.core.databases import EmbeddedServer, settings_from_url, url_from_settings

BASE_DIR = Path(__file__).resolve().parent.parent

TEST_DATABASE_SERVER = EmbeddedServer(
    data_dir=BASE_DIR / "var" / "postgres-test",
    server_settings={
        # The claim races open 200 connections at once (one per thread), plus the suite's
        # own, a live server's and a worker's.
        "max_connections": "300",
        # Throwaway data: durability costs time and buys nothing here.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    },
)
TEST_DATABASE_SERVER_STARTED = False
if os.environ.get("TEST_DATABASE_URL"):
    test_database = settings_from_url(os.environ["TEST_DATABASE_URL"])
else:
    TEST_DATABASE_SERVER_STARTED = TEST_DATABASE_SERVER.start(database="opscrm")
    test_database = {
        "NAME": "opscrm",
        "USER": "postgres",
        "HOST": str(TEST_DATABASE_SERVER.socket_dir),
        "PORT": "5432",
    }
# crm.settings reads DATABASE_URL; subprocesses started by tests inherit it.
os.environ["DATABASE_URL"] = url_from_settings(test_database)
# The suite runs the development profile (the test client and live server speak plain HTTP,
# static files come from the finders) with a fixed key, so no key file is written under
# var/; pytest-django still runs every test with DEBUG off, as production does.
os.environ["DEBUG"] = "true"
os.environ.setdefault("SECRET_KEY", "tests-only-key-" + "not-a-secret-" * 4)

from crm.settings import *  # noqa: E402, F403
from crm.settings import STATIC_ROOT  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Tests run tasks inline unless a test starts a real worker (marker `worker`, fixture
# celery_worker_process): then on the demo's no-server broker in its own folder, or on
# TEST_CELERY_BROKER_URL (CI runs them on Redis as well).
# A worker or beat started by a test says so (tests/conftest.py, celery_environment):
# beat must send its tasks, not run them.
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("OPSCRM_TEST_CELERY_PROCESS")
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "filesystem://localhost//")
TEST_BROKER_DIR = BASE_DIR / "var" / "broker-test"
if CELERY_BROKER_URL.startswith("filesystem:"):
    for folder in ("queue", "control"):
        (TEST_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(TEST_BROKER_DIR / "queue"),
        "data_folder_out": str(TEST_BROKER_DIR / "queue"),
        "control_folder": str(TEST_BROKER_DIR / "control"),
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}

# WhiteNoise warns on every request when STATIC_ROOT does not exist (pages are served from
# the finders in tests); an empty folder is enough.
STATIC_ROOT.mkdir(exist_ok=True)
