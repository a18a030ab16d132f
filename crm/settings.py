"""OpsCRM settings: one module, every value from the environment.

Development defaults (DEBUG on, the project's own PostgreSQL under var/, a broker in files
under var/) make `make demo` work on a fresh machine; production switches on by setting
DEBUG=false, SECRET_KEY, DATABASE_URL, CELERY_BROKER_URL and ALLOWED_HOSTS.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

from crm.core.databases import EmbeddedServer, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# GENERAL
# ------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=True)
# A missing key must fail loudly outside development.
SECRET_KEY = (
    env.str("SECRET_KEY")
    if not DEBUG
    else env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production")
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# https://docs.djangoproject.com/en/5.2/topics/i18n/timezones/ — stored in UTC, shown and
# interpreted (date-only import values, calendar windows) in the operator's zone.
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

# APPS
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    # Swagger UI served from our own static files, so /api/docs/ works offline.
    "drf_spectacular_sidecar",
    "crm.core",
    "crm",
    "segments",
    "campaigns",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASES
# ------------------------------------------------------------------------------
# PostgreSQL only (15 and newer). No DATABASE_URL: the project's own embedded server with
# its data under var/postgres (demo, management commands), started on demand; its socket
# directory goes in HOST. See crm/core/databases.py.
EMBEDDED_DATABASE = EmbeddedServer(
    data_dir=Path(env.str("EMBEDDED_DATABASE_DIR", default=str(BASE_DIR / "var" / "postgres")))
)
DATABASES = {
    "default": database_settings(
        url=env.str("DATABASE_URL", default=""), embedded=EMBEDDED_DATABASE
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# AUTH
# ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# STATIC
# ------------------------------------------------------------------------------
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = BASE_DIR / "var" / "uploads"
# Uploaded CSV files up to 200 MB are streamed to disk, never held in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# SECURITY (on whenever DEBUG is off)
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# REST FRAMEWORK
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.core.authentication.RoleTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "crm.core.api.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OpsCRM API",
    "DESCRIPTION": "Customer data, segments, campaigns, claims and redemptions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # https://drf-spectacular.readthedocs.io/en/latest/settings.html — no CDN (SPEC §8).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Stable component names for choice fields whose names other apps reuse ("kind",
    # "status"): without them the schema's enum names depend on which views exist.
    "ENUM_NAME_OVERRIDES": {
        "CouponKindEnum": "campaigns.enums.CouponKind",
        "CouponStatusEnum": "campaigns.enums.CouponStatus",
        "CampaignStatusEnum": "campaigns.enums.CampaignStatus",
        "SegmentKindEnum": "segments.enums.SegmentKind",
    },
}

# CELERY
# ------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Production: Redis or RabbitMQ. Without CELERY_BROKER_URL (the demo, local commands) a
# broker that needs no server: kombu's filesystem transport, messages as files under
# var/broker, shared by the site, the worker and beat. It never redelivers a message; crash
# safety comes from the database (job rows, unique keys), whatever the broker.
DEMO_BROKER_DIR = BASE_DIR / "var" / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem:"):
    for folder in ("queue", "control"):
        (DEMO_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(DEMO_BROKER_DIR / "queue"),
        "data_folder_out": str(DEMO_BROKER_DIR / "queue"),
        "control_folder": str(DEMO_BROKER_DIR / "control"),
        # Polled: a task waits at most this long before a worker sees it.
        "polling_interval": 0.2,
    }
else:
    # Longer than the longest batch (a 1M-row import batch commits in ~3 s); the 1-hour
    # default would leave a killed worker's task waiting an hour.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Results are never read: progress lives in database rows (crm.core.jobs).
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
ADVANCE_CAMPAIGNS_SECONDS = 15.0
CELERY_BEAT_SCHEDULE = {
    # Every day at 02:00 UTC: recompute purchase metrics, lifecycle stages and RFM for
    # everyone (stages move with time even when no order arrives).
    "recompute-customer-metrics": {
        "task": "crm.tasks.recompute_customer_metrics_task",
        "schedule": crontab(hour=2, minute=0),
    },
    # Every 15 seconds: start scheduled campaigns whose claim window opened, finish those
    # whose window closed (two indexed UPDATEs; a campaign opens at most ~15 s late).
    "advance-campaigns": {
        "task": "campaigns.tasks.advance_campaigns_task",
        "schedule": ADVANCE_CAMPAIGNS_SECONDS,
    },
    # Every day at 03:00 UTC (after the metrics recompute): refresh every dynamic segment,
    # which adds a point to each segment's size history.
    "refresh-dynamic-segments": {
        "task": "segments.tasks.refresh_dynamic_segments_task",
        "schedule": crontab(hour=3, minute=0),
    },
    # Every minute: reverse the redemptions of orders refunded or cancelled since, restoring
    # their coupons (SPEC §4).
    "reverse-refunded-redemptions": {
        "task": "campaigns.tasks.reverse_refunded_redemptions_task",
        "schedule": crontab(),
    },
    # Every hour at :05: mark coupons past their validity as expired.
    "expire-coupons": {
        "task": "campaigns.tasks.expire_coupons_task",
        "schedule": crontab(minute=5),
    },
}

# LOGGING: phone numbers and e-mail addresses never go to logs (SPEC §9); nothing here
# logs request bodies.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
