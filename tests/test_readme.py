"""Every Python example in README.rst runs, as written, against the loopback server."""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from steer_sync.testing import ErrorReply, LoopbackServer, ToolCallSpec, Turn

README = Path(__file__).resolve().parents[1] / "README.rst"
#: README examples talk to a "local server" at this address; the test substitutes its own.
LOCAL_SERVER = "http://localhost:8080"
#: README auth examples name outside programs and services; these stand in for them in tests.
TOKEN_URL = "https://login.example.com/oauth2/token"
STAND_INS = {
    '["gcloud", "auth", "print-access-token"]': '[__import__("sys").executable, "-c", "print(\'ya29.readme-token\')"]',
    'f"https://{location}-aiplatform.googleapis.com"': repr(LOCAL_SERVER),
    "https://my-resource.openai.azure.com": LOCAL_SERVER,
    "https://llm-gateway.example.com": LOCAL_SERVER,
}
#: Environment the auth examples read (dummy secrets).
AUTH_ENV = {"AZURE_OPENAI_API_KEY": "azure-readme-key", "GATEWAY_CLIENT_SECRET": "gateway-readme-secret"}


@contextlib.contextmanager
def _token_endpoint() -> Iterator[str]:
    """A stand-in OAuth2 token endpoint on 127.0.0.1 that issues one fixed bearer token."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            data = json.dumps({"access_token": "readme-oauth-token", "token_type": "Bearer", "expires_in": 3600})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/oauth2/token"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


#: What the server answers for examples marked ``.. loopback: NAME``, and what they must print.
SCRIPTS: Dict[str, Tuple[Sequence[object], str]] = {
    "stall": ([Turn(text="Once upon a time there was a very long essay", stall_after=3)], "cancelled"),
    "rate-limited": ([ErrorReply(429, "Too many requests", retry_after=7)], "wait 7.0 s"),
    "tool-call": (
        [
            Turn(
                text="Let me check.",
                tool_calls=[ToolCallSpec("call_1", "get_weather", {"city": "Paris"}, chunks=2)],
                stop_reason="tool_use",
            ),
            Turn(text="It is 22C and sunny in Paris."),
        ],
        "It is 22C and sunny in Paris.",
    ),
    "thinking": (
        [Turn(thinking="1001 = 7 x 11 x 13", thinking_signature="c2ln", text="No: 1001 = 7 x 11 x 13.")],
        "thought: 1001 = 7 x 11 x 13",
    ),
    "json-schema": ([Turn(json={"city": "Paris", "country": "France"})], "Paris"),
    "forced-tool": (
        [Turn(tool_calls=[ToolCallSpec("call_1", "get_weather", {"city": "Paris"})], stop_reason="tool_use")],
        "get_weather {'city': 'Paris'}",
    ),
    "overloaded": (
        [ErrorReply(529, "Overloaded"), Turn(text="Hello!")],
        "attempt 1 failed (ServerError), retrying in",
    ),
    "structured": (
        [
            Turn(
                json={
                    "title": "Pancakes",
                    "ingredients": [{"name": "flour", "grams": 125}, {"name": "milk", "grams": 250}],
                    "vegetarian": True,
                    "note": None,
                }
            )
        ],
        "Pancakes [('flour', 125.0), ('milk', 250.0)]",
    ),
}


def _examples() -> List[Tuple[int, Optional[str], str]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    examples = []
    script: Optional[str] = None
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = re.match(r"\.\. loopback: (\S+)$", line)
        if marker:
            script = marker.group(1)
        elif line.strip() == ".. code-block:: python":
            start = index + 1
            body = []
            index += 2
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith("    ")):
                body.append(lines[index][4:])
                index += 1
            examples.append((start, script, "\n".join(body).strip() + "\n"))
            script = None
            continue
        index += 1
    return examples


EXAMPLES = _examples()


def test_the_readme_has_examples_for_every_scripted_case() -> None:
    assert len(EXAMPLES) >= 10
    assert {script for _, script, _ in EXAMPLES if script} == set(SCRIPTS)


@pytest.mark.parametrize(("line", "script", "code"), EXAMPLES, ids=[f"line{line}" for line, _, _ in EXAMPLES])
def test_readme_example_runs(
    line: int, script: Optional[str], code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    endpoint = _token_endpoint() if TOKEN_URL in code else contextlib.nullcontext(TOKEN_URL)
    with LoopbackServer() as server, endpoint as token_url:
        for name, value in {**server.environ, **AUTH_ENV}.items():
            monkeypatch.setenv(name, value)
        items, expected = SCRIPTS[script] if script else ((), "")
        server.queue(*items)
        for real, stand_in in STAND_INS.items():
            code = code.replace(real, stand_in)
        code = code.replace(TOKEN_URL, token_url).replace(LOCAL_SERVER, server.url)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            # dont_inherit: run the example as written, not under this file's __future__ imports
            # (string annotations would send a README dataclass looking for a "readme" module).
            exec(compile(code, f"README.rst:{line}", "exec", dont_inherit=True), {"__name__": "readme"})
        assert server.errors == []
    printed = output.getvalue()
    assert printed.strip(), "every README example prints its result"
    assert expected in printed
    assert "Traceback" not in printed
