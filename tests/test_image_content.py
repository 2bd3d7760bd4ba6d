"""ImageContent: one argument order, the MIME type checked, base64 and data URLs validated."""

from __future__ import annotations

import base64

import pytest

from steer_sync import ImageContent, Message
from steer_sync._types import DataUrlSource, UrlSource

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n-not-really-an-image").decode()


def test_both_constructors_take_the_image_first_and_the_mime_type_second() -> None:
    inline = ImageContent.from_base64(PNG, "image/png")
    assert inline == ImageContent("image/png", DataUrlSource(f"data:image/png;base64,{PNG}"))
    remote = ImageContent.from_url("https://example.com/cat.jpg", "image/jpeg")
    assert remote == ImageContent("image/jpeg", UrlSource("https://example.com/cat.jpg"))
    assert ImageContent.from_url("https://example.com/cat").mime_type == "image/*"
    # Keyword names are unchanged.
    assert ImageContent.from_base64(mime_type="image/png", data=PNG) == inline


def test_the_old_from_base64_order_still_works_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"takes \(data, mime_type\)"):
        assert ImageContent.from_base64("image/png", PNG) == ImageContent.from_base64(PNG, "image/png")


def test_line_wrapped_base64_is_accepted_and_compacted() -> None:
    wrapped = "\n".join(PNG[i : i + 8] for i in range(0, len(PNG), 8))
    assert ImageContent.from_base64(wrapped, "image/png") == ImageContent.from_base64(PNG, "image/png")


@pytest.mark.parametrize(
    ("data", "mime_type", "message"),
    [
        ("not base64!", "image/png", "not valid base64"),
        ("QUJ", "image/png", "not valid base64"),  # missing padding
        ("", "image/png", "empty"),
        (PNG, "png", "must be an image type"),
        (PNG, "application/pdf", "must be an image type"),
        (PNG, "image/png; charset=x", "must be an image type"),
        (f"data:image/gif;base64,{PNG}", "image/png", "differs from the data URL's 'image/gif'"),
    ],
)
def test_from_base64_refuses_bad_input_with_the_fix(data: str, mime_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"ImageContent\.from_base64: ") as info:
        ImageContent.from_base64(data, mime_type)
    assert message in str(info.value)


def test_from_base64_refuses_bytes_naming_the_encoding() -> None:
    with pytest.raises(TypeError, match=r"base64.b64encode\(raw\).decode\(\)"):
        ImageContent.from_base64(b"\x89PNG", "image/png")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("image/png", "'image/png' is a MIME type, not a URL"),
        ("cat.png", "is not a URL"),
        ("https://example.com/a cat.png", "is not a URL"),
        ("data:image/png,rawbytes", "must look like 'data:image/png;base64,<data>'"),
        ("data:text/plain;base64,aGk=", "must be an image type"),
        ("data:image/png;base64,@@@", "not valid base64"),
    ],
)
def test_from_url_refuses_what_is_not_an_image_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"ImageContent\.from_url: ") as info:
        ImageContent.from_url(url)
    assert message in str(info.value)


def test_from_url_accepts_a_data_url_and_takes_its_type() -> None:
    image = ImageContent.from_url(f"data:image/webp;base64,{PNG}")
    assert image == ImageContent("image/webp", DataUrlSource(f"data:image/webp;base64,{PNG}"))
    with pytest.raises(ValueError, match="differs"):
        ImageContent.from_url(f"data:image/webp;base64,{PNG}", "image/png")


def test_the_constructor_checks_the_mime_type_and_the_source() -> None:
    with pytest.raises(ValueError, match="mime_type must be an image type"):
        ImageContent("https://example.com/cat.png", UrlSource("https://example.com/cat.png"))
    with pytest.raises(TypeError, match="source must be a DataUrlSource, UrlSource or SessionFileSource"):
        ImageContent("image/png", "https://example.com/cat.png")  # type: ignore[arg-type]


def test_images_still_round_trip_through_messages() -> None:
    message = Message.user([ImageContent.from_base64(PNG, "image/png"), ImageContent.from_url("https://e/x.png")])
    assert Message.from_dict(message.to_dict()) == message
