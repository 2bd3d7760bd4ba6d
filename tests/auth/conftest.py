"""Fixtures for the shipped auth plugins: a loopback LLM server, a token command, a token endpoint."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from steer_sync import AuthPlugin, Client, RetryPolicy
from steer_sync._auth import AuthPluginRegistry, InMemoryAuthStorage, LlmConfigProvider
from steer_sync._catalog import ModelRegistry, ProviderRegistry
from steer_sync.testing import LoopbackServer

#: A token command: appends a line to the count file, then prints the n-th token as asked.
_TOKEN_SCRIPT = r"""
import json, sys, time
count_file, mode = sys.argv[1], sys.argv[2]
with open(count_file, "a") as f:
    f.write("run\n")
with open(count_file) as f:
    n = len(f.read().splitlines())
token = "cmd-secret-token-%d" % n
if mode == "bare":
    print(token)
elif mode.startswith("json:"):
    print(json.dumps({"access_token": token, "expires_in": int(mode[5:]), "token_type": "Bearer"}))
elif mode == "fail":
    print(token)
    sys.stderr.write("some warning\nERROR: (gcloud.auth) You do not currently have an active account\n")
    sys.exit(3)
elif mode == "leak":
    print(token)
    sys.stderr.write("refusing to use %s\n" % token)
    sys.exit(1)
elif mode == "leak-json":
    print(json.dumps({"access_token": token, "expires_in": 60}))
    sys.stderr.write("refusing to use %s\n" % token)
    sys.exit(1)
elif mode == "leak-hang":
    print(token, flush=True)
    sys.stderr.write("refusing to use %s\n" % token)
    sys.stderr.flush()
    time.sleep(60)
elif mode == "hang":
    sys.stderr.write("waiting for the browser login\n")
    sys.stderr.flush()
    time.sleep(60)
elif mode == "silent":
    pass
"""


@dataclass
class TokenCommand:
    """Builds argv lists for the token script and counts how often it ran."""

    script: Path
    count_file: Path

    def argv(self, mode: str = "bare") -> List[str]:
        return [sys.executable, str(self.script), str(self.count_file), mode]

    @property
    def runs(self) -> int:
        return len(self.count_file.read_text().splitlines()) if self.count_file.exists() else 0


@pytest.fixture
def token_command(tmp_path: Path) -> TokenCommand:
    script = tmp_path / "token_script.py"
    script.write_text(_TOKEN_SCRIPT)
    return TokenCommand(script, tmp_path / "runs.txt")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A started loopback server; the test fails if a script item could not render."""
    with LoopbackServer() as started:
        yield started
        errors = started.errors
    assert not errors, errors


@dataclass
class TokenRequest:
    """One request the token endpoint received."""

    path: str
    headers: Dict[str, str]
    body: str


@dataclass
class TokenEndpoint:
    """A tiny OAuth2 token endpoint on 127.0.0.1; answers from ``replies`` or issues tokens."""

    url: str
    requests: List[TokenRequest] = field(default_factory=list)
    #: Queued (status, JSON body) answers; when empty, a fresh token with ``expires_in``.
    replies: List[Tuple[int, Dict[str, Any]]] = field(default_factory=list)
    expires_in: Optional[int] = 3600
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: TokenRequest) -> Tuple[int, Dict[str, Any]]:
        with self.lock:
            self.requests.append(request)
            if self.replies:
                return self.replies.pop(0)
            body: Dict[str, Any] = {"access_token": f"oauth-secret-token-{len(self.requests)}", "token_type": "Bearer"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            return 200, body


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    holder: Dict[str, TokenEndpoint] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            request = TokenRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status, payload = holder["endpoint"].answer(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["endpoint"] = TokenEndpoint(f"http://127.0.0.1:{httpd.server_address[1]}/oauth2/token")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder["endpoint"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


#: The API key the gateway falls back to (read from GW_TEST_KEY when the test sets it).
FALLBACK_KEY = "sk-fallback-key-0123456789"


def gateway_catalog(directory: Path, base_url: str, extra: str = "", api_format: str = "openai-chat") -> Path:
    path = directory / "gw.toml"
    path.write_text(
        f"""
[[providers]]
id = "gw"
name = "Gateway"
api_format = "{api_format}"
auth_schemes = ["api-key"]
api_key_env = "GW_TEST_KEY"
base_url = "{base_url}"
{extra}
"""
    )
    return path


def make_client(catalog: Path, plugins: Sequence[AuthPlugin] = (), env: Optional[Dict[str, str]] = None) -> Client:
    providers = ProviderRegistry.load([str(catalog)], discover=False)
    models = ModelRegistry.load([str(catalog)], discover=False)
    environ = dict(env or {})
    config = LlmConfigProvider(
        InMemoryAuthStorage(), AuthPluginRegistry(plugins), env=environ.get, provider_registry=providers
    )
    return Client(config, providers, models, retry_policy=RetryPolicy(base_delay=0.001))


class Gateway:
    """What the gateway fixture offers: its catalog helpers as attributes."""

    FALLBACK_KEY = FALLBACK_KEY
    catalog = staticmethod(gateway_catalog)
    client = staticmethod(make_client)


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()
