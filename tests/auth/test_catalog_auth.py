"""Catalog ``auth`` and ``query`` on a provider, through ``Client.from_env(catalogs=[...])``."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from steer_sync import Client, CommandTokenPlugin, ConfigurationError, Message, ProviderConfig, TextDelta
from steer_sync._auth import InMemoryAuthStorage
from steer_sync.testing import ErrorReply, LoopbackServer, Turn


def _from_env(catalog: Path, **kwargs) -> Client:
    return Client.from_env(catalogs=[str(catalog)], storage=InMemoryAuthStorage(), discover_catalogs=False, **kwargs)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("api_format", ["openai-chat", "openai-responses", "anthropic", "google", "xai"])
def test_a_catalog_command_and_query_reach_every_format(
    api_format: str, server: LoopbackServer, token_command, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GW_TEST_KEY", raising=False)
    base = {"google": f"{server.url}/v1beta", "anthropic": server.url}.get(api_format, f"{server.url}/v1")
    argv = ", ".join(f'"{arg}"' for arg in token_command.argv("json:3600"))
    catalog = _write(
        tmp_path,
        f"""
[[providers]]
id = "gw"
name = "Gateway"
api_format = "{api_format}"
auth_schemes = ["api-key"]
api_key_env = "GW_TEST_KEY"
base_url = "{base}"
auth = {{ command = [{argv}], ttl = 600 }}
query = {{ "api-version" = "2024-10-21", tenant = "a b" }}
headers = {{ "x-team" = "search" }}
""",
    )
    client = _from_env(catalog)
    model = "gw/grok-4" if api_format == "xai" else "gw/some-model"
    assert client.complete(model, [Message.user("hi")]).extract_text()
    with client.stream_complete(model, [Message.user("again")]) as stream:
        assert any(isinstance(chunk, TextDelta) for chunk in stream)
    assert token_command.runs == 1
    for request in server.requests:
        assert request.query["api-version"] == "2024-10-21"
        assert request.query["tenant"] == "a b"
        assert request.headers["authorization"] == "Bearer cmd-secret-token-1"
        assert request.headers["x-team"] == "search"
        assert "x-api-key" not in request.headers and "x-goog-api-key" not in request.headers


def test_query_without_auth_goes_with_the_api_key(server: LoopbackServer, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GW_TEST_KEY", "sk-gateway-key-0123456789")
    catalog = _write(
        tmp_path,
        f"""
[[providers]]
id = "gw"
name = "Gateway"
api_format = "openai-chat"
auth_schemes = ["api-key"]
api_key_env = "GW_TEST_KEY"
base_url = "{server.url}/v1"
query = {{ "api-version" = "2024-10-21" }}
""",
    )
    _from_env(catalog).complete("gw/m", [Message.user("hi")])
    (request,) = server.requests
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["authorization"] == "Bearer sk-gateway-key-0123456789"


def test_a_catalog_oauth2_gateway_with_fallback(
    server: LoopbackServer, token_endpoint, tmp_path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GW_CLIENT_SECRET", "the-client-secret-42")
    monkeypatch.setenv("GW_TEST_KEY", "sk-gateway-key-0123456789")
    catalog = _write(
        tmp_path,
        f"""
[[providers]]
id = "gw"
name = "Gateway"
api_format = "openai-chat"
auth_schemes = ["api-key"]
api_key_env = "GW_TEST_KEY"
base_url = "{server.url}/v1"

[providers.auth.oauth2]
token_url = "{token_endpoint.url}"
client_id = "app"
client_secret_env = "GW_CLIENT_SECRET"
scopes = ["llm"]
""",
    )
    client = _from_env(catalog)
    client.complete("gw/m", [Message.user("hi")])
    (grant,) = token_endpoint.requests
    assert base64.b64decode(grant.headers["authorization"][6:]) == b"app:the-client-secret-42"
    assert "scope=llm" in grant.body
    assert server.requests[-1].headers["authorization"] == "Bearer oauth-secret-token-1"
    # The plugin (and its cached token) outlives the provider: dropping it fetches no new token.
    client.invalidate_provider("gw")
    client.complete("gw/m", [Message.user("hi")])
    assert len(token_endpoint.requests) == 1
    server.queue(ErrorReply(401, "no"), ErrorReply(401, "no"), Turn(text="by key"))
    assert client.complete("gw/m", [Message.user("hi")]).extract_text() == "by key"
    assert server.requests[-1].headers["authorization"] == "Bearer sk-gateway-key-0123456789"
    assert "the-client-secret-42" not in caplog.text and "oauth-secret-token" not in caplog.text


def test_a_plugin_passed_to_from_env_wins_over_the_catalog_auth(
    server: LoopbackServer, token_command, tmp_path, monkeypatch
) -> None:
    catalog = _write(
        tmp_path,
        f"""
[[providers]]
id = "gw"
name = "Gateway"
api_format = "openai-chat"
auth_schemes = []
base_url = "{server.url}/v1"
auth = {{ command = ["no-such-token-tool-xyz"] }}
""",
    )
    client = _from_env(catalog, auth_plugins=[CommandTokenPlugin("gw", token_command.argv("bare"))])
    client.complete("gw/m", [Message.user("hi")])
    assert server.requests[0].headers["authorization"] == "Bearer cmd-secret-token-1"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('auth = { command = "gcloud auth print-access-token" }', "'auth.command' must be an array of strings"),
        ("auth = { command = [] }", "'auth.command' must name a program"),
        ('auth = { command = ["gcloud"], ttl = -5 }', "'auth.ttl' must be a positive number"),
        ('auth = { command = ["gcloud"], ttl = "1h" }', "'auth.ttl' must be a number"),
        ('auth = { command = ["gcloud"], oauth2 = {} }', "exactly one of 'command'"),
        ('auth = { cmd = ["gcloud"] }', "exactly one of 'command'"),
        ('auth = { command = ["gcloud"], retries = 3 }', "unknown keys ['retries']"),
        ('auth = "gcloud"', "field 'auth' must be a table"),
        ('auth = { oauth2 = { client_id = "a", client_secret_env = "S" } }', "'auth.oauth2.token_url'"),
        (
            'auth = { oauth2 = { token_url = "file:///t", client_id = "a", client_secret_env = "S" } }',
            "must be an http(s) URL",
        ),
        (
            'auth = { oauth2 = { token_url = "https://t", client_id = "a", client_secret_env = "x=1" } }',
            "must name the environment variable",
        ),
        (
            'auth = { oauth2 = { token_url = "https://t", client_id = "a", client_secret_env = "S", scopes = "a" } }',
            "'auth.oauth2.scopes' must be an array",
        ),
        ('query = { "api-version" = 2024 }', "'query.api-version' must be a string"),
        ('query = "api-version=1"', "field 'query' must be a table"),
    ],
)
def test_bad_auth_and_query_fields_name_the_provider_and_field(field: str, message: str, tmp_path: Path) -> None:
    catalog = _write(
        tmp_path,
        f"""
[[providers]]
id = "my-gw"
name = "Gateway"
api_format = "openai-chat"
auth_schemes = []
base_url = "http://127.0.0.1:9/v1"
{field}
""",
    )
    with pytest.raises(ConfigurationError) as caught:
        _from_env(catalog)
    assert "provider my-gw" in str(caught.value)
    assert message in str(caught.value)


def test_auth_and_query_round_trip_through_to_dict() -> None:
    table = {
        "id": "gw",
        "name": "Gateway",
        "api_format": "openai-chat",
        "auth_schemes": ["api-key"],
        "auth": {
            "oauth2": {"token_url": "https://t/token", "client_id": "a", "client_secret_env": "S", "scopes": ["x"]}
        },
        "query": {"api-version": "1"},
    }
    config = ProviderConfig.from_dict(table)
    assert config.to_dict() == table
    command = ProviderConfig.from_dict({**table, "auth": {"command": ["tok", "--json"], "ttl": 60.0}})
    assert command.to_dict()["auth"] == {"command": ["tok", "--json"], "ttl": 60.0}


def test_auth_plugins_must_be_plugins(tmp_path: Path) -> None:
    catalog = _write(tmp_path, "")
    with pytest.raises(TypeError, match="auth plugins must be AuthPlugin objects"):
        _from_env(catalog, auth_plugins=["gcloud auth print-access-token"])
