"""EVPower settings: everything configurable comes from the environment, here.

With no variables set the server runs on SQLite and the in-memory channel
layer with DEBUG on, so a newcomer needs nothing installed. See `.env.example`.
"""

import os
import zoneinfo
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "django-insecure-dev-only-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of 50+ characters when DEBUG is off."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    # The back office's theme: before django.contrib.admin, whose templates it overrides.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "simple_history",
    "evpower",
    "stations",
    "billing",
    "ocpp_gateway",
    "audit",
    "simulator",
]

# The audit trail is for reading: restoring an old version would bypass the
# services (and their checks) that every change goes through.
SIMPLE_HISTORY_REVERT_DISABLED = True

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # English or Russian: the user's own choice, else the browser's.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "evpower.locale.UserLanguageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Who changed a tariff, a station or an id tag (the audit trail).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: turns a login refused by the lockout into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Login protection (django-axes): after LOGIN_FAILURE_LIMIT failed logins for
# one username from one address, both `POST /auth/token` and the admin login
# answer 429 for LOGIN_COOLOFF_MINUTES (each further try restarts the wait).
# The address is REMOTE_ADDR only: behind nginx, Daphne's --proxy-headers sets
# it from X-Forwarded-For, which only the proxy can reach (see README).
AUTHENTICATION_BACKENDS = [
    "evpower.login_protection.LoginProtectionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("LOGIN_PROTECTION", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "evpower.login_protection.lockout_response"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Successful logins are not worth a row each (token clients log in often).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

ROOT_URLCONF = "evpower.urls"
ASGI_APPLICATION = "evpower.asgi.application"
AUTH_USER_MODEL = "evpower.User"
APPEND_SLASH = False

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and an immediate write lock let the gateway's writer thread and
    # request threads share the file without "database is locked" errors.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory: the test suite's Daphne processes share it. Named
    # per process so that parallel test runs never clobber each other.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    # A database host that accepts but never answers must not hang /health.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DB_CONNECT_TIMEOUT", default=5
    )
    # A pool, not persistent connections: under ASGI every request runs in a
    # thread of its own, so a per-thread persistent connection was a new
    # connection per request (and `CONN_MAX_AGE` could never reuse it).
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 2,
        "max_size": env.int("DB_POOL_SIZE", default=20),
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# channels-redis 4.3 receives with BZPOPMIN blocking up to 5 s; redis-py 8
# reads with a 5 s socket timeout by default, so every idle receive failed
# with TimeoutError just as Redis was about to answer. Longer than the pop,
# still finite: a Redis that stops answering is noticed within this time (a
# closed or refused socket is noticed at once, and connecting keeps redis-py's
# 5 s timeout).
CHANNEL_LAYER_SOCKET_TIMEOUT = 10
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A dict is passed as keyword arguments to redis.asyncio's
                # ConnectionPool.from_url (a bare URL gets redis-py's defaults).
                "hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}],
                "capacity": 1000,
                "expiry": 60,
                # Station sockets live for months; the 24 h default would
                # silently drop them from their command group.
                "group_expiry": 10 * 365 * 24 * 3600,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # As for Redis: the 24 h default would drop long-lived stations.
            "CONFIG": {"group_expiry": 10 * 365 * 24 * 3600},
        }
    }

# Overridable so that test runs can use a fast hasher; production keeps
# Django's defaults (PBKDF2 first).
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ],
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The API speaks UTC whatever the environment says (SPEC: times ISO 8601
# UTC); the TIME_ZONE variable is the default time zone of stations, in
# which tariff periods are evaluated.
TIME_ZONE = "UTC"
STATION_TIME_ZONE = env.str("TIME_ZONE", default="UTC")
try:
    zoneinfo.ZoneInfo(STATION_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE {STATION_TIME_ZONE!r} is not an IANA time zone.") from exc
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that a request without credentials gets 401 with a
        # WWW-Authenticate header rather than 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["evpower.api.permissions.IsClient"],
    "DEFAULT_PAGINATION_CLASS": "evpower.api.pagination.Pagination",
    # django-filter's, refusing unknown query parameters (evpower/api/filters.py).
    "DEFAULT_FILTER_BACKENDS": ["evpower.api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "evpower.api.errors.api_exception_handler",
    # JSON only, also with DEBUG on: the API never answers an HTML page.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "EVPower CSMS API",
    "DESCRIPTION": "Management API of the EVPower OCPP 1.6J central system.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "PREPROCESSING_HOOKS": ["evpower.api.schema.strip_trailing_slash"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ocpp_gateway.command_schema.document_send_command",
        "evpower.api.schema.document_query_errors",
    ],
    # Several resources have a `status` field with different choices.
    "ENUM_NAME_OVERRIDES": {
        "IdTagStatusEnum": "stations.models.IdTagStatus",
        "SessionStatusEnum": "billing.models.SessionStatus",
    },
}

# The central system's own settings, one namespaced dict (read through
# `ocpp_gateway.conf.gateway_settings`).
# The central system's own settings: only those given in the environment;
# `ocpp_gateway.conf` holds the defaults (and documents each).
_OCPP_ENV = {
    "UNKNOWN_STATIONS": ("OCPP_UNKNOWN_STATIONS", str),
    "HEARTBEAT_INTERVAL": ("OCPP_HEARTBEAT_INTERVAL", int),
    "CALL_TIMEOUT": ("OCPP_CALL_TIMEOUT", float),
    "MESSAGE_LOG_DAYS": ("OCPP_MESSAGE_LOG_DAYS", int),
    "METRICS_TOKEN": ("METRICS_TOKEN", str),
    "PRESENCE_PROCESS_TTL": ("OCPP_PRESENCE_PROCESS_TTL", int),
    "PRESENCE_FLUSH_SECONDS": ("OCPP_PRESENCE_FLUSH_SECONDS", float),
    "TOLERANCE": ("OCPP_TOLERANCE", str),
    "LIVE_SESSION_SECONDS": ("OCPP_LIVE_SESSION_SECONDS", float),
}
OCPP = {key: env.get_value(var, cast=cast) for key, (var, cast) in _OCPP_ENV.items() if var in env}
if OCPP.get("UNKNOWN_STATIONS", "accept") not in ("accept", "pending", "reject"):
    raise ImproperlyConfigured("OCPP_UNKNOWN_STATIONS must be accept, pending or reject.")
if OCPP.get("TOLERANCE", "lenient") not in ("lenient", "strict"):
    raise ImproperlyConfigured("OCPP_TOLERANCE must be lenient or strict.")

# One JSON object per line in production (DEBUG off, or LOG_FORMAT=json),
# plain lines in development (LOG_FORMAT=plain forces them); see evpower/logs.py.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"lines": {"()": "evpower.logs.formatter", "json": LOG_FORMAT == "json"}},
    "filters": {"server_errors_only": {"()": "evpower.logs.DropClientErrors"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "lines", "stream": "ext://sys.stdout"}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "ocpp": {"level": "WARNING"},
        # axes: failures are WARNINGs; its INFO lines come with every login.
        "axes": {"level": "WARNING"},
        # Every request has its access line (evpower.access); Django's own
        # line for a 4xx answer would log it twice.
        "django.request": {"filters": ["server_errors_only"]},
    },
}

# Only a proxy that alone can reach the server may say which scheme the
# client used (Daphne's --proxy-headers does the same for the scheme and the
# client address); anyone else could claim HTTPS. See README "Deploying".
if env.bool("TRUST_PROXY_HEADERS", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# The back office (django-unfold): branded EVPower, every asset served from
# our own static files (no CDN), navigation by role (evpower.back_office).
UNFOLD = {
    "SITE_TITLE": "EVPower",
    "SITE_HEADER": "EVPower",
    "SITE_SUBHEADER": "Back office",
    "SITE_SYMBOL": "ev_station",
    "SITE_URL": "/",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "STYLES": ["evpower.back_office.admin_css"],
    "LANGUAGES": {"action": "evpower.back_office.language_action"},
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": "evpower.back_office.favicon_url"},
    ],
    "COLORS": {
        "primary": {
            "50": "oklch(97.9% .021 166.113)",
            "100": "oklch(95% .052 163.051)",
            "200": "oklch(90.5% .093 164.15)",
            "300": "oklch(84.5% .143 164.978)",
            "400": "oklch(76.5% .177 163.223)",
            "500": "oklch(69.6% .17 162.48)",
            "600": "oklch(59.6% .145 163.225)",
            "700": "oklch(50.8% .118 165.612)",
            "800": "oklch(43.2% .095 166.913)",
            "900": "oklch(37.8% .077 168.94)",
            "950": "oklch(26.2% .051 172.552)",
        },
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "evpower.back_office.sidebar_navigation",
    },
}
