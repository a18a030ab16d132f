"""Test-only overrides; production settings never mention tests."""

import os

import environ

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/opscrm")

from crm.settings import *  # noqa: F403
from crm.settings import DATABASES, env

DATABASES["default"] = environ.Env().db("DATABASE_URL")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests run tasks inline unless a test starts a real worker (marker `worker`).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL

# WhiteNoise warns on every request when STATIC_ROOT does not exist (pages are served from
# the finders in tests); an empty folder is enough.
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405
