"""Chunking long documents (FR-016): documents over 5000 words become chunks of 2000-3000
tokens overlapping by 200-300 tokens, cut at paragraph, else sentence, else word boundaries,
each an exact slice of the document's text."""

from __future__ import annotations

import random
import re
import time
from itertools import pairwise

import pytest

from server.documents.chunking import TextChunk, chunk_text
from server.llm.tokens import count_tokens

WORDS = [
    *("program", "budget", "region", "clinic", "survey", "outcome", "policy", "household"),
    *("income", "school", "teacher", "district", "council", "report", "evaluation", "trial"),
    *("cohort", "baseline", "follow-up", "variance", "estimate", "sample", "interview"),
    *("respondent", "village", "market", "price", "harvest", "rainfall", "migration"),
]


def sentence(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return body[0].upper() + body[1:] + rng.choice([".", ".", ".", "?", "!"])


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng, rng.randint(6, 24)) for _ in range(sentences))


def document(paragraphs: int, *, seed: int = 7, sentences: tuple[int, int] = (2, 8)) -> str:
    rng = random.Random(seed)
    return "\n\n".join(paragraph(rng, rng.randint(*sentences)) for _ in range(paragraphs))


def assert_well_formed(text: str, chunks: list[TextChunk]) -> None:
    """Exact slices, ordinals 0..n-1, the whole text covered, sizes and overlaps in bounds,
    no boundary inside a word."""
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.token_count == count_tokens(chunk.text)
        assert chunk.token_count <= 3000
        assert not chunk.text[:1].isspace()
        assert not chunk.text[-1:].isspace()
    for chunk in chunks[:-1]:
        assert chunk.token_count >= 2000
        assert text[chunk.end].isspace()
    for previous, following in pairwise(chunks):
        assert previous.start < following.start < previous.end
        assert text[following.start - 1].isspace()
        overlap = count_tokens(text[following.start : previous.end])
        assert 200 <= overlap <= 300


def test_a_document_of_5000_words_or_fewer_is_not_chunked() -> None:
    text = " ".join(["word"] * 5000)

    assert chunk_text(text) == []
    assert chunk_text("A short note.") == []


def test_a_long_document_is_cut_at_paragraph_ends_with_overlapping_chunks() -> None:
    text = document(400)
    assert len(text.split()) > 5000

    chunks = chunk_text(text)

    assert len(chunks) >= 3
    assert_well_formed(text, chunks)
    for chunk in chunks[:-1]:
        assert text[chunk.end : chunk.end + 2] == "\n\n"
    for chunk in chunks[1:]:
        # The overlap starts at a sentence start.
        assert re.search(r"[.?!]\s$", text[: chunk.start])


def test_a_single_giant_paragraph_is_cut_at_sentence_ends() -> None:
    text = document(1, sentences=(900, 900))
    assert "\n" not in text

    chunks = chunk_text(text)

    assert_well_formed(text, chunks)
    for chunk in chunks[:-1]:
        assert chunk.text[-1] in ".?!"
    for chunk in chunks[1:]:
        assert chunk.text[0].isupper()


def test_a_document_of_8500_tokens_becomes_four_chunks_of_about_2300_tokens() -> None:
    text = document(105)
    assert 8400 < count_tokens(text) < 8700

    chunks = chunk_text(text)

    assert_well_formed(text, chunks)
    assert len(chunks) == 4
    assert all(2200 <= chunk.token_count <= 2450 for chunk in chunks)


@pytest.mark.parametrize("paragraphs", [110, 160, 230, 600])
def test_the_chunks_of_a_long_document_are_about_equal_the_last_included(paragraphs: int) -> None:
    text = document(paragraphs, seed=paragraphs)

    chunks = chunk_text(text)

    assert_well_formed(text, chunks)
    sizes = [chunk.token_count for chunk in chunks]
    assert max(sizes) - min(sizes) <= 0.15 * sum(sizes) / len(sizes)


def test_text_without_sentence_punctuation_is_cut_between_words() -> None:
    rng = random.Random(3)
    text = " ".join(rng.choice(WORDS) for _ in range(12000))

    chunks = chunk_text(text)

    assert_well_formed(text, chunks)


def test_page_breaks_count_as_paragraph_breaks() -> None:
    pages = [document(15, seed=seed).replace("\n\n", " ") for seed in range(14)]
    text = "\n\f\n".join(pages)

    chunks = chunk_text(text)

    assert_well_formed(text, chunks)
    for chunk in chunks[:-1]:
        assert text[chunk.end : chunk.end + 3] == "\n\f\n"


def test_a_run_of_characters_without_spaces_is_cut_where_it_must_be() -> None:
    text = "x" * 30000 + " " + " ".join(["word"] * 6000)

    chunks = chunk_text(text)

    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    assert all(chunk.text == text[chunk.start : chunk.end] for chunk in chunks)
    assert all(chunk.token_count <= 3000 for chunk in chunks)


def test_other_sizes_can_be_asked_for() -> None:
    text = document(300)

    chunks = chunk_text(
        text, min_tokens=500, max_tokens=800, overlap_tokens=100, threshold_words=1000
    )

    assert len(chunks) > 10
    for chunk in chunks[:-1]:
        assert 500 <= chunk.token_count <= 800
    for previous, following in pairwise(chunks):
        assert 80 <= count_tokens(text[following.start : previous.end]) <= 120


def test_impossible_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="min_tokens"):
        chunk_text("text", min_tokens=3000, max_tokens=2000)
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("text", min_tokens=300, max_tokens=400, overlap_tokens=300)


def test_a_million_character_document_is_chunked_in_linear_time() -> None:
    text = document(2000, seed=11)[:1_000_000]
    assert len(text) == 1_000_000

    started = time.perf_counter()
    chunks = chunk_text(text)
    elapsed = time.perf_counter() - started

    assert_well_formed(text, chunks)
    assert elapsed < 5
