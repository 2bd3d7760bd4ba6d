"""The one check for credentials and header values, before anything is sent (layer L2).

Every provider's API key, every catalog header and every call's ``extra_headers`` pass
through here. A bad value is a ``ConfigurationError`` that names the key or header and what
is wrong, never the value itself, and is never retried. Imports nothing heavier than the
error tree, so the client can use it without loading the transport.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from steer_sync._errors import ConfigurationError

__all__ = ["check_api_key", "check_headers", "check_json_body"]


def _value_problem(value: str, *, credential: bool) -> Optional[str]:
    if "\r" in value or "\n" in value:
        return "contains a line break (CR or LF)"
    if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in value):
        return "contains a control character"
    if any(ord(ch) > 0xFF for ch in value):
        return "contains a character outside Latin-1, which an HTTP header cannot carry"
    if credential and any(ord(ch) <= 0x20 or ord(ch) > 0x7E for ch in value):
        return "contains whitespace or a non-ASCII character"
    return None


def check_headers(headers: Optional[Mapping[str, str]], provider: Optional[str]) -> None:
    """Refuse header values that cannot be sent, before anything is sent (never retried).

    One check for every provider's static, catalog and per-call (``extra_headers``) headers:
    CR/LF would split the request, other control characters and characters outside Latin-1
    cannot be encoded. The message names the header, never its value.

    :param headers: the headers, or ``None``.
    :param provider: the provider id, for the error.
    :raises ConfigurationError: naming the first bad header and what is wrong with it.
    """
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(provider, f"header {name!r} must be a str name with a str value")
        name_problem = _value_problem(name, credential=True)
        if name_problem is not None:
            raise ConfigurationError(
                provider, f"header name {name!r} {name_problem}; header names are ASCII tokens such as 'X-Trace-Id'"
            )
        problem = _value_problem(value, credential=False)
        if problem is not None:
            raise ConfigurationError(provider, f"the value of header {name!r} {problem}; fix or remove the header")


def check_api_key(api_key: Optional[str], provider: Optional[str]) -> None:
    """Refuse an API key that cannot be sent in a header, before anything is sent (never retried).

    :param api_key: the key, or ``None`` (nothing to check).
    :param provider: the provider id, for the error.
    :raises ConfigurationError: saying what is wrong with the key, never the key itself.
    """
    if not api_key:
        return
    problem = _value_problem(api_key, credential=True)
    if problem is not None:
        raise ConfigurationError(
            provider,
            f"the API key for provider {provider!r} {problem}; check the key (or its environment variable) "
            "for a stray newline, space or quote",
        )


def check_json_body(body: Any, provider: Optional[str]) -> None:
    """Refuse a request body JSON cannot carry (NaN or an infinity), before anything is sent.

    ``json.dumps`` would write ``NaN``, which is not JSON; the provider would answer a 400
    that names nothing. This names the field instead.

    :param body: the request body.
    :param provider: the provider id, for the error.
    :raises ConfigurationError: naming the first field whose number is not finite.
    """
    path = _non_finite(body, "")
    if path is not None:
        raise ConfigurationError(
            provider,
            f"the request field {path or '(body)'!r} is not a finite number; JSON cannot carry NaN or infinity",
        )


def _non_finite(value: Any, path: str) -> Optional[str]:
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _non_finite(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
