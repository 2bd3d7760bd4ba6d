"""Images in messages: ImageContent, its sources and the checks on its input (layer L0).

An image block holds a MIME type and an :class:`ImageSource` (inline ``data:`` URL, remote
URL or steer session file); :meth:`ImageContent.from_base64` and
:meth:`ImageContent.from_url` check base64 data, data URLs and MIME types where they enter.
The JSON shapes are those the Rust reference writes (see :mod:`._messages`).
"""

from __future__ import annotations

import abc
import base64
import binascii
import functools
import re
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = [
    "DataUrlSource",
    "ImageContent",
    "ImageSource",
    "SessionFileSource",
    "UrlSource",
]


class ImageSource(abc.ABC):
    """Where an image's bytes come from (serialised tagged by ``"source"``)."""

    __slots__ = ()

    @abc.abstractmethod
    def to_dict(self) -> Dict[str, Any]:
        """Serialise as the Rust ``ImageSource``."""

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ImageSource:
        """Inverse of :meth:`to_dict`."""
        kind = data.get("source")
        if kind == "data_url":
            return DataUrlSource(str(data["data_url"]))
        if kind == "url":
            return UrlSource(str(data["url"]))
        if kind == "session_file":
            return SessionFileSource(str(data["relative_path"]))
        raise ValueError(f"unknown image source {kind!r}; expected data_url, url or session_file")


@dataclass(frozen=True)
class DataUrlSource(ImageSource):
    """An image inlined as a ``data:<mime>;base64,...`` URL."""

    #: The ``data:`` URL.
    data_url: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"source": "data_url", "data_url": ...}``."""
        return {"source": "data_url", "data_url": self.data_url}


@dataclass(frozen=True)
class UrlSource(ImageSource):
    """An image the provider fetches from a URL."""

    #: The image URL.
    url: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"source": "url", "url": ...}``."""
        return {"source": "url", "url": self.url}


@dataclass(frozen=True)
class SessionFileSource(ImageSource):
    """An image stored in a steer session folder (cannot be sent without its bytes)."""

    #: The path relative to the session folder.
    relative_path: str

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"source": "session_file", "relative_path": ...}``."""
        return {"source": "session_file", "relative_path": self.relative_path}


@functools.cache
def _image_mime() -> re.Pattern[str]:
    """``image/<subtype>`` (RFC 6838 characters), or ``image/*`` when the type is unknown.

    Compiled on the first image, not at import (about 0.5 ms of every cold start).
    """
    return re.compile(r"image/(\*|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)", re.IGNORECASE)


def _check_image_mime(mime_type: object, where: str) -> str:
    if not isinstance(mime_type, str) or not _image_mime().fullmatch(mime_type):
        raise ValueError(
            f"{where}: mime_type must be an image type such as 'image/png' or 'image/*', got {mime_type!r}"
        )
    return mime_type


def _check_base64(data: object, where: str) -> str:
    if not isinstance(data, str):
        raise TypeError(
            f"{where}: data must be base64 text (str), got {type(data).__name__}; encode bytes with base64.b64encode(raw).decode()"
        )
    compact = "".join(data.split())  # line-wrapped base64 (76 columns) is common
    if not compact:
        raise ValueError(f"{where}: the base64 data is empty")
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{where}: data is not valid base64 ({len(compact)} characters starting {compact[:12]!r}); "
            "pass the image bytes encoded with base64.b64encode(raw).decode()"
        ) from None
    return compact


def _split_data_url(url: str, where: str) -> Tuple[str, str]:
    """``data:image/png;base64,...`` into its MIME type and validated base64 payload."""
    meta, sep, payload = url.partition(",")
    segments = meta[len("data:") :].split(";")
    if not sep or not any(segment.strip().lower() == "base64" for segment in segments[1:]):
        raise ValueError(f"{where}: a data URL must look like 'data:image/png;base64,<data>', got {url[:40]!r}")
    return _check_image_mime(segments[0].strip(), where), _check_base64(payload, where)


@dataclass(frozen=True)
class ImageContent:
    """An image, in a user or an assistant message.

    Build one with :meth:`from_url` or :meth:`from_base64`: both take the image first and
    its MIME type second, and check both. The constructor itself checks only the MIME
    type (it also rebuilds images that providers send back).
    """

    #: The MIME type, e.g. ``image/png`` (``image/*`` when unknown).
    mime_type: str
    #: Where the bytes come from.
    source: ImageSource
    #: Width in pixels, when known.
    width: Optional[int] = None
    #: Height in pixels, when known.
    height: Optional[int] = None
    #: Size in bytes, when known.
    bytes: Optional[int] = None
    #: SHA-256 of the bytes, when known.
    sha256: Optional[str] = None

    def __post_init__(self) -> None:
        _check_image_mime(self.mime_type, "ImageContent")
        if not isinstance(self.source, ImageSource):
            raise TypeError(
                "ImageContent: source must be a DataUrlSource, UrlSource or SessionFileSource, got "
                f"{type(self.source).__name__}; use ImageContent.from_url(url) or ImageContent.from_base64(data, mime_type)"
            )

    @classmethod
    def from_base64(cls, data: str, mime_type: str) -> ImageContent:
        """An image from base64 data (a ``data:`` URL is accepted too).

        The arguments were ``(mime_type, data)`` before 0.2; that order still works, with
        a ``DeprecationWarning`` (a MIME type is never valid base64, so it is unambiguous).

        :param data: the image bytes, base64 encoded (line breaks allowed).
        :param mime_type: ``image/png``, ``image/jpeg``, ...
        :raises ValueError: if ``data`` is not base64 or ``mime_type`` is not an image type.
        """
        where = "ImageContent.from_base64"
        if isinstance(data, str) and _image_mime().fullmatch(data) and not _image_mime().fullmatch(str(mime_type)):
            warnings.warn(
                "ImageContent.from_base64 takes (data, mime_type); pass them in that order",
                DeprecationWarning,
                stacklevel=2,
            )
            data, mime_type = mime_type, data
        if isinstance(data, str) and data.startswith("data:"):
            embedded, payload = _split_data_url(data, where)
            if _check_image_mime(mime_type, where).lower() != embedded.lower():
                raise ValueError(f"{where}: mime_type {mime_type!r} differs from the data URL's {embedded!r}")
            return cls(embedded, DataUrlSource(f"data:{embedded};base64,{payload}"))
        mime_type = _check_image_mime(mime_type, where)
        return cls(mime_type, DataUrlSource(f"data:{mime_type};base64,{_check_base64(data, where)}"))

    @classmethod
    def from_url(cls, url: str, mime_type: str = "image/*") -> ImageContent:
        """An image the provider fetches from ``url``, or a ``data:image/...;base64,`` URL.

        :param url: an ``http(s)://`` (or other ``scheme://``) URL, or a data URL.
        :param mime_type: the image type when known (a data URL brings its own).
        :raises ValueError: for a MIME type or text where the URL belongs, an invalid data
            URL, or a ``mime_type`` that is not an image type.
        """
        where = "ImageContent.from_url"
        if not isinstance(url, str):
            raise TypeError(f"{where}: url must be a str, got {type(url).__name__}")
        url = url.strip()
        if _image_mime().fullmatch(url):
            raise ValueError(
                f"{where}: {url!r} is a MIME type, not a URL; call ImageContent.from_url(url, mime_type={url!r})"
            )
        if url.lower().startswith("data:"):
            embedded, payload = _split_data_url(url, where)
            if mime_type != "image/*" and _check_image_mime(mime_type, where).lower() != embedded.lower():
                raise ValueError(f"{where}: mime_type {mime_type!r} differs from the data URL's {embedded!r}")
            return cls(embedded, DataUrlSource(f"data:{embedded};base64,{payload}"))
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme or not rest or any(c.isspace() for c in url):
            raise ValueError(
                f"{where}: {url[:60]!r} is not a URL; pass 'https://...' or use ImageContent.from_base64(data, mime_type)"
            )
        return cls(_check_image_mime(mime_type, where), UrlSource(url))

    def to_dict(self) -> Dict[str, Any]:
        """Serialise as ``{"type": "image", "image": {...}}`` (absent fields omitted)."""
        image: Dict[str, Any] = {"mime_type": self.mime_type, "source": self.source.to_dict()}
        for name in ("width", "height", "bytes", "sha256"):
            value = getattr(self, name)
            if value is not None:
                image[name] = value
        return {"type": "image", "image": image}

    @classmethod
    def _from_inner(cls, image: Mapping[str, Any]) -> ImageContent:
        return cls(
            mime_type=str(image["mime_type"]),
            source=ImageSource.from_dict(image["source"]),
            width=image.get("width"),
            height=image.get("height"),
            bytes=image.get("bytes"),
            sha256=image.get("sha256"),
        )
