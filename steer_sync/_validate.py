"""Checks of a call's arguments before the client builds a request (layer L0).

The client calls :func:`check_call_arguments` first, so a wrong argument type fails with
an error naming the argument and how to build it, not with an ``AttributeError`` or a
``TypeError`` from deep inside a provider or the HTTP stack.
"""

from __future__ import annotations

from typing import Any, Mapping

from steer_sync._types import Message, ModelParameters

__all__ = ["check_call_arguments"]


def check_call_arguments(messages: Any, call_options: Any, extra_headers: Any) -> None:
    """Refuse call arguments of the wrong type, naming the argument and the fix.

    :param messages: must be a sequence of :class:`Message` (checked item by item later).
    :param call_options: ``None`` or a :class:`ModelParameters`.
    :param extra_headers: ``None`` or a mapping of ``str`` header names to ``str`` values.
    :raises TypeError: naming the argument (and the header) at fault.
    """
    if messages is None or isinstance(messages, (Message, str, bytes, Mapping)):
        raise TypeError(f"messages must be a list of Message, e.g. [Message.user('hi')], got {type(messages).__name__}")
    if call_options is not None and not isinstance(call_options, ModelParameters):
        hint = (
            "; build one with ModelParameters(**options) or ModelParameters.from_dict(options)"
            if isinstance(call_options, Mapping)
            else ""
        )
        raise TypeError(
            "call_options must be a ModelParameters, e.g. ModelParameters(temperature=0.2, max_output_tokens=512), "
            f"got {type(call_options).__name__}{hint}"
        )
    if extra_headers is None:
        return
    if not isinstance(extra_headers, Mapping):
        raise TypeError(
            "extra_headers must be a dict of header name to value, e.g. {'x-trace': 'abc'}, "
            f"got {type(extra_headers).__name__}"
        )
    for name, value in extra_headers.items():
        if not isinstance(name, str):
            raise TypeError(f"extra_headers names must be str, got {name!r} ({type(name).__name__})")
        if not isinstance(value, str):
            raise TypeError(
                f"extra_headers[{name!r}] must be a str, got {type(value).__name__}; "
                f"convert it first, e.g. {{{name!r}: str(value)}}"
            )
