"""OpsCRM settings: one module, every value from the environment.

Production is the default: DEBUG is off unless the environment turns it on; a deployment
sets SECRET_KEY (required), DATABASE_URL, CELERY_BROKER_URL and ALLOWED_HOSTS. Development
says DEBUG=true (`make` does) and needs nothing else: a key generated once under var/ and,
without DATABASE_URL and CELERY_BROKER_URL, the project's own PostgreSQL and a broker in
files under var/, so `make demo` works on a fresh machine.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from crm.core.databases import EmbeddedServer, database_settings, settings_from_url
from crm.core.secret_key import development_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# GENERAL
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug — off unless the environment
# turns it on: a forgotten variable must not serve debug pages (settings, locals) to users.
DEBUG = env.bool("DEBUG", default=False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key — from the environment, and
# never a key written in the code: development without one gets a key generated once under
# var/ (crm/core/secret_key.py); production without one refuses to start.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: production needs a long random SECRET_KEY in the "
            "environment (for development, set DEBUG=true)."
        )
    SECRET_KEY = development_secret_key(
        Path(env.str("SECRET_KEY_FILE", default=str(BASE_DIR / "var" / "secret_key")))
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# https://docs.djangoproject.com/en/5.2/topics/i18n/timezones/ — stored in UTC, shown and
# interpreted (date-only import values, calendar windows) in the operator's zone.
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
# The operator's currency, as pages write money ("¥1,234.50"); amounts in the data carry
# no currency.
CURRENCY_SYMBOL = env.str("CURRENCY_SYMBOL", default="¥")
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
    "analytics",
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
    "crm.views.errors.ReplicaConflictMiddleware",
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
    "default": {
        **database_settings(url=env.str("DATABASE_URL", default=""), embedded=EMBEDDED_DATABASE),
        # https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections — a
        # request reuses its thread's session for 10 minutes: a new PostgreSQL backend per
        # request costs more than a claim, and the claim engine's plans are kept per session
        # (campaigns/sql/claim_coupon.sql). CONN_MAX_AGE=0 closes it after each request.
        "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=600),
        # Checked at the first query of each request, so a session the server dropped in
        # between (restart, failover, idle timeout) is replaced instead of failing it.
        "CONN_HEALTH_CHECKS": True,
    },
}
# A read replica of it, for reports (crm/core/replica.py): their reads go there, everything
# else stays on the primary. Tests read the primary's test database through it (MIRROR).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = {
        **settings_from_url(env.str("DATABASE_REPLICA_URL"), variable="DATABASE_REPLICA_URL"),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["crm.core.replica.ReplicaRouter"]
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
    # Uploaded import files: written by the site, read by a worker (perhaps on another
    # machine), deleted once imported. Local files by default; in production a shared store,
    # e.g. django-storages' S3 (FILE_STORAGE_BACKEND=storages.backends.s3.S3Storage,
    # FILE_STORAGE_OPTIONS={"bucket_name": "opscrm-uploads"}).
    "default": {
        "BACKEND": env.str(
            "FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": env.json("FILE_STORAGE_OPTIONS", default={}),
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "uploads")))
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
    # DRF's three parsers, with JSON refused (400) when nested too deeply to decode safely.
    "DEFAULT_PARSER_CLASSES": [
        "segments.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
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
        "TriggerEnum": "campaigns.enums.Trigger",
        "ClaimTriggerEnum": "campaigns.enums.CLAIM_TRIGGERS",
    },
}

# SEGMENTS
# ------------------------------------------------------------------------------
# https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT
# Each preview, member list, overlap and export query of a segment is cancelled by
# PostgreSQL after this many seconds (the caller gets 422 statement_timeout), so that a
# few huge rule trees cannot hold every worker and connection.
SEGMENT_STATEMENT_TIMEOUT_SECONDS = env.float("SEGMENT_STATEMENT_TIMEOUT_SECONDS", default=30.0)
# A report computed from the orders while a person waits (the customer base of a segment,
# or of days the monthly facts do not answer) stops after this many seconds in all (the
# caller gets 422 statement_timeout): under gunicorn's timeout (60 s, gunicorn.conf.py),
# which kills a silent worker.
REPORT_TIME_LIMIT_SECONDS = env.float("REPORT_TIME_LIMIT_SECONDS", default=20.0)

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
# Scheduled push (campaigns/services/push_delivery.py): customers per batch (one task, one
# transaction), and how long after its last send a pending batch no worker holds is sent
# again by the sweeper. A 1,000-customer batch takes about a second; a stale batch is at
# worst granted by two workers, which its row lock and the grants' unique keys make safe.
PUSH_BATCH_SIZE = env.int("PUSH_BATCH_SIZE", default=1000)
PUSH_BATCH_STALE_SECONDS = env.float("PUSH_BATCH_STALE_SECONDS", default=120.0)
# How messages leave (campaigns/channel_backends): per channel code, "default" for the rest.
# The logging backend writes a line per message; a real gateway is a webhook, e.g.
# {"sms": {"BACKEND": "campaigns.channel_backends.webhook.WebhookBackend",
#          "URL": "https://gateway.example/sms", "TIMEOUT": 5, "RETRIES": 3}}.
# Partners' platforms that issue their coupons' codes (campaigns/channel_backends/partner.py),
# per partner channel code: {"partner_bbq": {"URL": "https://bbq.example/codes",
# "TIMEOUT": 2, "RETRIES": 1}}. A code not issued within the rounds or the deadline cancels
# its grant and gives its stock and budget back.
PARTNER_PLATFORMS = env.json("PARTNER_PLATFORMS", default={})
PARTNER_CODE_MAX_ROUNDS = env.int("PARTNER_CODE_MAX_ROUNDS", default=5)
PARTNER_CODE_DEADLINE_SECONDS = env.float("PARTNER_CODE_DEADLINE_SECONDS", default=600.0)
CHANNEL_BACKENDS = env.json(
    "CHANNEL_BACKENDS",
    default={"default": {"BACKEND": "campaigns.channel_backends.logging.LoggingBackend"}},
)
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
    # Every hour at :07: birthday gifts of the operator's day (hourly, so a beat that was
    # down at midnight still grants them; each birthday is granted once a year).
    "grant-birthday-gifts": {
        "task": "campaigns.tasks.grant_birthday_gifts_task",
        "schedule": crontab(minute=7),
    },
    # Every minute: first-order gifts of the orders imports and the API brought since.
    "grant-first-order-gifts": {
        "task": "campaigns.tasks.grant_first_order_gifts_task",
        "schedule": crontab(),
    },
    # Every minute: referral gifts of the referrals the API and imports recorded since.
    "grant-referral-gifts": {
        "task": "campaigns.tasks.grant_referral_gifts_task",
        "schedule": crontab(),
    },
    # Every 30 seconds: re-send push batches no worker holds long after their last send
    # (a killed worker, a lost queue), send messages whose quiet hours ended, finish pushes.
    "sweep-pushes": {
        "task": "campaigns.tasks.sweep_pushes_task",
        "schedule": 30.0,
    },
    # Every day at 03:30 UTC (after the metrics recompute): the customer base's monthly
    # facts, so its page for a year reads them instead of every order.
    "build-customer-base-facts": {
        "task": "analytics.tasks.start_customer_base_facts_task",
        "schedule": crontab(hour=3, minute=30),
    },
    # Every hour at :20: the campaigns' hourly facts, so a campaign's report reads them up
    # to this hour and the rows themselves after it (at most 80 minutes of them); what
    # reached the database late for an earlier hour (an order imported with an old date, a
    # refund) counts from the next build.
    "build-campaign-facts": {
        "task": "analytics.tasks.build_campaign_facts_task",
        "schedule": crontab(minute=20),
    },
    # Every hour at :05: mark coupons past their validity as expired.
    "expire-coupons": {
        "task": "campaigns.tasks.expire_coupons_task",
        "schedule": crontab(minute=5),
    },
}

# LOGGING: phone numbers and e-mail addresses never go to logs (SPEC §9); nothing here
# logs request bodies, and the one handler redacts what a message or traceback quotes
# (database error details, anything shaped like a phone or an e-mail address; see
# crm/core/log_redaction.py). Django's loggers lose their own handlers (its DEBUG console,
# runserver's request lines) and write through it too. Celery workers: crm/celery.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_personal_data": {"()": "crm.core.log_redaction.RedactPersonalData"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_personal_data"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
