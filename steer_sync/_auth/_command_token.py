"""An auth plugin whose bearer token comes from a command, such as ``gcloud auth print-access-token`` (layer L2)."""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Optional, Sequence, Tuple, Union

from steer_sync._auth._directive import HeaderAuth
from steer_sync._auth._plugin import AuthMethod, AuthPlugin
from steer_sync._auth._storage import AuthStorage
from steer_sync._auth._token_cache import FetchedToken, TokenCache, parse_expires_in
from steer_sync._catalog._configs import masked_command
from steer_sync._errors import ApiAuthError, ConfigurationError
from steer_sync._types import ProviderId

__all__ = ["CommandTokenPlugin"]

_log = logging.getLogger("steer_sync.auth")

#: How long the command may run before it counts as hung, in seconds.
DEFAULT_COMMAND_TIMEOUT = 30.0
#: The longest stderr line quoted in an error message.
_STDERR_LINE_CHARS = 300
#: A word the command printed on stdout that could be a token: 8+ characters between blanks
#: and JSON punctuation (so ``{"access_token": "abc..."}`` yields the token itself).
_PRINTED_WORD = r"[^\s\"',:{}\[\]]{8,}"


def _positive(value: Optional[float], name: str, what: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(None, f"{what}: {name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line[:_STDERR_LINE_CHARS] + "..." if len(line) > _STDERR_LINE_CHARS else line


def _is_token_text(value: str) -> bool:
    # A header value: visible ASCII without spaces (a newline would split the header).
    return bool(value) and all(0x21 <= ord(ch) <= 0x7E for ch in value)


class CommandTokenPlugin(AuthPlugin):
    """Authenticates a provider with a bearer token printed by a command.

    The command runs without a shell (``command`` is the argument list) when the first
    request needs a token, and again when the token is due: it prints either a JSON object
    with ``access_token`` and optionally ``expires_in`` (seconds), or the bare token on one
    line (then it is kept for ``ttl``, or 300 seconds). The token is refreshed a little before
    it expires, by one thread while the others wait. When the provider refuses it (401/403)
    the token is fetched again and the request re-sent once; if that is refused too, the
    client falls back to the provider's API key where one is configured.

    A command that fails, hangs past ``timeout`` or prints nothing raises ``ApiAuthError``
    naming the command and the last line of its stderr (when the provider has an API key
    configured, the client uses it instead and logs a warning); the token itself never
    appears in messages, logs, ``repr()`` or pickles. Arguments that look like secrets
    (``--token=...``, ``--password <value>``, any ``name=value`` whose name holds secret,
    token, password or key) are shown masked in messages and ``repr()``; a pickle keeps the
    real command, since it must run it again.

    Thread-safe; share one instance.

    Usage::

        plugin = CommandTokenPlugin("vertex", ["gcloud", "auth", "print-access-token"])
        client = Client.from_env(catalogs=["vertex.toml"], auth_plugins=[plugin])

    :param provider: the provider id this plugin authenticates.
    :param command: the program and its arguments, e.g. ``["gcloud", "auth", "print-access-token"]``.
    :param ttl: the longest time a token is used, in seconds (``None``: its own
        ``expires_in``, else 300 seconds).
    :param timeout: seconds the command may run before it is killed and the call fails.
    :raises ConfigurationError: if ``command`` is not a non-empty list of strings, or
        ``ttl``/``timeout`` is not a positive number.
    """

    def __init__(
        self,
        provider: Union[ProviderId, str],
        command: Sequence[str],
        *,
        ttl: Optional[float] = None,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ) -> None:
        what = f"CommandTokenPlugin for provider {str(provider)!r}"
        if isinstance(command, (str, bytes)) or not isinstance(command, Sequence):
            raise ConfigurationError(
                str(provider),
                f"{what}: command must be a list of arguments such as ['gcloud', 'auth', "
                f"'print-access-token'], not {type(command).__name__} (it runs without a shell)",
            )
        if not command or not all(isinstance(arg, str) for arg in command) or not command[0].strip():
            raise ConfigurationError(
                str(provider),
                f"{what}: command must be a non-empty list of strings, got {list(masked_command(command))!r}",
            )
        self._provider = ProviderId(str(provider))
        self._command: Tuple[str, ...] = tuple(command)
        self._ttl = _positive(ttl, "ttl", what)
        timeout_value = _positive(timeout, "timeout", what)
        assert timeout_value is not None
        self._timeout = timeout_value
        self._tokens = TokenCache(self._run, ttl=self._ttl)

    @property
    def provider_id(self) -> ProviderId:
        """The provider this plugin authenticates."""
        return self._provider

    @property
    def command(self) -> Tuple[str, ...]:
        """The command and its arguments."""
        return self._command

    def supported_methods(self) -> Sequence[AuthMethod]:
        """None: the token comes from the command, there is no interactive login."""
        return ()

    def resolve_auth(self, storage: AuthStorage) -> HeaderAuth:
        """Return the directive; the command runs when the first request needs a token."""
        return HeaderAuth(headers=self._tokens)

    def is_authenticated(self, storage: AuthStorage) -> bool:
        """Whether a token is cached and not yet due for a refresh."""
        return self._tokens.is_fresh()

    def __repr__(self) -> str:
        return (
            f"CommandTokenPlugin(provider={str(self._provider)!r}, command={list(masked_command(self._command))!r}, "
            f"ttl={self._ttl!r})"
        )

    def __reduce__(self) -> Tuple[Any, ...]:
        # Rebuilt from its settings: a pickle never carries the cached token.
        return (_rebuild, (str(self._provider), self._command, self._ttl, self._timeout))

    # --- running the command -------------------------------------------------------------

    def _describe(self) -> str:
        import shlex  # error path only; kept off the import path (STYLE 2.8)

        return " ".join(shlex.quote(str(arg)) for arg in masked_command(self._command))

    def _fail(self, what: str, stderr: str = "", stdout: str = "") -> ApiAuthError:
        import re  # error path only; compiled through re's cache (STYLE 2.8)

        line = _last_line(stderr)
        # A failing command may still have printed a token (bare or inside JSON); never quote
        # it back. Longest first, so a token is not half-replaced by a shorter word inside it.
        for printed in sorted(set(re.findall(_PRINTED_WORD, stdout)), key=len, reverse=True):
            if printed in line:
                line = line.replace(printed, "[redacted]")
        detail = f": {line}" if line else ""
        return ApiAuthError(str(self._provider), f"token command `{self._describe()}` {what}{detail}")

    def _run(self) -> FetchedToken:
        # Here, not at the top: subprocess (and signal, fcntl) cost a cold start ~2 ms and only
        # a configured token command needs them.
        import subprocess

        try:
            done = subprocess.run(
                list(self._command),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError:
            raise self._fail(
                f"could not start: {self._command[0]!r} was not found; install it or fix the path"
            ) from None
        except subprocess.TimeoutExpired as exc:
            # What the command printed before it hung: a token on stdout is redacted from stderr.
            stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
            stdout = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else ""
            raise self._fail(
                f"did not finish within {self._timeout:g} s (raise the timeout?)", stderr, stdout
            ) from None
        except OSError as exc:
            raise self._fail(f"could not start: {exc.strerror or type(exc).__name__}") from None
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            raise self._fail(
                f"failed with exit status {done.returncode}", stderr, done.stdout.decode("utf-8", "replace")
            )
        token = self._parse(done.stdout.decode("utf-8", "replace"), stderr)
        _log.debug(
            "token command for %s printed a token (expires in %s s)",
            self._provider,
            "?" if token.expires_in is None else f"{token.expires_in:g}",
        )
        return token

    def _parse(self, stdout: str, stderr: str) -> FetchedToken:
        text = stdout.strip()
        if not text:
            raise self._fail("printed no token", stderr)
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                raise self._fail("printed JSON that could not be parsed") from None
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not _is_token_text(token):
                raise self._fail("printed a JSON object without a valid 'access_token'")
            return FetchedToken(token, parse_expires_in(data.get("expires_in")))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        token = lines[-1]
        if not _is_token_text(token):
            raise self._fail("printed something that is not a token (expected one line without spaces)")
        return FetchedToken(token)


def _rebuild(provider: str, command: Tuple[str, ...], ttl: Optional[float], timeout: float) -> CommandTokenPlugin:
    return CommandTokenPlugin(provider, command, ttl=ttl, timeout=timeout)
