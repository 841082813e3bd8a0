"""Paragraph splitting: blank lines, single newlines, short fragments merged, long ones split by sentence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storycluster import split_paragraphs


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


def test_blank_lines_separate_paragraphs_and_single_newlines_are_joined():
    text = f"{words(30, 'a')}\n{words(5, 'b')}\n\n{words(30, 'c')}"
    assert split_paragraphs(text) == [f"{words(30, 'a')} {words(5, 'b')}", words(30, "c")]


def test_single_newlines_separate_when_there_is_no_blank_line():
    text = f"{words(30, 'a')}\n{words(30, 'b')}"
    assert split_paragraphs(text) == [words(30, "a"), words(30, "b")]


def test_short_fragments_merge_into_the_next_paragraph_and_the_last_into_the_previous():
    text = f"Dateline May 3\n\n{words(30, 'a')}\n\n{words(30, 'b')}\n\nByline"
    assert split_paragraphs(text) == [f"Dateline May 3 {words(30, 'a')}", f"{words(30, 'b')} Byline"]


def test_long_paragraphs_split_at_sentence_ends_without_losing_words():
    sentence = "The storm reached the coast on Monday and forced thousands to leave their homes."
    text = " ".join([sentence] * 30)
    pieces = split_paragraphs(text, max_words=40)
    assert all(len(p.split()) <= 40 for p in pieces) and len(pieces) > 5
    assert all(p.endswith("homes.") for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_a_sentence_longer_than_the_window_is_cut_by_words():
    pieces = split_paragraphs(words(100), max_words=30)
    assert [len(p.split()) for p in pieces] == [30, 30, 30, 10]


def test_a_short_sentence_before_an_over_long_one_keeps_its_place():
    assert split_paragraphs(". 0 0", min_words=0, max_words=1) == [".", "0", "0"]


def test_empty_and_tiny_texts():
    assert split_paragraphs("  \n\n ") == []
    assert split_paragraphs("Short.") == ["Short."]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=16, max_value=200))
def test_no_text_is_lost_or_invented_on_arbitrary_unicode(text, max_words):
    pieces = split_paragraphs(text, max_words=max_words)
    assert " ".join(pieces).split() == text.split()
    assert all(0 < len(piece.split()) <= max_words for piece in pieces)
