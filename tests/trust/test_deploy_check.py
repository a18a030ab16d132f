"""Production settings pass Django's deployment checklist (SPEC §8)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_passes_with_production_settings():
    # given production environment variables and nothing else
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DEBUG": "false",
        "SECRET_KEY": "k3y-" + "x9Qz!w7Lp#4v" * 6,
        "ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": "postgres://opscrm@db.example.com:5432/opscrm",
    }

    # when
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "System check identified no issues" in completed.stdout


def test_check_deploy_fails_without_a_secret_key():
    # given production mode but no SECRET_KEY
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": "postgres://opscrm@db.example.com:5432/opscrm",
    }

    # when
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert completed.returncode == 1
    assert "SECRET_KEY" in completed.stderr
