"""OAuth2ClientCredentialsPlugin against a token endpoint on 127.0.0.1 and the loopback server."""

from __future__ import annotations

import base64
import logging
import pickle
import threading
from typing import List
from urllib.parse import parse_qs

import pytest

from steer_sync import ApiAuthError, ConfigurationError, Message, OAuth2ClientCredentialsPlugin
from steer_sync.testing import ErrorReply, LoopbackServer, Turn

MODEL = "gw/some-model"
SECRET = "client-secret-value-xyz/+=&"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_CLIENT_SECRET", SECRET)


def _bearer(server: LoopbackServer) -> List[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


def _plugin(token_endpoint, **kwargs) -> OAuth2ClientCredentialsPlugin:
    return OAuth2ClientCredentialsPlugin("gw", token_endpoint.url, "my app", "GW_CLIENT_SECRET", **kwargs)


def test_the_token_request_is_a_form_encoded_grant_with_basic_auth(
    server: LoopbackServer, token_endpoint, gateway, tmp_path
) -> None:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"), [_plugin(token_endpoint, scopes=["llm.invoke", "read"])]
    )
    client.complete(MODEL, [Message.user("hi")])
    (request,) = token_endpoint.requests
    assert request.path == "/oauth2/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body) == {"grant_type": ["client_credentials"], "scope": ["llm.invoke read"]}
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 2.3.1: both parts form-urlencoded before the Basic encoding.
    assert base64.b64decode(encoded).decode() == "my+app:client-secret-value-xyz%2F%2B%3D%26"
    assert _bearer(server) == ["Bearer oauth-secret-token-1"]


def test_client_auth_in_the_body_when_asked(server: LoopbackServer, token_endpoint, gateway, tmp_path) -> None:
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"), [_plugin(token_endpoint, client_auth="body")]
    )
    client.complete(MODEL, [Message.user("hi")])
    (request,) = token_endpoint.requests
    assert "authorization" not in request.headers
    assert parse_qs(request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": ["my app"],
        "client_secret": [SECRET],
    }


def test_the_token_is_cached_across_threads_and_refreshed_when_it_expires(
    server: LoopbackServer, token_endpoint, gateway, tmp_path
) -> None:
    plugin = _plugin(token_endpoint)
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    barrier = threading.Barrier(8)
    failures: List[BaseException] = []

    def call() -> None:
        try:
            barrier.wait()
            client.complete(MODEL, [Message.user("hi")])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(token_endpoint.requests) == 1
    token_endpoint.expires_in = 0  # the next token is stale at once
    plugin._tokens.invalidate()
    client.complete(MODEL, [Message.user("two")])
    client.complete(MODEL, [Message.user("three")])
    assert len(token_endpoint.requests) == 3
    assert _bearer(server)[-2:] == ["Bearer oauth-secret-token-2", "Bearer oauth-secret-token-3"]


def test_a_401_fetches_a_new_token_then_falls_back_to_the_api_key(
    server: LoopbackServer, token_endpoint, gateway, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = gateway.client(
        gateway.catalog(tmp_path, f"{server.url}/v1"),
        [_plugin(token_endpoint)],
        env={"GW_TEST_KEY": gateway.FALLBACK_KEY},
    )
    server.queue(ErrorReply(401, "expired"), ErrorReply(401, "expired"), Turn(text="by key"))
    assert client.complete(MODEL, [Message.user("hi")]).extract_text() == "by key"
    assert len(token_endpoint.requests) == 2
    assert _bearer(server) == [
        "Bearer oauth-secret-token-1",
        "Bearer oauth-secret-token-2",
        f"Bearer {gateway.FALLBACK_KEY}",
    ]
    assert "oauth-secret-token" not in caplog.text
    assert SECRET not in caplog.text


def test_a_token_endpoint_error_is_a_clear_auth_error_without_secrets(
    server: LoopbackServer, token_endpoint, gateway, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_endpoint.replies.append(
        (401, {"error": "invalid_client", "error_description": f"bad secret {SECRET} for client"})
    )
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [_plugin(token_endpoint)])
    with pytest.raises(ApiAuthError) as caught:
        client.complete(MODEL, [Message.user("hi")])
    error = caught.value
    assert "invalid_client" in str(error)
    assert token_endpoint.url in str(error)
    assert "GW_CLIENT_SECRET" in str(error)
    for text in (str(error), repr(error), pickle.dumps(error).decode("latin-1"), caplog.text):
        assert SECRET not in text
    assert error.__cause__ is None or SECRET not in repr(error.__cause__)
    assert server.requests == []


def test_a_missing_secret_variable_names_it(
    server: LoopbackServer, token_endpoint, gateway, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GW_CLIENT_SECRET")
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [_plugin(token_endpoint)])
    with pytest.raises(ApiAuthError, match="set the environment variable GW_CLIENT_SECRET"):
        client.complete(MODEL, [Message.user("hi")])
    assert token_endpoint.requests == []


def test_an_unreachable_endpoint_is_an_auth_error(server: LoopbackServer, gateway, tmp_path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    plugin = OAuth2ClientCredentialsPlugin("gw", f"http://127.0.0.1:{port}/token", "app", "GW_CLIENT_SECRET")
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    with pytest.raises(ApiAuthError, match="the request failed") as caught:
        client.complete(MODEL, [Message.user("hi")])
    assert SECRET not in pickle.dumps(caught.value).decode("latin-1")


def test_the_secret_is_not_kept_on_the_plugin(token_endpoint, server: LoopbackServer, gateway, tmp_path) -> None:
    plugin = _plugin(token_endpoint)
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    client.complete(MODEL, [Message.user("hi")])
    assert SECRET not in repr(plugin) and "oauth-secret-token" not in repr(plugin)
    assert all(SECRET not in repr(value) for value in vars(plugin).values())
    data = pickle.dumps(plugin)
    assert SECRET.encode() not in data and b"oauth-secret-token" not in data
    assert repr(pickle.loads(data)) == repr(plugin)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("ftp://x/token", "app", "ENV"), {}, "token_url must be an http"),
        (("https://x/token", "", "ENV"), {}, "client_id must be"),
        (("https://x/token", "app", "s3cr3t=value"), {}, "client_secret_env must name"),
        (("https://x/token", "app", "ENV"), {"scopes": "a b"}, "scopes must be a list"),
        (("https://x/token", "app", "ENV"), {"client_auth": "jwt"}, "client_auth must be"),
    ],
)
def test_bad_settings_are_refused(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        OAuth2ClientCredentialsPlugin("gw", *args, **kwargs)


def test_the_token_never_shows_in_reprs(token_endpoint, server: LoopbackServer, gateway, tmp_path) -> None:
    # README: "Tokens and secrets never appear in logs, reprs, ...", with a token cached.
    plugin = _plugin(token_endpoint)
    client = gateway.client(gateway.catalog(tmp_path, f"{server.url}/v1"), [plugin])
    client.complete(MODEL, [Message.user("hi")])
    storage = client.config_provider.auth_storage
    assert plugin.is_authenticated(storage)  # a token is cached right now
    directive = plugin.resolve_auth(storage)
    for text in (repr(plugin), repr(client), repr(directive), repr(directive.headers)):
        assert "oauth-secret-token" not in text and SECRET not in text, text
