"""Settings, all read from the environment through one `env` (django-environ).

Defaults let `make run` and `make test` work on a fresh machine: SQLite in a
local file and a Redis that the launcher starts itself. Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY and DEBUG=false.
"""

import ipaddress
from pathlib import Path

import dj_email_url
import environ
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from project.celery_settings import celery_settings
from project.gateway_settings import gateway_settings
from project.operations_settings import operations_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. "
            "Set SECRET_KEY in the environment, or DEBUG=true for local development."
        )
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "corsheaders",
    "django_celery_beat",
    "gateways",
    "tickets",
    "payments",
    "workers",
    "storefront",
    "devtools",
]

MIDDLEWARE = [
    "project.metrics.http.RequestMetricsMiddleware",
    # Next, so every line a request logs carries its id.
    "project.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "project.outages.OutageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "project.body_limit.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "project.actor.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "project.csp.PagesCSPMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write to one file at once: WAL lets readers run beside
    # the writer, IMMEDIATE takes the write lock at BEGIN (so a transaction never
    # fails half-way with "database is locked"), and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run real worker processes, so the test database must be a file too;
    # each test session names its own (see conftest.py), so two never collide.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("SQLITE_TEST_NAME", default=str(BASE_DIR / "test_db.sqlite3"))
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # No health-check query before each request's first one (a round trip every
    # request): a connection that broke while idle fails that one request with 503
    # (project/api_errors.py), and Django closes it at the request's end, so the
    # next request connects afresh.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    # A dead database host fails a request in seconds instead of hanging it:
    # connecting gives up after DATABASE_CONNECT_TIMEOUT, and TCP keepalives
    # notice a server that vanished under an open connection.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=3),
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ---------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Every Redis client (cache and throttles, broker, results) gives up on a dead
# host within these, so no request or task hangs on it.
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=2.0)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=5.0)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tickets",
        "OPTIONS": {
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

# Celery's own settings (CELERY_*), in project/celery_settings.py.
globals().update(
    celery_settings(
        env,
        redis_url=REDIS_URL,
        connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
    )
)

# --- Product settings --------------------------------------------------------------
PURCHASE_HOLD_SECONDS = env.int("PURCHASE_HOLD_SECONDS", default=900)
# Anti-hoarding. One client address and one e-mail may have at most
# HOLD_CAP_PER_CLIENT / HOLD_CAP_PER_EMAIL seats of a ticket in purchases not yet
# ended, paid or not (tickets/sale/caps.py, in Redis; an entry whose release was
# lost stops counting IN_FLIGHT_CAP_ENTRY_SECONDS after acceptance). A purchase
# without a payment token is an unpaid hold: it lasts UNPAID_HOLD_SECONDS, and
# all unpaid holds together take at most UNPAID_HOLDS_MAX_PERCENT of the seats.
UNPAID_HOLD_SECONDS = env.int("UNPAID_HOLD_SECONDS", default=300)
HOLD_CAP_PER_CLIENT = env.int("HOLD_CAP_PER_CLIENT", default=10)
HOLD_CAP_PER_EMAIL = env.int("HOLD_CAP_PER_EMAIL", default=10)
IN_FLIGHT_CAP_ENTRY_SECONDS = env.int(
    "IN_FLIGHT_CAP_ENTRY_SECONDS", default=2 * max(PURCHASE_HOLD_SECONDS, UNPAID_HOLD_SECONDS)
)
UNPAID_HOLDS_MAX_PERCENT = env.int("UNPAID_HOLDS_MAX_PERCENT", default=50)
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=60)
# Running it: metrics, logs (LOG_LEVEL, LOG_FORMAT), Sentry (project/operations_settings.py).
globals().update(
    operations_settings(
        env, hold_seconds=PURCHASE_HOLD_SECONDS, sweep_seconds=SWEEP_INTERVAL_SECONDS, debug=DEBUG
    )
)
# A charge with no answer for STUCK_PAYMENT_MINUTES is asked about again by the
# stuck-payment sweep, which runs every STUCK_PAYMENT_SWEEP_SECONDS: a buyer whose
# charge was in flight when the broker lost its queue is told within about the
# sum of the two (two minutes by default).
STUCK_PAYMENT_MINUTES = env.int("STUCK_PAYMENT_MINUTES", default=1)
STUCK_PAYMENT_SWEEP_SECONDS = env.int("STUCK_PAYMENT_SWEEP_SECONDS", default=60)
# How long work may wait for its task (not started, charge not taken, not
# delivered, refund unfinished, webhook unprocessed) before a sweep re-enqueues
# it: a message lost by the broker costs this much latency, never the purchase.
REQUEUE_AFTER_SECONDS = env.int("REQUEUE_AFTER_SECONDS", default=60)
# The batched pipeline (tickets/sale/batch.py): a worker decides up to BATCH_SIZE
# pending purchases of one ticket per transaction, waiting BATCH_LINGER_MS first
# for more to arrive; one doorbell per ticket waits at most
# BATCH_DOORBELL_SECONDS before the next purchase may ring again.
BATCH_SIZE = env.int("BATCH_SIZE", default=100)
# 50 ms measured best on 2 cores (bench/README.md, issue 12): larger batches
# share each batch's fixed statements and task overhead; a buyer waits 50 ms more.
BATCH_LINGER_MS = env.int("BATCH_LINGER_MS", default=50)
BATCH_DOORBELL_SECONDS = env.float("BATCH_DOORBELL_SECONDS", default=10.0)
# A purchase waiting in its ticket's line is told to poll again when its turn
# should come, but at least every QUEUE_POLL_MAX_SECONDS, so the waiting room
# shows its place going down (a longer cap means fewer polls in a long line).
QUEUE_POLL_MAX_SECONDS = env.int("QUEUE_POLL_MAX_SECONDS", default=10)
# A poll of a purchase waiting in line answers from Redis (tickets/line.py); an
# answer whose clearing was lost is never older than this.
LINE_ANSWER_MAX_AGE_SECONDS = env.int("LINE_ANSWER_MAX_AGE_SECONDS", default=60)
# A ticket the database refused with no seat left is answered sold out from Redis
# (tickets/sold_out.py); a mark that outlived its truth is never older than this.
SOLD_OUT_ANSWER_MAX_AGE_SECONDS = env.int("SOLD_OUT_ANSWER_MAX_AGE_SECONDS", default=1)
# The waiting list (tickets/waiting_list/offers.py): how long seats offered to an
# entry stay held for it before the offer lapses and they pass on.
WAITING_LIST_OFFER_SECONDS = env.int("WAITING_LIST_OFFER_SECONDS", default=1800)
# A join e-mails the link that confirms the place (tickets/waiting_list/mail_caps.py):
# per WAITING_LIST_MAIL_WINDOW_SECONDS, at most WAITING_LIST_MAILS_PER_ADDRESS such
# e-mails go to one address and WAITING_LIST_MAILS_PER_CLIENT joins come from one
# client. An entry not confirmed WAITING_LIST_CONFIRM_HOURS after its last join is deleted.
WAITING_LIST_MAILS_PER_ADDRESS = env.int("WAITING_LIST_MAILS_PER_ADDRESS", default=3)
WAITING_LIST_MAILS_PER_CLIENT = env.int("WAITING_LIST_MAILS_PER_CLIENT", default=10)
WAITING_LIST_MAIL_WINDOW_SECONDS = env.int("WAITING_LIST_MAIL_WINDOW_SECONDS", default=3600)
WAITING_LIST_CONFIRM_HOURS = env.int("WAITING_LIST_CONFIRM_HOURS", default=24)
# The public address of the storefront, for links in e-mails (waiting-list offers).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Confirmation e-mails (tickets/delivery/mailer.py): a mailer waits
# DELIVERY_LINGER_MS for confirmations to gather, then sends up to DELIVERY_BATCH_SIZE
# over one mail connection and completes them together; the delivery doorbell waits
# at most DELIVERY_DOORBELL_SECONDS before the next confirmation may ring again.
DELIVERY_LINGER_MS = env.int("DELIVERY_LINGER_MS", default=50)
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=100)
DELIVERY_DOORBELL_SECONDS = env.float("DELIVERY_DOORBELL_SECONDS", default=10.0)
MAX_TICKETS_PER_PURCHASE = env.int("MAX_TICKETS_PER_PURCHASE", default=10)
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="simulated")
# The simulated gateway captures whatever it is told to: outside DEBUG it runs
# only when SIMULATED_GATEWAY_ALLOWED says so on purpose (a demo, a benchmark).
SIMULATED_GATEWAY_ALLOWED = env.bool("SIMULATED_GATEWAY_ALLOWED", default=DEBUG)
if PAYMENT_GATEWAY == "simulated" and not SIMULATED_GATEWAY_ALLOWED:
    raise ImproperlyConfigured(
        "PAYMENT_GATEWAY is 'simulated' with DEBUG off: no real payment would be taken. "
        "Configure a real PAYMENT_GATEWAY, or set SIMULATED_GATEWAY_ALLOWED=true for a demo."
    )
# Stripe's settings (STRIPE_*), checked with the gateway's at start-up, and the
# Content-Security-Policy that follows them: project/gateway_settings.py.
globals().update(gateway_settings(env, gateway=PAYMENT_GATEWAY, debug=DEBUG))
# Whether anyone may mark a purchase paid through simulate-payment/ (404 when off).
PAYMENT_SIMULATION_ENABLED = env.bool("PAYMENT_SIMULATION_ENABLED", default=DEBUG)
# Shared with the gateway to sign its callbacks (HMAC-SHA256). No default outside DEBUG:
# without it every webhook is refused.
PAYMENT_WEBHOOK_SECRET = env.str(
    "PAYMENT_WEBHOOK_SECRET", default="insecure-local-webhook-secret" if DEBUG else ""
)
PAYMENT_WEBHOOK_TOLERANCE_SECONDS = env.int("PAYMENT_WEBHOOK_TOLERANCE_SECONDS", default=300)
PAYMENT_MAX_RETRIES = env.int("PAYMENT_MAX_RETRIES", default=4)
PAYMENT_RETRY_BACKOFF_SECONDS = env.float("PAYMENT_RETRY_BACKOFF_SECONDS", default=2.0)
SIMULATED_PENDING_SETTLE_SECONDS = env.int("SIMULATED_PENDING_SETTLE_SECONDS", default=120)
# Time the simulated gateway takes to answer a charge, like a real processor's round trip.
SIMULATED_GATEWAY_LATENCY_MS = env.int("SIMULATED_GATEWAY_LATENCY_MS", default=0)
# Where the simulated gateway keeps its charges. A real processor's records live
# outside our infrastructure; pointing this away from the broker lets a broker
# restart be tested without the "gateway" forgetting what it captured.
SIMULATED_GATEWAY_REDIS_URL = env.str("SIMULATED_GATEWAY_REDIS_URL", default=REDIS_URL)
# Every key the simulated gateway writes expires after this (Redis runs noeviction).
SIMULATED_GATEWAY_RETENTION_DAYS = env.int("SIMULATED_GATEWAY_RETENTION_DAYS", default=30)

# --- Retention and size ------------------------------------------------------------
# Beat purges idempotency keys (they hold buyers' details) older than their TTL, and
# processed webhook events after WEBHOOK_EVENT_RETENTION_DAYS. An expired key is new.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)
# A larger request body is refused with 413 before it is read (project/body_limit.py).
REQUEST_BODY_LIMIT_BYTES = env.int("REQUEST_BODY_LIMIT_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_LIMIT_BYTES

# --- E-mail ------------------------------------------------------------------------
_email = dj_email_url.parse(env.str("EMAIL_URL", default="console://"))
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tickets@example.com")

# --- HTTP API ----------------------------------------------------------------------
THROTTLE_WRITES = env.str("THROTTLE_WRITES", default="60/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's Token, refused once older than AUTH_TOKEN_TTL_HOURS (project/auth.py).
        "project.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "project.api_errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # Per client (user, else IP), counted in Redis so every web process agrees: one
    # round trip per throttled request (project/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["project.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "purchase_create": env.str("THROTTLE_PURCHASE_CREATE", default="30/minute"),
        "code_redeem": env.str("THROTTLE_CODE_REDEEM", default="600/minute"),
        # Failed logins on /api/auth/token/, per client address and per username.
        "auth_address": env.str("THROTTLE_AUTH_ADDRESS", default="10/minute"),
        "auth_username": env.str("THROTTLE_AUTH_USERNAME", default="10/minute"),
        # Every other write, per client (THROTTLE_WRITES sets them all at once).
        **{
            scope: env.str(f"THROTTLE_{scope.upper()}", default=THROTTLE_WRITES)
            for scope in (
                "purchase_complete",
                "purchase_simulate",
                "purchase_cancel",
                "purchase_refund",
                "waiting_list_join",
                "waiting_list_change",
                "booking_create",
                "booking_cancel",
            )
        },
    },
    # How many trusted proxies append to X-Forwarded-For (project/clients.py): 0
    # means none, and the client is REMOTE_ADDR. (DRF reads None as "trust the
    # header as sent", which a client can forge: never None here.)
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# An API token is refused after this many hours; logging in again issues a new one.
AUTH_TOKEN_TTL_HOURS = env.int("AUTH_TOKEN_TTL_HOURS", default=24)
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Tickets API",
    "DESCRIPTION": "Ticket purchases for events at tourism destinations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # A ticket purchase's payment_status and a booking payment's status share
    # one set of states (refund_pending included): one enum, by name.
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "payments.models.Payment.Status",
        "PurchaseDetailStatusEnum": "tickets.models.TicketPurchase.Status",
        "PurchasePaymentStatusEnum": "tickets.models.TicketPurchase.PaymentStatus",
    },
}

NUM_PROXIES = REST_FRAMEWORK["NUM_PROXIES"]
# The reverse proxies whose X-Forwarded-For is believed (addresses or networks,
# e.g. "10.0.0.0/8,192.0.2.1"): from anyone else the header is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    [ipaddress.ip_network(proxy.strip(), strict=False) for proxy in TRUSTED_PROXIES]
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# A front end on another origin sends these (a create's key, a poll's ETag)...
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "if-none-match")
# ...and reads these: the status URL, when to poll again, the ETag to send back,
# the request id to quote to support (project/request_id.py).
CORS_EXPOSE_HEADERS = ["Location", "Retry-After", "ETag", "X-Request-ID"]

# --- Behind a TLS-terminating proxy --------------------------------------------------
# Believe X-Forwarded-Proto only when the proxy in front sets it (and strips the
# client's own): then request.is_secure() and absolute URLs (Location) say https.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)

# --- Auth, i18n, static ------------------------------------------------------------
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
# Serve static files straight from the apps (no collectstatic) in development
# and in the browser tests' server; production serves the collected files.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
