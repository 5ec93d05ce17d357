"""Splitting a long document into overlapping chunks sized for one model call (FR-016).

A chunk ends where the text pauses most: at a paragraph break, else a sentence end, else
between words; the next chunk starts a couple of hundred tokens earlier, at the start of a
sentence when one is in reach, so a fact cut by the boundary is whole in one of the two.
Each chunk is an exact slice of the document's text, so offsets point back into it.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from server.llm.tokens import count_tokens, encoding

# Breaks between units of text, strongest first. A blank line or a form feed (a PDF's page
# break) ends a paragraph. A sentence ends at . ! ? (or their CJK forms) with any closing
# quotes or brackets, before whitespace; a single line break (list items, table rows, headings)
# counts as much.
_PARAGRAPH, _SENTENCE, _WORD = 3, 2, 1
_WHITESPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?\u2026]['\"\u201d\u2019\u00bb)\]]*$")
_CJK_SENTENCE_END = re.compile(r"[\u3002\uff01\uff1f]")
# Planned sizes keep this far inside the bounds: counts over a slice can differ by a token or
# two from the sum over the whole text's tokens at the slice's edges.
_MARGIN = 8


@dataclass(frozen=True, slots=True)
class TextChunk:
    ordinal: int
    text: str
    start: int
    end: int
    token_count: int


@dataclass(frozen=True, slots=True)
class _Break:
    """A pause in the text: [start, end) is the whitespace (empty after CJK punctuation)."""

    start: int
    end: int
    strength: int


def chunk_text(
    text: str,
    *,
    min_tokens: int = 2000,
    max_tokens: int = 3000,
    overlap_tokens: int = 250,
    threshold_words: int = 5000,
    max_overlap_deviation: float = 0.2,
) -> list[TextChunk]:
    """The chunks of a document longer than `threshold_words` words; [] for shorter ones.

    Chunks hold `min_tokens`..`max_tokens` tokens (the last may hold fewer) and consecutive
    chunks share about `overlap_tokens` tokens (within `max_overlap_deviation` of it, e.g.
    200-300 for 250). The text is tokenised once; sizes come from prefix counts, so a
    million-character document is chunked in about a second.
    """
    if not 0 < min_tokens <= max_tokens:
        raise ValueError("need 0 < min_tokens <= max_tokens")
    overlap_low = int(overlap_tokens * (1 - max_overlap_deviation))
    overlap_high = int(overlap_tokens * (1 + max_overlap_deviation))
    if not 0 <= overlap_low <= overlap_high < min_tokens - 2 * _MARGIN:
        raise ValueError("the overlap must be well below min_tokens")
    if len(text.split()) <= threshold_words:
        return []
    planner = _Planner(text)
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        if planner.tokens(start, len(text)) <= max_tokens - _MARGIN:
            spans.append((start, len(text)))
            break
        end = planner.chunk_end(start, min_tokens + _MARGIN, max_tokens - _MARGIN)
        spans.append((start, end))
        start = planner.next_start(
            start, end, overlap_low + _MARGIN // 2, overlap_high - _MARGIN // 2, overlap_tokens
        )
    return [
        TextChunk(ordinal, text[s:e], s, e, count_tokens(text[s:e]))
        for ordinal, (s, e) in enumerate(spans)
    ]


class _Planner:
    """Token positions and breaks of one text, for choosing chunk boundaries."""

    def __init__(self, text: str) -> None:
        self._length = len(text)
        tokens = encoding().encode(text, disallowed_special=())
        # Character offset where each token starts; tokens before a position = bisect.
        _, offsets = encoding().decode_with_offsets(tokens)
        self._token_starts = offsets
        self._breaks = _breaks(text)
        self._break_starts = [pause.start for pause in self._breaks]
        self._break_ends = [pause.end for pause in self._breaks]

    def _position(self, offset: int) -> int:
        """Tokens that start before a character offset."""
        return bisect_left(self._token_starts, offset)

    def tokens(self, start: int, end: int) -> int:
        return self._position(end) - self._position(start)

    def _offset_after(self, start: int, count: int) -> int:
        """The character offset `count` tokens after `start` (the end of the text at most)."""
        index = self._position(start) + count
        if index >= len(self._token_starts):
            return self._length
        return self._token_starts[index]

    def chunk_end(self, start: int, low: int, high: int) -> int:
        """Where a chunk starting at `start` ends: the strongest break whose chunk holds
        low..high tokens, the latest of equals; without one, a cut between tokens."""
        first = bisect_left(self._break_starts, self._offset_after(start, low))
        last = bisect_right(self._break_starts, self._offset_after(start, high)) - 1
        best: _Break | None = None
        for pause in self._breaks[first : last + 1]:
            if pause.start <= start or not low <= self.tokens(start, pause.start) <= high:
                continue
            if best is None or pause.strength >= best.strength:
                best = pause
        if best is not None:
            return best.start
        # One "word" longer than a chunk (a data blob, text without spaces): cut it.
        return self._offset_after(start, (low + high) // 2)

    def next_start(self, start: int, end: int, low: int, high: int, target: int) -> int:
        """Where the chunk after [start, end) starts: after a break low..high tokens before
        `end`, preferring sentence and paragraph starts, then the overlap nearest `target`."""
        first = bisect_left(self._break_ends, self._offset_before(end, high))
        last = bisect_right(self._break_ends, self._offset_before(end, low))
        best: tuple[int, int] | None = None
        best_start = -1
        for pause in self._breaks[first : last + 1]:
            if not start < pause.end < end:
                continue
            overlap = self.tokens(pause.end, end)
            if not low <= overlap <= high:
                continue
            rank = (pause.strength, -abs(overlap - target))
            if best is None or rank > best:
                best, best_start = rank, pause.end
        if best is not None:
            return best_start
        return self._offset_before(end, target)

    def _offset_before(self, end: int, count: int) -> int:
        index = max(self._position(end) - count, 0)
        return self._token_starts[index] if self._token_starts else 0


def _breaks(text: str) -> list[_Break]:
    found: list[_Break] = []
    for match in _WHITESPACE.finditer(text):
        start, end = match.span()
        if start == 0 or end == len(text):
            continue
        gap = match.group()
        if gap.count("\n") > 1 or "\f" in gap:
            strength = _PARAGRAPH
        elif "\n" in gap or _SENTENCE_END.search(text, max(start - 4, 0), start):
            strength = _SENTENCE
        else:
            strength = _WORD
        found.append(_Break(start, end, strength))
    # CJK text has no spaces: a sentence ends at its full stop.
    for match in _CJK_SENTENCE_END.finditer(text):
        position = match.end()
        if 0 < position < len(text) and not text[position].isspace():
            found.append(_Break(position, position, _SENTENCE))
    found.sort(key=lambda pause: pause.start)
    return found
