"""The Celery app the test worker runs: Redis broker and JSON result backend from the
environment, tasks that call the loopback server through ``ProviderTask``."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict

from celery import Celery

from steer_sync import InMemoryAuthStorage, Message
from steer_sync.contrib.celery import ProviderTask

REDIS_URL = os.environ.get("STEER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("STEER_TEST_QUEUE", "steer-sync-test")

app = Celery("steer_sync_test", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


class LoopbackTask(ProviderTask):
    """Reads the provider base URLs and dummy keys from the environment, nothing from disk."""

    client_options: ClassVar[Dict[str, Any]] = {"discover_catalogs": False, "storage": InMemoryAuthStorage()}


@app.task(base=LoopbackTask, bind=True, max_retries=3)
def ask(self: LoopbackTask, text: str) -> Dict[str, Any]:
    resp = self.client.complete("anthropic/claude-sonnet-4-5", [Message.user(text)])
    return {"response": resp.to_dict(), "retries": self.request.retries, "pid": os.getpid()}
