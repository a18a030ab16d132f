"""Production is the default (SPEC §8): with no DEBUG in the environment the settings are
production's, pass Django's deployment checklist, and refuse to start without a
SECRET_KEY. Development says so (DEBUG=true, as `make` does) and then gets a key generated
once under var/, never one written in the code."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_KEY = "k3y-" + "x9Qz!w7Lp#4v" * 6
# The built-in key development used before: no key may live in the code.
FORMER_BUILT_IN_KEY = "dev-only-insecure-key-change-me-in-production"
SHOW_SETTINGS = (
    "from django.conf import settings; "
    "print(settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, "
    "settings.STORAGES['staticfiles']['BACKEND'])"
)
SHOW_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def run_manage(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    """manage.py with only the given environment (no DEBUG unless given)."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": "postgres://opscrm@db.example.com:5432/opscrm",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_shell(code: str, **environment: str) -> subprocess.CompletedProcess:
    """`code` run by `manage.py shell` (quiet: stdout holds only what it prints)."""
    return run_manage("shell", "--verbosity", "0", "--command", code, **environment)


def test_without_debug_in_the_environment_the_settings_are_production():
    # when DEBUG is not set at all
    completed = run_shell(SHOW_SETTINGS, SECRET_KEY=PRODUCTION_KEY)

    # then debug pages are off, HTTPS is enforced and static files are hashed
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        "False",
        "True",
        "True",
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
    ]


def test_check_deploy_passes_with_the_production_defaults():
    # given the production environment of the README, without DEBUG
    # when
    completed = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=PRODUCTION_KEY,
        ALLOWED_HOSTS="example.com",
    )

    # then
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "System check identified no issues" in completed.stdout


def test_start_up_without_a_secret_key_fails_naming_it_and_what_to_do():
    # given production (no DEBUG) and no SECRET_KEY, or an empty one
    for environment in ({}, {"SECRET_KEY": ""}):
        # when
        completed = run_manage("check", ALLOWED_HOSTS="example.com", **environment)

        # then the last line says what is missing and how to set it
        assert completed.returncode == 1
        assert (
            completed.stderr.strip()
            .splitlines()[-1]
            .endswith(
                "SECRET_KEY is not set: production needs a long random SECRET_KEY in the "
                "environment (for development, set DEBUG=true)."
            )
        )


def test_development_generates_its_key_once_under_var_and_keeps_it(tmp_path):
    # given development without a SECRET_KEY, and no key file yet
    key_file = tmp_path / "var" / "secret_key"

    # when two processes start one after the other
    first = run_shell(SHOW_KEY, DEBUG="true", SECRET_KEY_FILE=str(key_file))
    second = run_shell(SHOW_KEY, DEBUG="true", SECRET_KEY_FILE=str(key_file))

    # then the first made a random key readable by its owner only, the second reused it
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50
    assert key != FORMER_BUILT_IN_KEY
    assert second.stdout.strip() == key
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_development_keys_of_two_checkouts_differ(tmp_path):
    # when two development environments start, each with its own var/
    keys = [
        run_shell(SHOW_KEY, DEBUG="true", SECRET_KEY_FILE=str(tmp_path / name)).stdout.strip()
        for name in ("one", "two")
    ]

    # then
    assert len(keys[0]) >= 50
    assert len(keys[1]) >= 50
    assert keys[0] != keys[1]


def test_a_secret_key_in_the_environment_wins_in_development_too(tmp_path):
    # when
    completed = run_shell(
        SHOW_KEY,
        DEBUG="true",
        SECRET_KEY=PRODUCTION_KEY,
        SECRET_KEY_FILE=str(tmp_path / "secret_key"),
    )

    # then the environment's key is used and no file is written
    assert completed.stdout.strip() == PRODUCTION_KEY
    assert not (tmp_path / "secret_key").exists()
