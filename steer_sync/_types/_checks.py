"""Checks the value constructors run on what callers give them (layer L0).

A bad value is refused where it is built, with an error naming the field and what it
accepts, so nothing invalid reaches a request body (where ``NaN`` would be sent as
invalid JSON and a lone surrogate would fail deep inside the encoder).
"""

from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Tuple

from steer_sync._errors import ConfigurationError

__all__ = [
    "check_finite_number",
    "check_int",
    "check_json_value",
    "check_optional_bool",
    "find_lone_surrogate",
    "json_path",
]

#: How deep a JSON value (a tool schema) may nest; far beyond any real schema, well below
#: the interpreter's recursion limit, so a runaway structure is refused with a clear error.
_MAX_JSON_DEPTH = 200


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_finite_number(
    value: Any, field: str, *, minimum: float, maximum: Optional[float] = None, example: str
) -> float:
    """Return ``value`` if it is a real, finite number in range; raise otherwise.

    :param value: the value to check (``bool`` is refused: it is never a number here).
    :param field: the field's name for the message, e.g. ``ModelParameters.temperature``.
    :param minimum: the smallest accepted value.
    :param maximum: the largest accepted value, or ``None`` for no limit.
    :param example: an accepted value to show in the message.
    :raises ConfigurationError: naming the field, the accepted range and the value.
    """
    limits = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
    accepted = f"must be a finite number {limits} (e.g. {example})"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(None, f"{field} {accepted}, got {_describe(value)}")
    if not math.isfinite(value):
        raise ConfigurationError(None, f"{field} {accepted}, got {value!r}: NaN and Infinity cannot be sent as JSON")
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigurationError(None, f"{field} {accepted}, got {value!r}")
    return value


def check_int(value: Any, field: str, *, minimum: int, example: str) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``; raise otherwise.

    :raises ConfigurationError: naming the field, the accepted range and the value.
    """
    accepted = f"must be an integer >= {minimum} (e.g. {example})"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(None, f"{field} {accepted}, got {_describe(value)}")
    if value < minimum:
        raise ConfigurationError(None, f"{field} {accepted}, got {value!r}")
    return value


def check_optional_bool(value: Any, field: str) -> None:
    """Refuse anything but ``None``, ``True`` or ``False``.

    :raises ConfigurationError: naming the field and the value.
    """
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(None, f"{field} must be True or False, got {_describe(value)}")


def json_path(parts: Tuple[Any, ...]) -> str:
    """Render a path into a JSON value: ``properties.x.enum[2]``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the top level)"


def check_json_value(value: Any, where: str) -> None:
    """Refuse a value that cannot be sent as strict JSON, naming where the problem is.

    Accepted: ``str`` (valid Unicode), ``int``, finite ``float``, ``bool``, ``None``,
    mappings with ``str`` keys, lists and tuples, nested at most 200 levels deep.

    :param value: the value, e.g. a tool's ``input_schema``.
    :param where: what the value is, for the message (``tool 'get_weather' input_schema``).
    :raises ConfigurationError: for ``NaN``/``Infinity``, a lone surrogate or too deep nesting.
    :raises TypeError: for a value of a type JSON has no form for.
    """
    stack: List[Tuple[Any, Tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > _MAX_JSON_DEPTH:
            raise ConfigurationError(
                None, f"{where} nests deeper than {_MAX_JSON_DEPTH} levels at {json_path(path[:3])}..."
            )
        if item is None or isinstance(item, (bool, int)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ConfigurationError(
                    None, f"{where} holds {item!r} at {json_path(path)}; NaN and Infinity are not valid JSON"
                )
        elif isinstance(item, str):
            index = find_lone_surrogate(item)
            if index is not None:
                raise ConfigurationError(
                    None,
                    f"{where} holds a lone surrogate {item[index]!r} at {json_path(path)}, character {index}; "
                    "text must be valid Unicode",
                )
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"{where} has a non-string key {key!r} at {json_path(path)}; JSON keys are strings")
                stack.append((child, (*path, key)))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))
        else:
            raise TypeError(
                f"{where} holds a value of type {type(item).__name__} at {json_path(path)}, which JSON cannot encode; "
                "use str, int, float, bool, None, dict or list"
            )


def find_lone_surrogate(text: str) -> Optional[int]:
    """Return the index of the first lone surrogate in ``text`` (unencodable as UTF-8), or ``None``."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None
