"""Secret redaction: a request's header and query values never appear in messages.

A server can send a credential back in many shapes: the whole header value
(``Bearer sk-...``), the bare key (OpenAI's "Incorrect API key provided: sk-..."), the key
inside a JSON string (escaped), URL-encoded (``quote``/``quote_plus``, either hex case), or
masked (``sk-abc***wxyz``). :class:`Redactor` removes all of them, in one regular expression
compiled the first time it is needed (only error paths pay for it). A masked echo is kept
when it shows at most half of the key (OpenAI's ``sk-proj-****abcd``, xAI's ``xa***ey``: the
providers mask on purpose, and those few characters tell the user which key was refused);
one that shows more is removed.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Callable, Iterable, List, Mapping, Optional, Pattern, Set, TypeVar, Union
from urllib.parse import quote, quote_plus, unquote, urlsplit

from steer_sync._errors import ApiError

__all__ = ["PUBLIC_HEADERS", "REDACTED", "Redactor", "redact_error", "redacted_snippet", "redactor_for"]

#: Header names whose values are not secret (everything else is redacted from messages).
PUBLIC_HEADERS = frozenset({"accept", "accept-encoding", "connection", "content-length", "content-type", "user-agent"})
#: What a secret is replaced with.
REDACTED = "[redacted]"
#: The shortest header or query value treated as a possible secret in messages.
_MIN_SECRET_LEN = 8
#: ``Bearer <token>``, ``Basic <token>``, ``token <token>``: the token alone is a secret too.
_AUTH_SCHEME = re.compile(r"^(?:bearer|basic|token|bot|key|api-?key|digest|negotiate|oauth)\s+(\S.*)$", re.IGNORECASE)
#: The mask of a masked echo of a key (``sk-abc***wxyz``).
_STARS = re.compile(r"\*{3,}")
_PERCENT = re.compile(r"%([0-9A-F])([0-9A-F])")
#: A user name in a URL this long (or without a password) is treated as a key.
_KEY_LIKE_LEN = 16
#: An error message built from a body is cut to this many characters (after redaction).
_MAX_MESSAGE = 2000


def _variants(secret: str) -> Set[str]:
    """The forms in which ``secret`` can come back inside a message or a body."""
    bases = {secret, secret.strip()}
    bearer = _AUTH_SCHEME.match(secret.strip())
    if bearer:
        bases.add(bearer.group(1).strip())
    forms: Set[str] = set()
    for base in bases:
        forms.add(base)
        forms.add(repr(base)[1:-1])  # exception texts show values through repr()
        escaped = json.dumps(base)[1:-1]
        forms.update((escaped, json.dumps(base, ensure_ascii=False)[1:-1], json.dumps(escaped)[1:-1]))
        forms.update((quote(base), quote(base, safe=""), quote_plus(base)))
    return {form for form in forms if len(form) >= _MIN_SECRET_LEN}


def _pattern_of(form: str) -> str:
    # Percent escapes may come back in either hex case.
    return _PERCENT.sub(
        lambda m: f"%[{m.group(1)}{m.group(1).lower()}][{m.group(2)}{m.group(2).lower()}]", re.escape(form)
    )


class Redactor:
    """Removes a set of secrets, in every form they can come back in, from text.

    Callable: ``redactor(text)`` returns ``text`` with each secret (bare, as a whole
    ``Bearer`` value, JSON-escaped, URL-encoded, or masked but showing more than half of
    it) replaced by ``[redacted]``. Thread-safe; the pattern is compiled on first use.

    :param secrets: the secret values (header values, query values, keys).
    """

    __slots__ = ("_bare", "_lock", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(s for s in secrets if isinstance(s, str) and len(s.strip()) >= _MIN_SECRET_LEN)
        self._pattern: Optional[Pattern[str]] = None
        self._bare: List[str] = []
        self._lock = threading.Lock()

    def _compiled(self) -> Optional[Pattern[str]]:
        if self._pattern is None and self._secrets:
            with self._lock:
                if self._pattern is None:
                    forms: Set[str] = set()
                    bare: Set[str] = set()
                    for secret in self._secrets:
                        forms.update(_variants(secret))
                        bearer = _AUTH_SCHEME.match(secret.strip())
                        bare.add(bearer.group(1).strip() if bearer else secret.strip())
                    self._bare = sorted((b for b in bare if len(b) >= _MIN_SECRET_LEN), key=len, reverse=True)
                    # Longest first, so a secret that contains another is removed whole.
                    ordered = sorted(forms, key=len, reverse=True)
                    self._pattern = re.compile("|".join(_pattern_of(form) for form in ordered))
        return self._pattern

    def __call__(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        text = pattern.sub(REDACTED, text)
        if "***" in text:
            text = self._unmask(text)
        return text

    def _unmask(self, text: str) -> str:
        """Remove masked echoes (``start***end``) that show more than half of a key."""
        out: List[str] = []
        pos = 0
        for run in _STARS.finditer(text):
            i, j = run.span()
            if i < pos:
                continue
            for secret in self._bare:
                head = next(
                    (h for h in range(min(len(secret) - 1, i - pos), 0, -1) if text.startswith(secret[:h], i - h)), 0
                )
                tail = next(
                    (t for t in range(min(len(secret) - 1, len(text) - j), 0, -1) if text.startswith(secret[-t:], j)), 0
                )
                if len(secret) // 2 < head + tail < len(secret):
                    out.append(text[pos : i - head])
                    out.append(REDACTED)
                    pos = j + tail
                    break
        out.append(text[pos:])
        return "".join(out)

    def is_clean(self, text: str) -> bool:
        """Whether ``text`` shows none of the secrets (in any form)."""
        return self(text) == text

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secret(s)>"


def redactor_for(
    static_secrets: Iterable[str], url: str, headers: Mapping[str, str], params: Optional[Mapping[str, str]]
) -> Redactor:
    """The redactor of one request: its non-public header values, query values and query,
    and the password (and a key-like user name) in the URL.

    :param static_secrets: the session's secret header values.
    :param url: the request URL (its query string may hold a key).
    :param headers: the request's own headers.
    :param params: the request's query parameters.
    """
    secrets: List[str] = list(static_secrets)
    secrets.extend(value for name, value in headers.items() if name.lower() not in PUBLIC_HEADERS)
    if params:
        secrets.extend(str(value) for value in params.values())
    parts = urlsplit(url)
    # ``https://user:password@gateway/...``: the password is a credential, and so is a
    # user name that carries a key (``https://KEY@host``, or one as long as a key).
    if parts.password:
        secrets.extend((parts.password, unquote(parts.password)))
    if parts.username and (not parts.password or len(parts.username) >= _KEY_LIKE_LEN):
        secrets.extend((parts.username, unquote(parts.username)))
    query = parts.query
    if query:
        secrets.append(query)
        secrets.extend(part.partition("=")[2] for part in query.split("&"))
    return Redactor(secrets)


def redacted_snippet(text: Union[str, bytes], redact: Callable[[str], str], limit: int) -> str:
    """The start of ``text``, at most ``limit`` characters, with every secret removed.

    The whole text is redacted *before* it is cut: a cut first would split a key that
    crosses the limit, and the redactor cannot recognise the half that stays.

    :param text: a body (bytes are decoded as UTF-8, bad bytes replaced) or a message.
    :param redact: a redactor (:class:`Redactor`, :meth:`HttpResponse.redact`).
    :param limit: the most characters kept; ``...`` marks a cut.
    :returns: the redacted, stripped and cut text.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    clean = redact(text).strip()
    return clean if len(clean) <= limit else clean[:limit] + "..."


E = TypeVar("E", bound=ApiError)


def redact_error(error: E, redact: Callable[[str], str], limit: int = _MAX_MESSAGE) -> E:
    """Remove secrets from an error built outside the transport, in place, and return it.

    For providers: an error made from a 2xx body (an error object inside a 200, a
    ``ResponseParsingError`` quoting the body) goes through ``response.redact`` this way, so
    its ``str``, ``repr``, ``args`` and pickle are clean::

        try:
            return self._parse_response(response.json())
        except ApiError as error:
            raise redact_error(error, response.redact)

    A provider quotes a body uncut (it has no redactor); the text is cut here, after the
    redaction, so no part of a key crossing the cut can stay.

    :param error: the error; its ``message`` and ``details`` are rewritten.
    :param redact: a redactor (:meth:`HttpResponse.redact` or :meth:`Transport.redact`).
    :param limit: the most characters kept of each.
    :returns: ``error`` itself.
    """
    for name in ("message", "details"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            setattr(error, name, redacted_snippet(value, redact, limit))
    return error
