"""Splitting a long document into overlapping chunks sized for one model call (FR-016).

The document is cut into as few chunks as the size limit allows, of about equal size (an
8,500-token text gives four chunks of about 2,300 tokens, not three full ones and a scrap).
A chunk ends where the text pauses most, among the ends that leave the chunks after it within
the limits, and nearest that size: at a paragraph break, else a sentence end, else between
words. The next chunk starts a couple of hundred tokens earlier, at the start of a sentence
when one is in reach, so a fact cut by the boundary is whole in one of the two. Each chunk is
an exact slice of the document's text, so offsets point back into it.
"""

from __future__ import annotations

import heapq
import math
import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from server.llm.tokens import count_tokens, encoding

# Breaks between units of text, strongest first. A blank line or a form feed (a PDF's page
# break) ends a paragraph. A sentence ends at . ! ? (or their CJK forms) with any closing
# quotes or brackets, before whitespace; a single line break (list items, table rows, headings)
# counts as much.
_PARAGRAPH, _SENTENCE, _WORD = 3, 2, 1
_WHITESPACE = re.compile(r"\s+")
# A word as str.split() sees one.
_WORD_RUN = re.compile(r"\S+")
# The text is tokenised in pieces of about this many characters, cut before a single space
# between two words, where a token never spans the cut (the tokenizer starts a token at such
# a space), so the tokens are those of the whole text without holding them all at once.
_TOKENISE_CHARS = 1 << 20
_SAFE_CUT = re.compile(r"(?<=\S) (?=\S)")
_SENTENCE_END = re.compile(r"[.!?\u2026]['\"\u201d\u2019\u00bb)\]]*$")
_CJK_SENTENCE_END = re.compile(r"[\u3002\uff01\uff1f]")
# Planned sizes keep this far inside the bounds: counts over a slice can differ by a token or
# two from the sum over the whole text's tokens at the slice's edges.
_MARGIN = 8
# Chunks are planned this far (a share of their size) below the limit, taken together, so that
# each can end at a paragraph break a little off its planned size.
_ROOM = 0.1


@dataclass(frozen=True, slots=True)
class TextChunk:
    ordinal: int
    text: str
    start: int
    end: int
    token_count: int


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
    200-300 for 250). Their number is the fewest that fit with a little room to end at a
    paragraph break (one more when they would all be full), and their sizes about equal. The
    text is tokenised once; sizes come from prefix counts, so a million-character document is
    chunked in about a second.
    """
    if not 0 < min_tokens <= max_tokens:
        raise ValueError("need 0 < min_tokens <= max_tokens")
    overlap_low = int(overlap_tokens * (1 - max_overlap_deviation))
    overlap_high = int(overlap_tokens * (1 + max_overlap_deviation))
    if not 0 <= overlap_low <= overlap_high < min_tokens - 2 * _MARGIN:
        raise ValueError("the overlap must be well below min_tokens")
    if count_words(text, stop_after=threshold_words + 1) <= threshold_words:
        return []
    planner = _Planner(text)
    low, high = min_tokens + _MARGIN, max_tokens - _MARGIN
    # Counted with the largest overlap, so that the text always fits in the chunks counted.
    planned = _chunk_count(planner.tokens(0, len(text)), overlap_high, low, high)
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        remaining = planner.tokens(start, len(text))
        if remaining <= high:
            spans.append((start, len(text)))
            break
        # Sized afresh at each chunk, so a boundary off the plan is made up by the rest.
        count = max(
            planned - len(spans), math.ceil((remaining - overlap_high) / (high - overlap_high))
        )
        target = _target(remaining, count, overlap_high, low, high)
        # A chunk may end short of its target, or past it, by what the chunks after it can
        # take on or give up and still hold low..high tokens.
        window = (target - (count - 1) * (high - target), target + (count - 1) * (target - low))
        end = planner.chunk_end(start, low, high, target, window)
        spans.append((start, end))
        start = planner.next_start(
            start, end, overlap_low + _MARGIN // 2, overlap_high - _MARGIN // 2, overlap_tokens
        )
    return [
        TextChunk(ordinal, text[s:e], s, e, count_tokens(text[s:e]))
        for ordinal, (s, e) in enumerate(spans)
    ]


def count_words(text: str, *, stop_after: int | None = None) -> int:
    """The words of a text, as len(text.split()) counts them but without building the list (a
    long document's would take several times its text's memory); at most `stop_after`."""
    return sum(1 for _ in islice(_WORD_RUN.finditer(text), stop_after))


def _chunk_count(tokens: int, overlap: int, low: int, high: int) -> int:
    """The fewest chunks that hold `tokens` with room to end each at a paragraph break."""
    count = math.ceil((tokens - overlap) / (high - overlap))
    target = _target(tokens, count, overlap, low, high)
    if (count - 1) * (high - target) < target * _ROOM:
        count += 1
    return count


def _target(remaining: int, count: int, overlap: int, low: int, high: int) -> int:
    """The size of each of `count` chunks sharing `overlap` tokens that cover `remaining`."""
    return min(max((remaining + (count - 1) * overlap) // count, low), high)


class _Planner:
    """Token positions and breaks of one text, for choosing chunk boundaries: kept in arrays of
    machine integers (a list of Python objects per token and per break would take ten times a
    long document's text)."""

    def __init__(self, text: str) -> None:
        self._length = len(text)
        # Character offset where each token starts; tokens before a position = bisect.
        self._token_starts = _token_starts(text)
        # Each break's whitespace [start, end) (empty after CJK punctuation) and strength.
        self._break_starts = array("q")
        self._break_ends = array("q")
        self._break_strengths = array("b")
        for start, end, strength in _breaks(text):
            self._break_starts.append(start)
            self._break_ends.append(end)
            self._break_strengths.append(strength)

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

    def chunk_end(
        self, start: int, low: int, high: int, target: int, window: tuple[int, int]
    ) -> int:
        """Where a chunk starting at `start` ends: a break whose chunk holds low..high tokens,
        the strongest whose size is in `window`, else the nearest to `target` tokens; the
        nearest of equals. Without one, a cut between tokens."""
        first = bisect_left(self._break_starts, self._offset_after(start, low))
        last = bisect_right(self._break_starts, self._offset_after(start, high)) - 1
        best: tuple[bool, int, int] | None = None
        best_start = -1
        for index in range(first, last + 1):
            pause_start = self._break_starts[index]
            size = self.tokens(start, pause_start)
            if pause_start <= start or not low <= size <= high:
                continue
            fits = window[0] <= size <= window[1]
            rank = (fits, self._break_strengths[index] if fits else 0, -abs(size - target))
            if best is None or rank > best:
                best, best_start = rank, pause_start
        if best is not None:
            return best_start
        # One "word" longer than a chunk (a data blob, text without spaces): cut it.
        return self._offset_after(start, target)

    def next_start(self, start: int, end: int, low: int, high: int, target: int) -> int:
        """Where the chunk after [start, end) starts: after a break low..high tokens before
        `end`, preferring sentence and paragraph starts, then the overlap nearest `target`."""
        first = bisect_left(self._break_ends, self._offset_before(end, high))
        last = bisect_right(self._break_ends, self._offset_before(end, low))
        best: tuple[int, int] | None = None
        best_start = -1
        for index in range(first, min(last + 1, len(self._break_ends))):
            pause_end = self._break_ends[index]
            if not start < pause_end < end:
                continue
            overlap = self.tokens(pause_end, end)
            if not low <= overlap <= high:
                continue
            rank = (self._break_strengths[index], -abs(overlap - target))
            if best is None or rank > best:
                best, best_start = rank, pause_end
        if best is not None:
            return best_start
        return self._offset_before(end, target)

    def _offset_before(self, end: int, count: int) -> int:
        index = max(self._position(end) - count, 0)
        return self._token_starts[index] if self._token_starts else 0


def _token_starts(text: str) -> array[int]:
    """The character offset where each of the text's tokens starts, tokenised piece by
    piece."""
    starts: array[int] = array("q")
    begin = 0
    while begin < len(text):
        cut = _SAFE_CUT.search(text, begin + _TOKENISE_CHARS)
        end = cut.start() if cut else len(text)
        tokens = encoding().encode(text[begin:end], disallowed_special=())
        _, offsets = encoding().decode_with_offsets(tokens)
        starts.extend(begin + offset for offset in offsets)
        begin = end
    return starts


def _breaks(text: str) -> Iterator[tuple[int, int, int]]:
    """The pauses in the text in order: (start, end, strength)."""
    return heapq.merge(_whitespace_breaks(text), _cjk_breaks(text))


def _whitespace_breaks(text: str) -> Iterator[tuple[int, int, int]]:
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
        yield start, end, strength


def _cjk_breaks(text: str) -> Iterator[tuple[int, int, int]]:
    """CJK text has no spaces: a sentence ends at its full stop (never where a whitespace
    break starts, so the two merge without ties)."""
    for match in _CJK_SENTENCE_END.finditer(text):
        position = match.end()
        if 0 < position < len(text) and not text[position].isspace():
            yield position, position, _SENTENCE
