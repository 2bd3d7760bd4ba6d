"""A one-file Django project streaming through steer_sync.contrib.django (served by gunicorn)."""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="tests-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
)
django.setup()

from _common import start  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from steer_sync.contrib.django import stream_response  # noqa: E402


def answer(request: HttpRequest) -> StreamingHttpResponse:
    stream, format, heartbeat = start(request.GET)
    return stream_response(stream, format=format, heartbeat=heartbeat)


urlpatterns = [path("answer", answer)]
application = get_wsgi_application()
