"""Structured output and tool choice values, dataclass schemas and answer parsing (layer L0).

* :class:`JsonSchema`: the shape the answer must take (a JSON Schema, a name, strictness);
  :meth:`JsonSchema.from_dataclass` derives one from a dataclass's type hints.
* :class:`ToolChoice`: whether the model may, must or must not call a tool, or which one.
* :func:`parse_answer` (behind ``CompletionResponse.parse``): JSON text or a forced tool's
  input, checked against a dataclass, raising :class:`StructuredOutputError` with the path of
  what did not fit.

No I/O. Reading attribute docstrings needs the dataclass's source; without it (a class made in
a REPL, a frozen app) descriptions come from ``field(metadata={"description": ...})`` only.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import re
import sys
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple, Type, TypeVar, Union

from steer_sync._errors import SteerError

__all__ = [
    "JsonSchema",
    "StructuredOptions",
    "StructuredOutputError",
    "ToolChoice",
    "coerce_response_format",
    "convert_value",
    "parse_answer",
    "schema_for_type",
]

T = TypeVar("T")

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NONE_TYPE = type(None)


class StructuredOutputError(SteerError, ValueError):
    """The answer was not valid JSON, or did not fit the requested type.

    ``type(e)(*e.args)`` rebuilds an equal error, so it pickles and crosses processes.

    :ivar text: the answer text that was parsed (the forced tool's input as JSON when the
        answer came through the forced-tool fallback).
    :ivar problem: what did not fit, e.g. ``"expected float, got str"`` or ``"not valid JSON: ..."``.
    :ivar path: where it did not fit, e.g. ``"items[2].price"`` (``""`` for the whole answer).
    """

    def __init__(self, text: str, problem: str, path: str = "") -> None:
        super().__init__(text, problem, path)
        self.text = text
        self.problem = problem
        self.path = path

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        preview = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        return f"structured output did not fit: {where}{self.problem} (answer: {preview!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.args == getattr(other, "args", None)

    def __hash__(self) -> int:
        return hash((type(self), self.args))


@dataclass(frozen=True, eq=True)
class JsonSchema:
    """A JSON Schema the answer must follow, sent in each wire format's native form.

    Immutable and thread-safe (the schema is deep-copied on construction).

    Usage::

        resp = client.complete("gpt", msgs, response_format=JsonSchema({"type": "object", ...}, name="city"))
        data = resp.parse()
    """

    #: The JSON Schema of the answer (the root should be an object for OpenAI's strict mode).
    schema: Mapping[str, Any]
    #: A name for the schema (letters, digits, ``_`` and ``-``, at most 64): OpenAI sends it,
    #: and the forced-tool fallback uses it as the tool's name.
    name: str = "response"
    #: Ask for strict schema adherence where the format has the switch (OpenAI, xAI).
    strict: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.schema, Mapping):
            raise TypeError(f"JsonSchema.schema must be a mapping (a JSON Schema), got {type(self.schema).__name__}")
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"JsonSchema.name must be 1-64 letters, digits, '_' or '-', got {self.name!r}; e.g. name='invoice'"
            )
        object.__setattr__(self, "schema", copy.deepcopy(dict(self.schema)))

    __hash__ = None  # type: ignore[assignment]  # the schema is a dict

    @classmethod
    def from_dataclass(cls, target: type, *, name: Optional[str] = None, strict: bool = True) -> JsonSchema:
        """Derive the schema of a dataclass from its type hints.

        Supported: ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``/``List[T]``,
        ``Tuple[T, ...]``, ``dict``/``Dict[str, T]``, ``Optional``, ``Union``, ``Literal``,
        ``Enum`` and nested dataclasses (inlined). A field's description comes from
        ``field(metadata={"description": ...})``, else from its attribute docstring (a ``#:``
        comment above it or a string right after it).

        :param target: the dataclass type.
        :param name: the schema name (default: the class name).
        :param strict: see :attr:`strict`.
        :raises TypeError: if ``target`` is not a dataclass, or a field has an unsupported
            type (the message names the dataclass and the field).
        """
        if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
            raise TypeError(f"expected a dataclass type, got {target!r}")
        schema_name = name if name is not None else re.sub(r"[^A-Za-z0-9_-]", "_", target.__name__)[:64]
        return cls(schema_for_type(target), name=schema_name, strict=strict)


@dataclass(frozen=True)
class ToolChoice:
    """Whether the model may, must or must not call a tool, or which tool it must call.

    Build one with :meth:`auto`, :meth:`none`, :meth:`required` or :meth:`tool`.
    Immutable and thread-safe.
    """

    #: ``"auto"``, ``"none"``, ``"required"`` or ``"tool"``.
    kind: str
    #: The tool's name when ``kind == "tool"``.
    name: Optional[str] = None

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "none", "required", "tool"):
            raise ValueError(f"ToolChoice kind must be auto, none, required or tool, got {self.kind!r}")
        if (self.kind == "tool") != (self.name is not None):
            raise ValueError("ToolChoice.tool(name) needs a name; the other choices take none")
        if self.kind == "tool" and not (isinstance(self.name, str) and self.name):
            raise ValueError(f"ToolChoice.tool needs a non-empty tool name, got {self.name!r}")

    @classmethod
    def auto(cls) -> ToolChoice:
        """The model decides whether to call tools (the default)."""
        return cls("auto")

    @classmethod
    def none(cls) -> ToolChoice:
        """The model must not call any tool."""
        return cls("none")

    @classmethod
    def required(cls) -> ToolChoice:
        """The model must call at least one tool."""
        return cls("required")

    @classmethod
    def tool(cls, name: str) -> ToolChoice:
        """The model must call the tool ``name`` (one of the call's ``tools``)."""
        return cls("tool", name)


@dataclass(frozen=True)
class StructuredOptions:
    """A call's structured-output and tool-choice options, checked (private).

    The ``CompletionRequest`` carries the three values; this is the checked view of them
    that the per-format field functions read. Immutable.
    """

    #: The answer's schema, or ``None``.
    response_format: Optional[JsonSchema] = None
    #: The tool choice, or ``None`` for the format's default.
    tool_choice: Optional[ToolChoice] = None
    #: ``False`` asks for at most one tool call; ``None`` keeps the format's default.
    parallel_tool_calls: Optional[bool] = None

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def build(cls, response_format: Any, tool_choice: Any, parallel_tool_calls: Any) -> StructuredOptions:
        """Check a call's ``response_format``, ``tool_choice`` and ``parallel_tool_calls``.

        :param response_format: a :class:`JsonSchema`, a dataclass type or ``None``.
        :param tool_choice: a :class:`ToolChoice` or ``None``.
        :param parallel_tool_calls: ``True``, ``False`` or ``None``.
        :returns: the options (a dataclass type becomes its :class:`JsonSchema`).
        :raises TypeError: for a value of the wrong type, naming what is accepted.
        """
        schema = coerce_response_format(response_format)
        if tool_choice is not None and not isinstance(tool_choice, ToolChoice):
            raise TypeError(f"tool_choice must be a ToolChoice (e.g. ToolChoice.required()), got {tool_choice!r}")
        if parallel_tool_calls is not None and not isinstance(parallel_tool_calls, bool):
            raise TypeError(f"parallel_tool_calls must be True, False or None, got {parallel_tool_calls!r}")
        return cls(schema, tool_choice, parallel_tool_calls)

    def request_fields(self) -> Dict[str, Any]:
        """The three values as ``CompletionRequest`` keyword arguments."""
        return {
            "response_format": self.response_format,
            "tool_choice": self.tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls,
        }

    def is_empty(self) -> bool:
        """Whether nothing is asked for (so providers need not be told)."""
        return self.response_format is None and self.tool_choice is None and self.parallel_tool_calls is None

    def with_forced_tool(self, tools: Tuple[Any, ...], provider: str) -> Tuple[Tuple[Any, ...], StructuredOptions]:
        """Rewrite ``response_format`` as a forced tool, for a model without native structured output.

        The schema becomes a tool named after it, and ``tool_choice`` forces that tool; the
        answer then arrives as that tool call's input (``CompletionResponse.parse`` reads it).

        :param tools: the call's tools (``ToolSchema`` values).
        :param provider: the provider id, for errors.
        :returns: the new tools and options.
        :raises UnsupportedFeature: if the call also sets a tool choice other than auto.
        :raises ConfigurationError: if a tool of the call already has the schema's name.
        """
        from steer_sync._errors import ConfigurationError, UnsupportedFeature
        from steer_sync._types._tools import ToolSchema

        schema = self.response_format
        if schema is None:
            return tools, self
        if self.tool_choice is not None and self.tool_choice.kind != "auto":
            raise UnsupportedFeature(
                provider,
                "tool_choice with response_format on this model",
                "the model has no native structured output, so the answer comes through a forced "
                "tool; drop tool_choice (or mark the model structured_output = true in the catalog)",
            )
        if any(getattr(tool, "name", None) == schema.name for tool in tools):
            raise ConfigurationError(
                provider,
                f"a tool is already named {schema.name!r}, the name the structured-output tool needs; "
                "pass JsonSchema(..., name='other_name')",
            )
        tool = ToolSchema(
            name=schema.name,
            description="Give the final answer by calling this tool with it as the input.",
            input_schema=schema.schema,
        )
        return (*tools, tool), StructuredOptions(None, ToolChoice.tool(schema.name), self.parallel_tool_calls)


def coerce_response_format(value: Any) -> Optional[JsonSchema]:
    """Turn a call's ``response_format`` (a :class:`JsonSchema`, a dataclass type or ``None``) into a schema.

    :raises TypeError: for anything else, naming what is accepted.
    """
    if value is None or isinstance(value, JsonSchema):
        return value
    if isinstance(value, type) and dataclasses.is_dataclass(value):
        return JsonSchema.from_dataclass(value)
    raise TypeError(
        f"response_format must be a JsonSchema or a dataclass type, got {value!r}; "
        "e.g. response_format=MyDataclass or JsonSchema({...}, name='answer')"
    )


# --- schema generation ---------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def schema_for_type(tp: Any, _where: str = "", _seen: Optional[Set[type]] = None) -> Dict[str, Any]:
    """Return the JSON Schema of a Python type (see :meth:`JsonSchema.from_dataclass`).

    Nested dataclasses are inlined; a dataclass that contains itself is rejected (no
    provider's strict mode takes recursive schemas).

    :raises TypeError: for an unsupported type, naming where it was found.
    """
    seen = _seen if _seen is not None else set()
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is None or tp is _NONE_TYPE:
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [member.value for member in tp]
        return _enum_schema(values, tp, _where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_schema(tp, seen)
    if origin is typing.Literal:
        return _enum_schema(list(args), tp, _where)
    if origin is Union:
        return {"anyOf": [schema_for_type(arg, _where, seen) for arg in args]}
    if tp is list or origin is list or origin is typing.Sequence or _is_abc(origin, "Sequence"):
        item = args[0] if args else None
        out: Dict[str, Any] = {"type": "array"}
        if item is not None:
            out["items"] = schema_for_type(item, _where, seen)
        elif tp is not list:
            raise _unsupported(tp, _where)
        return out
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_for_type(args[0], _where, seen)}
        raise TypeError(f"{_where or 'type'}: fixed-length {tp!r} is not supported; use Tuple[T, ...] or List[T]")
    if tp is dict or origin is dict or _is_abc(origin, "Mapping"):
        if args:
            if args[0] is not str:
                raise TypeError(f"{_where or 'type'}: JSON object keys are strings; use Dict[str, T], not {tp!r}")
            return {"type": "object", "additionalProperties": schema_for_type(args[1], _where, seen)}
        return {"type": "object"}
    raise _unsupported(tp, _where)


def _is_abc(origin: Any, name: str) -> bool:
    import collections.abc

    return origin is getattr(collections.abc, name)


def _unsupported(tp: Any, where: str) -> TypeError:
    return TypeError(
        f"{where or 'type'}: unsupported type {tp!r} for a JSON Schema; use str, int, float, bool, None, "
        "List[T], Dict[str, T], Optional, Union, Literal, an Enum or a dataclass"
    )


def _enum_schema(values: List[Any], tp: Any, where: str) -> Dict[str, Any]:
    kinds = set()
    for value in values:
        if isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        elif value is None:
            kinds.add("null")
        else:
            raise TypeError(f"{where or 'type'}: {tp!r} has a value {value!r} that JSON cannot carry")
    out: Dict[str, Any] = {}
    if len(kinds) == 1:
        out["type"] = kinds.pop()
    out["enum"] = values
    return out


def _type_hints(cls: type) -> Dict[str, Any]:
    """``typing.get_type_hints(cls)``, also for a class whose module is not in ``sys.modules``.

    Python 3.9 looks every class of the MRO up in ``sys.modules`` and raises ``KeyError`` for
    one defined in code run with ``exec`` (a notebook tool, a test harness); 3.10 tolerates it.
    Such a class's own annotations are resolved in its module globals, when we can find them.
    """
    try:
        return typing.get_type_hints(cls)
    except KeyError:
        module = sys.modules.get(cls.__module__)
        namespace = dict(vars(module)) if module is not None else {}
        hints: Dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                hints[name] = typing.get_type_hints(_Annotated(name, annotation), namespace)[name]
        return hints


class _Annotated:
    """A stand-in holding one annotation, so ``get_type_hints`` resolves it without a module."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.__annotations__ = {name: annotation}


def _dataclass_schema(cls: type, seen: Set[type]) -> Dict[str, Any]:
    if cls in seen:
        raise TypeError(f"dataclass {cls.__name__} contains itself; recursive schemas are not supported")
    seen = seen | {cls}
    try:
        hints = _type_hints(cls)
    except Exception as error:  # a string annotation that cannot be resolved
        raise TypeError(f"cannot resolve the type hints of dataclass {cls.__name__}: {error}") from error
    docs = _attribute_docs(cls)
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        where = f"{cls.__name__}.{f.name}"
        prop = schema_for_type(hints.get(f.name, Any), where, seen)
        description = f.metadata.get("description") if f.metadata else None
        if description is None:
            description = docs.get(f.name)
        if description:
            prop = {"description": str(description), **prop}
        properties[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: Dict[str, Any] = {"type": "object"}
    doc = cls.__doc__
    if doc and not doc.startswith(cls.__name__ + "("):  # not the generated signature docstring
        out["description"] = " ".join(doc.split())
    out["properties"] = properties
    out["required"] = required
    out["additionalProperties"] = False
    return out


def _attribute_docs(cls: type) -> Dict[str, str]:
    """Read ``#:`` comments and string literals after fields from the class's source."""
    import ast
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    lines = source.splitlines()
    docs: Dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body
        for index, stmt in enumerate(body):
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            name = stmt.target.id
            following = body[index + 1] if index + 1 < len(body) else None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[name] = " ".join(following.value.value.split())
                continue
            comments: List[str] = []
            row = stmt.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#:"):
                comments.insert(0, lines[row].strip()[2:].strip())
                row -= 1
            if comments:
                docs[name] = " ".join(comments)
        break
    return docs


# --- parsing ----------------------------------------------------------------------------------


class _Mismatch(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if tp is str or tp is bool:
        if type(value) is not tp:
            raise _Mismatch(path, f"expected {tp.__name__}, got {_json_type(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _Mismatch(path, f"expected int, got {_json_type(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Mismatch(path, f"expected float, got {_json_type(value)}")
        return float(value)
    if tp is None or tp is _NONE_TYPE:
        if value is not None:
            raise _Mismatch(path, f"expected null, got {_json_type(value)}")
        return None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if member.value == value and type(member.value) is type(value):
                return member
        allowed = ", ".join(repr(m.value) for m in tp)
        raise _Mismatch(path, f"expected one of {allowed} ({tp.__name__}), got {value!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, path)
    if origin is typing.Literal:
        for allowed_value in args:
            if allowed_value == value and type(allowed_value) is type(value):
                return value
        raise _Mismatch(path, f"expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
    if origin is Union:
        if value is None and _NONE_TYPE in args:
            return None
        problems: List[_Mismatch] = []
        for arg in args:
            try:
                return _convert(arg, value, path)
            except _Mismatch as mismatch:
                problems.append(mismatch)
        deepest = max(problems, key=lambda m: len(m.path))
        if deepest.path != path:
            raise deepest
        names = " or ".join(_type_name(a) if a is not _NONE_TYPE else "null" for a in args)
        raise _Mismatch(path, f"expected {names}, got {_json_type(value)}")
    if tp is list or origin is list or origin is typing.Sequence or _is_abc(origin, "Sequence") or origin is tuple:
        if not isinstance(value, list):
            raise _Mismatch(path, f"expected array, got {_json_type(value)}")
        item = args[0] if args else Any
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is dict or origin is dict or _is_abc(origin, "Mapping"):
        if not isinstance(value, dict):
            raise _Mismatch(path, f"expected object, got {_json_type(value)}")
        item = args[1] if args else Any
        return {k: _convert(item, v, f"{path}[{k!r}]") for k, v in value.items()}
    raise _Mismatch(path, f"unsupported target type {tp!r}")


def _convert_dataclass(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise _Mismatch(path, f"expected object ({cls.__name__}), got {_json_type(value)}")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in value:
        if key not in fields:
            raise _Mismatch(_join(path, str(key)), f"unexpected field for {cls.__name__}")
    kwargs: Dict[str, Any] = {}
    for name, f in fields.items():
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Mismatch(_join(path, name), f"missing required field of {cls.__name__}")
            continue
        hint = hints.get(name, Any)
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if value[name] is None and has_default and not _accepts_none(hint):
            # OpenAI strict mode sends null for an optional property: it means "the default".
            continue
        kwargs[name] = _convert(hint, value[name], _join(path, name))
    return cls(**kwargs)


def _accepts_none(tp: Any) -> bool:
    if tp is Any or tp is None or tp is _NONE_TYPE:
        return True
    origin = typing.get_origin(tp)
    if origin is Union:
        return any(_accepts_none(arg) for arg in typing.get_args(tp))
    return origin is typing.Literal and None in typing.get_args(tp)


def convert_value(tp: Type[T], value: Any, text: str = "") -> T:
    """Check a decoded JSON value against ``tp`` and build it (dataclasses, Enums, lists...).

    :raises StructuredOutputError: naming the path of the first value that does not fit.
    """
    try:
        return typing.cast(T, _convert(tp, value, ""))
    except _Mismatch as mismatch:
        raise StructuredOutputError(text, mismatch.problem, mismatch.path) from None


def parse_answer(text: str, tool_input: Any, target: Any = None, *, use_tool: bool = False) -> Any:
    """Decode an answer's JSON and optionally build ``target`` from it.

    :param text: the answer text.
    :param tool_input: the forced tool's already decoded input (used when ``use_tool``).
    :param target: ``None`` (return the JSON), a type (a dataclass, ``List[X]``...), or a
        :class:`JsonSchema` (return the JSON).
    :param use_tool: read ``tool_input`` instead of ``text`` (the forced-tool fallback).
    :raises StructuredOutputError: on invalid JSON or a mismatch.
    """
    if use_tool:
        data = tool_input
        shown = json.dumps(tool_input, ensure_ascii=False) if not isinstance(tool_input, str) else tool_input
        if isinstance(tool_input, str):  # a tool input the stream could not decode
            try:
                data = json.loads(tool_input)
            except ValueError as error:
                raise StructuredOutputError(tool_input, f"not valid JSON: {error}") from None
    else:
        shown = text
        try:
            data = json.loads(text)
        except ValueError as error:
            raise StructuredOutputError(text, f"not valid JSON: {error}") from None
    if target is None or isinstance(target, JsonSchema):
        return data
    return convert_value(target, data, shown)
