"""Superset's configuration for the finance dashboards (read by `eod bi serve` and the tests).

Superset runs in its own virtual environment on loopback. Everything it keeps (the
metadata database, the secret key) lives in EOD_BI_STATE_DIR, which `eod bi` sets; no
value here is read from the product's own environment.
"""

import os
from pathlib import Path

_state = Path(os.environ["EOD_BI_STATE_DIR"])

# Sessions and the saved database password are signed and encrypted with this key; it is
# generated once per state folder so that restarting Superset keeps both readable.
SECRET_KEY = (_state / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_state / 'superset.db'}?check_same_thread=false"
DATA_DIR = str(_state)

# Plain HTTP on loopback, and a page that loads nothing from outside the server: no map
# tiles, fonts, telemetry pixels or documentation images.
SESSION_COOKIE_SECURE = False
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
MAPBOX_API_KEY = ""
FEATURE_FLAGS = {
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
}
# Each figure is read fresh: the marts change once a day, and a cache would only have
# to be cleared after every close.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
LOG_LEVEL = "WARNING"
