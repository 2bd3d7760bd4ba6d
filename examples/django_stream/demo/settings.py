"""Settings of the streaming demo: no database, no templates, one app-less URLconf."""

import os

DEBUG = os.environ.get("DEMO_DEBUG", "") == "1"
SECRET_KEY = "demo-only-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
INSTALLED_APPS: list = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict = {}
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"steer_sync": {"handlers": ["console"], "level": "INFO"}},
}
