"""Accumulating streamed text in pieces: the same text as joining a list, at any count."""

from __future__ import annotations

import pytest

from steer_sync._providers._pieces import _JOIN_EVERY, Pieces


@pytest.mark.parametrize("count", [0, 1, _JOIN_EVERY - 1, _JOIN_EVERY, _JOIN_EVERY + 1, 3 * _JOIN_EVERY + 7])
def test_text_is_every_piece_in_order(count: int) -> None:
    pieces = Pieces()
    added = [f"<{i}>" for i in range(count)]
    for piece in added:
        pieces.add(piece)
    assert pieces.text() == "".join(added)
    assert pieces.text() == "".join(added)  # reading twice changes nothing
    assert bool(pieces) is (count > 0)


def test_adding_after_reading_continues_the_text() -> None:
    pieces = Pieces()
    for i in range(2 * _JOIN_EVERY):
        pieces.add(str(i % 10))
    first = pieces.text()
    pieces.add("end")
    assert pieces.text() == first + "end"


def test_empty_pieces_count_as_no_text() -> None:
    pieces = Pieces()
    for _ in range(_JOIN_EVERY + 1):
        pieces.add("")
    assert not pieces
    assert pieces.text() == ""
