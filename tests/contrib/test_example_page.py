"""The Django example's page in headless Chromium shows the streamed answer (loopback provider)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import GUARD, Gunicorn, require, require_module

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_stream"
sys.path.insert(0, str(EXAMPLE))  # for screenshot.py's Chromium flags
try:
    from screenshot import CHROMIUM_FLAGS, chromium_binary  # type: ignore[import-not-found]
finally:
    sys.path.remove(str(EXAMPLE))

DEMO_ANSWER = "Server-sent events let a Django view stream an answer word by word."


@pytest.fixture(scope="module")
def example() -> Iterator[Gunicorn]:
    require_module("gunicorn")
    require_module("django")
    # No key: the example answers from its own loopback provider.
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.endswith("_BASE_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    server = Gunicorn("demo.wsgi:application", "gthread", env, chdir=EXAMPLE)
    try:
        yield server
    finally:
        server.stop()


def _chromium(tmp_path: Path, *extra: str, url: str) -> str:
    binary = chromium_binary()
    require("chromium", binary is not None, "apt-get install -y chromium")
    assert binary is not None
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, url],
        capture_output=True,
        text=True,
        timeout=GUARD * 6,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_page_renders_the_streamed_answer(example: Gunicorn, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{example.port}/?q=What+are+server-sent+events%3F"
    dom = _chromium(tmp_path, "--dump-dom", url=url)
    assert DEMO_ANSWER in dom
    assert "The user wants a demo." in dom  # the thinking events
    assert "done (end_turn, 21 in / 34 out tokens)" in dom  # the done event closed the stream


def test_a_screenshot_of_the_page_is_taken(example: Gunicorn, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", url=f"http://127.0.0.1:{example.port}/?q=Hello")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("STEER_SYNC_SCREENSHOT_DIR")
    if keep:  # CI can keep it as an artifact
        shutil.copy(shot, Path(keep) / "example-page.png")
