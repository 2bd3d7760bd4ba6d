"""Open the demo page in headless Chromium and save a screenshot (``make example-screenshot``).

Starts the demo (loopback provider, since no key is passed on) with Django's development
server on a free 127.0.0.1 port, asks the page's question, and writes the PNG given on the
command line (default ``example-screenshot.png``). Needs Debian's ``chromium`` package.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1000,650",
    "--virtual-time-budget=15000",
]


def chromium_binary() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(url: str, extra: List[str]) -> str:
    """Run headless Chromium on ``url`` with ``extra`` flags; returns its stdout."""
    binary = chromium_binary()
    if binary is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return done.stdout


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-screenshot.png").resolve()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    server = subprocess.Popen(
        [sys.executable, str(HERE / "manage.py"), "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=HERE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # the development server prints nothing machine-readable
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        run_chromium(base + "/?q=What+are+server-sent+events%3F", [f"--screenshot={out}"])
        print(f"screenshot written to {out}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
