"""dataclasses-json, loaded only when something is serialised (layer L0).

dataclasses-json pulls in marshmallow, which costs more to import than the rest of
steer_sync together, so it stays off the ``import steer_sync`` path.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Type, TypeVar

T = TypeVar("T")


def record_to_dict(record: object) -> Dict[str, Any]:
    """Serialise a plain dataclass record with dataclasses-json."""
    from dataclasses_json import DataClassJsonMixin

    result: Dict[str, Any] = DataClassJsonMixin.to_dict(record)  # type: ignore[arg-type]
    return result


def record_from_dict(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Build a plain dataclass record from a dict with dataclasses-json (missing optional fields allowed)."""
    from dataclasses_json import DataClassJsonMixin

    build = DataClassJsonMixin.from_dict.__func__  # type: ignore[attr-defined]
    result: T = build(cls, dict(data), infer_missing=True)
    return result
