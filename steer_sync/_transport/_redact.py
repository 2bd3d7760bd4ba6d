"""Secret redaction: a request's header and query values never appear in messages."""

from __future__ import annotations

from typing import Iterable, List, Mapping, Optional, Set
from urllib.parse import urlsplit

__all__ = ["PUBLIC_HEADERS", "Redactor", "redactor_for"]

#: Header names whose values are not secret (everything else is redacted from messages).
PUBLIC_HEADERS = frozenset({"accept", "accept-encoding", "connection", "content-length", "content-type", "user-agent"})
#: The shortest header or query value treated as a possible secret in messages.
_MIN_SECRET_LEN = 8


class Redactor:
    """Removes the values of a request's secret headers and query parameters from text."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: Set[str] = set()
        for secret in secrets:
            # Also as stripped and as escaped by repr(), the forms exception texts use.
            variants.update((secret, secret.strip(), repr(secret)[1:-1]))
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted((s for s in variants if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text

    def is_clean(self, text: str) -> bool:
        return not any(secret in text for secret in self._secrets)


def redactor_for(
    static_secrets: Iterable[str], url: str, headers: Mapping[str, str], params: Optional[Mapping[str, str]]
) -> Redactor:
    """The redactor of one request: its non-public header values, query values and query.

    :param static_secrets: the session's secret header values.
    :param url: the request URL (its query string may hold a key).
    :param headers: the request's own headers.
    :param params: the request's query parameters.
    """
    secrets: List[str] = list(static_secrets)
    secrets.extend(value for name, value in headers.items() if name.lower() not in PUBLIC_HEADERS)
    if params:
        secrets.extend(str(value) for value in params.values())
    query = urlsplit(url).query
    if query:
        secrets.append(query)
        secrets.extend(part.partition("=")[2] for part in query.split("&"))
    return Redactor(secrets)
