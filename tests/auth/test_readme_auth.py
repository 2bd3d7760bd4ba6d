"""The README's auth examples send what they promise: bearer tokens, api-key, api-version."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path
from typing import Dict, List

import pytest

from steer_sync.testing import LoopbackServer
from steer_sync.testing._script import RecordedRequest

_SPEC = importlib.util.spec_from_file_location(
    "readme_examples", Path(__file__).resolve().parents[1] / "test_readme.py"
)
assert _SPEC is not None and _SPEC.loader is not None
readme = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(readme)


def _example(marker: str) -> str:
    (code,) = [code for _, _, code in readme.EXAMPLES if marker in code]
    return str(code)


def _run(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> List[RecordedRequest]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    env: Dict[str, str] = dict(readme.AUTH_ENV)
    with LoopbackServer() as server, readme._token_endpoint() as token_url:
        for name, value in {**server.environ, **env}.items():
            monkeypatch.setenv(name, value)
        for real, stand_in in readme.STAND_INS.items():
            code = code.replace(real, stand_in)
        code = code.replace(readme.TOKEN_URL, token_url).replace(readme.LOCAL_SERVER, server.url)
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "README.rst", "exec"), {"__name__": "readme"})
        assert server.errors == []
        return server.requests


def test_the_vertex_example_sends_the_gcloud_token_to_the_project_endpoint(tmp_path, monkeypatch) -> None:
    (request,) = _run(_example('"vertex.toml"'), tmp_path, monkeypatch)
    assert request.path.startswith(
        "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:"
    )
    assert request.headers["authorization"] == "Bearer ya29.readme-token"
    assert "x-goog-api-key" not in request.headers


def test_the_azure_example_sends_api_version_and_the_api_key_header(tmp_path, monkeypatch) -> None:
    (request,) = _run(_example('"azure.toml"'), tmp_path, monkeypatch)
    assert request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "azure-readme-key"
    assert "authorization" not in request.headers


def test_the_gateway_example_sends_the_oauth2_token(tmp_path, monkeypatch) -> None:
    (request,) = _run(_example('"gateway.toml"'), tmp_path, monkeypatch)
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == "Bearer readme-oauth-token"
    assert "x-api-key" not in request.headers
