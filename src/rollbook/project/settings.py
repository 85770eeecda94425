"""Rollbook's Django settings.

Everything that differs between a laptop and production comes from the environment:

- ``ROLLBOOK_HOME``: the folder for the SQLite database, the secret key and uploads (``./var``).
- ``DATABASE_URL``: use this database instead of SQLite, e.g. ``postgres://user@host:5432/db``.
- ``ROLLBOOK_SECRET_KEY``: the secret key; otherwise one is generated once into ROLLBOOK_HOME.
- ``ROLLBOOK_DEBUG``: ``1`` for Django's debug pages (never in production).
- ``ROLLBOOK_ALLOWED_HOSTS``: comma-separated host names (default: localhost names only).
- ``ROLLBOOK_PRODUCTION``: ``1`` turns on HTTPS-only cookies, HSTS and the SSL redirect.
- ``ROLLBOOK_SIGNIN_FAILURES``: failed sign-ins (same email, same address) before a lockout (5).
- ``ROLLBOOK_SIGNIN_COOLOFF_MINUTES``: how long a lockout lasts, in minutes (15).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from rollbook.errors import UserError


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


ROLLBOOK_HOME = Path(os.environ.get("ROLLBOOK_HOME", "var")).resolve()
ROLLBOOK_HOME.mkdir(parents=True, exist_ok=True)
UPLOAD_ROOT = ROLLBOOK_HOME / "uploads"


def _secret_key() -> str:
    from_env = os.environ.get("ROLLBOOK_SECRET_KEY")
    if from_env:
        return from_env
    key_file = ROLLBOOK_HOME / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_flag("ROLLBOOK_DEBUG")
PRODUCTION = _env_flag("ROLLBOOK_PRODUCTION")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ROLLBOOK_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "rollbook.directory",
    "rollbook.sync",
    "rollbook.readiness",
    "rollbook.merge",
    "rollbook.web",
    "rollbook.api",
    "rollbook.work",
    "django_tasks",
    "django_tasks_db",
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
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a sign-in refused for too many failures into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rollbook.project.urls"
WSGI_APPLICATION = "rollbook.project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# SQLite by default (WAL, immediate transactions so writers queue instead of failing);
# PostgreSQL (psycopg 3) when DATABASE_URL is set.
SQLITE_PATH = ROLLBOOK_HOME / "rollbook.sqlite3"
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; "
                    # Bulk syncs maintain large indexes: a 256 MiB page cache. Sorts that
                    # outgrow memory (a first sync's index builds) go to temporary files:
                    # faster and smaller than in memory (BENCHMARKS.md, Sync).
                    "PRAGMA cache_size=-262144; PRAGMA temp_store=FILE; "
                    # The write-ahead log truncated to 64 MiB when it is reset, not left at
                    # the size of the largest transaction (2 GB after a first sync at L).
                    "PRAGMA journal_size_limit=67108864;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
            # Tests use a real file too (not memory): WAL, and a second connection can read it.
            "TEST": {"NAME": str(ROLLBOOK_HOME / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "directory.Account"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is hashed (decision 0007).
    "axes.backends.AxesStandaloneBackend",
    "rollbook.directory.auth.ActiveAccountBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "web:sign-in"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:sign-in"


def _env_count(name: str, default: int) -> int:
    value = os.environ.get(name, str(default)).strip()
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return int(value)


# Sign-in throttling (django-axes, decision 0007, docs/web.md): after ROLLBOOK_SIGNIN_FAILURES
# failed sign-ins for one email from one client address within the cool-off, that email is
# locked out from that address for ROLLBOOK_SIGNIN_COOLOFF_MINUTES, right password included,
# unless an administrator unlocks it (`rollbook accounts unlock EMAIL`, or the account page).
ROLLBOOK_SIGNIN_FAILURES = _env_count("ROLLBOOK_SIGNIN_FAILURES", 5)
ROLLBOOK_SIGNIN_COOLOFF_MINUTES = _env_count("ROLLBOOK_SIGNIN_COOLOFF_MINUTES", 15)
AXES_FAILURE_LIMIT = ROLLBOOK_SIGNIN_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=ROLLBOOK_SIGNIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The sign-in form's field, and the email as the sign-in backend reads it (trimmed, lower-case):
# "Admin@X.org" and "admin@x.org " count as the same email.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "rollbook.web.throttling.sign_in_email"
# Tries during a lockout are refused without counting: a lockout ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True  # a successful sign-in clears that email's failures from there
AXES_LOCKOUT_CALLABLE = "rollbook.web.throttling.locked_out_page"  # the styled sign-in page
# Only failed tries are kept (by axes, until their cool-off ends): no log of every sign-in.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = ROLLBOOK_HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Session and cookie hygiene. HTTPS-only settings switch on with ROLLBOOK_PRODUCTION=1.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 60 * 60
CSRF_COOKIE_SAMESITE = "Lax"
# Pages send the token themselves (forms, and htmx through hx-headers on <body>): no script
# needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Logs name objects by id, never by a person's name, email or phone.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"rollbook": {"level": "INFO"}},
}

# Account.email is unique among *active* accounts only (a database constraint); our sign-in
# backend looks among active accounts, which is what this warning asks for.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# The web app's bundles (web/bundles.py) and its work outside the request (web/jobs.py).
ROLLBOOK_MAX_UPLOAD_MB = int(os.environ.get("ROLLBOOK_MAX_UPLOAD_MB", "1024"))
ROLLBOOK_IMPORT_ROOT = Path(os.environ.get("ROLLBOOK_IMPORT_ROOT", ROLLBOOK_HOME / "imports"))
ROLLBOOK_JOBS_INLINE = False  # tests that run inside one transaction set it

# The queue (decision 0009): django-tasks with its database backend; `rollbook worker`
# processes run the tasks (`rollbook serve` starts one beside the web server by default).
# Queues: "heavy" (syncs, plans, approvals, self-checks, merge suggestions: up to ~5 GB each
# at a million students) and "default" (the rest).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "heavy"],
    }
}
ROLLBOOK_HEARTBEAT_SECONDS = float(os.environ.get("ROLLBOOK_HEARTBEAT_SECONDS", "5"))
ROLLBOOK_HEARTBEAT_EXPIRY = float(os.environ.get("ROLLBOOK_HEARTBEAT_EXPIRY", "60"))
# Django keeps uploads above this size in a temporary file, not in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024


# Email: the alerts about scheduled syncs (rollbook/work/alerts.py, docs/sync.md "Alerts").
# Without an SMTP server each email is written as a file into ROLLBOOK_HOME/mail/; with
# ROLLBOOK_EMAIL_HOST (or Django's EMAIL_HOST) set, it is sent by SMTP.
def _env(name: str, default: str = "") -> str:
    """ROLLBOOK_<NAME>, else Django's own <NAME>, from the environment."""
    return os.environ.get(f"ROLLBOOK_{name}", os.environ.get(name, default)).strip()


EMAIL_HOST = _env("EMAIL_HOST")
EMAIL_BACKEND = _env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = ROLLBOOK_HOME / "mail"
EMAIL_PORT = _env("EMAIL_PORT", "25")
if not EMAIL_PORT.isdigit():
    raise UserError(f"ROLLBOOK_EMAIL_PORT must be a port number, not {EMAIL_PORT!r}")
EMAIL_PORT = int(EMAIL_PORT)
EMAIL_HOST_USER = _env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = _env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = _env_flag("ROLLBOOK_EMAIL_USE_TLS", _env_flag("EMAIL_USE_TLS"))
EMAIL_USE_SSL = _env_flag("ROLLBOOK_EMAIL_USE_SSL", _env_flag("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "rollbook@localhost")
# Where the web app is reached: the links in emails start with it.
ROLLBOOK_BASE_URL = os.environ.get("ROLLBOOK_BASE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
# Alert when a scheduled source has had no successful run for this many hours (a source's
# schedule may set its own).
ROLLBOOK_ALERT_STALE_HOURS = _env_count("ROLLBOOK_ALERT_STALE_HOURS", 36)
