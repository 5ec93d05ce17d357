"""Locating the passage a model quoted (source_text) in the document it read.

A quote is EXACT when it occurs verbatim. Otherwise both sides are normalised the way text
drifts between a PDF's extraction and a model's copy of it (case, runs of whitespace,
line-break hyphenation, soft hyphens, decomposed accents, typographic quotes and dashes, the
ellipsis character) and a match there is FUZZY; so is a quote the model shortened with "..."
and a long quote in which it changed a word or two (but no number). Offsets always point
into the original text. The normalised document is cached: each of its variables searches it.

Where: the chunk the answer came from is searched first, then the whole document. A quote
found at several places there is AMBIGUOUS, with the number of places: the offsets point at
the first, and nothing pretends that it is the one meant. A quote of one word is weak
evidence however it matched: it shows where a word occurs, not that the passage supports
the value.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from server.jobs.models import EvidenceMatch

# Characters replaced one for one, so that offsets do not move: every kind of whitespace by
# a space, typographic dashes by "-", and every quotation mark or apostrophe by "'" (a model
# may swap double for single quotes; both sides are normalised alike, so "don't" meeting
# 'don"t' is harmless).
_WHITESPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_QUOTES = (
    '"`\u00b4\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033\u2039\u203a'
    "\u00ab\u00bb\uff02\uff07"
)
_ONE_FOR_ONE = {
    **{char: " " for char in _WHITESPACE if char != " "},
    **{char: "-" for char in _DASHES},
    **{char: "'" for char in _QUOTES},
}
# Characters whose case folding is several characters ("ß" is "ss", the ligature "ﬁ" is
# "fi"). None lies beyond the Basic Multilingual Plane; _normalise checks it all the same.
_WIDE_FOLDS = "".join(char for char in map(chr, range(0x10000)) if len(char.casefold()) > 1)
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
# What changes the length of the text. Separate scans, each led by a character class, are
# several times faster than one alternation (which would stop at every space).
_LINE_END = re.compile(r"[-\u00ad\u2010\u2011][^\S\n]*\n\s*")  # hyphen, line break
_SPACES = re.compile("  +")  # after the one-for-one replacements
_HYPHEN = re.compile("- ?")  # in a quote, with the space after it
# Combining marks after a letter: "e" + U+0301 is "é", as PDFs from some systems spell it.
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_COMBINING_MARK = re.compile(f"[{_COMBINING}]")
_CHARACTER = re.compile(f"[{_INVISIBLE}\u2026{re.escape(_WIDE_FOLDS)}{_COMBINING}]")
# The fallback when some character outside _WIDE_FOLDS folds to several: every non-ASCII
# character is then replaced on its own.
_CHARACTER_SLOW = re.compile(r"[^\x00-\x7f]")
# What a model adds around a quote: whitespace, quotation marks, an opening ellipsis, closing
# punctuation. Applied after normalisation (quotes are "'" then, the ellipsis "...").
_QUOTE_LEAD = " '."
_QUOTE_TRAIL = " '.,;:!?"
_ELISION = re.compile(r"\s*[\[(]?\.{3,}[\])]?\s*")
# A quote elided with "..." matches when each next part starts this close to the last.
_MAX_ELIDED_GAP = 600
# The approximate match: for quotes this long, at this similarity, anchored on the rarest of
# a few long words (each occurring at most _MAX_ANCHOR_HITS times) to stay fast.
_APPROXIMATE_MIN_LENGTH = 40
_APPROXIMATE_MIN_RATIO = 0.9
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_ANCHOR_MIN_LENGTH = 5
_ANCHOR_CANDIDATES = 8
_ANCHORS = 3
_MAX_ANCHOR_HITS = 20
_MIN_SHARED_WORDS = 0.5
_NORMALISED_CACHE_SIZE = 8


@dataclass(frozen=True)
class Evidence:
    """Where a quote was found: text[start:end] of the original text, or no offsets."""

    match: EvidenceMatch
    start: int | None = None
    end: int | None = None
    # The places the quote was found in the region it was placed from (its chunk, else the
    # document), counted up to MAX_CANDIDATES; more than one: AMBIGUOUS.
    candidates: int = 0
    # A quote of one word: weak evidence whatever the match.
    weak: bool = False


NO_QUOTE = Evidence(EvidenceMatch.NO_QUOTE)
NOT_FOUND = Evidence(EvidenceMatch.NOT_FOUND)
# A quote found in the text, with offsets.
LOCATED = frozenset({EvidenceMatch.EXACT, EvidenceMatch.FUZZY, EvidenceMatch.AMBIGUOUS})
# Counting stops here: "20 or more places" says all a reviewer needs.
MAX_CANDIDATES = 20
# From the strongest evidence to the weakest: an extraction's evidence is its weakest value's.
STRENGTH = (
    EvidenceMatch.EXACT,
    EvidenceMatch.FUZZY,
    EvidenceMatch.AMBIGUOUS,
    EvidenceMatch.NO_QUOTE,
    EvidenceMatch.NOT_FOUND,
)


@dataclass(frozen=True)
class ValueEvidence:
    """The passage quoted for one value, and where it was found."""

    source_text: str | None
    evidence: Evidence


def evidence_rows(items: Sequence[ValueEvidence]) -> list[dict[str, Any]]:
    """Each value's evidence as stored (extractions.value_evidence)."""
    return [
        {
            "source_text": item.source_text,
            "start": item.evidence.start,
            "end": item.evidence.end,
            "match": item.evidence.match.value,
            "candidates": item.evidence.candidates,
            "weak": item.evidence.weak,
        }
        for item in items
    ]


def stored_evidence(
    rows: Sequence[Mapping[str, Any]] | None, first: ValueEvidence
) -> tuple[ValueEvidence, ...]:
    """Each value's evidence from its stored rows; `first` alone (the extraction's own quote)
    for extractions stored before evidence was kept per value."""
    if rows is None:
        return (first,) if first.evidence.match is not EvidenceMatch.NO_QUOTE else ()
    return tuple(
        ValueEvidence(
            row.get("source_text"),
            Evidence(
                EvidenceMatch(row["match"]),
                row.get("start"),
                row.get("end"),
                candidates=int(row.get("candidates") or 0),
                weak=bool(row.get("weak")),
            ),
        )
        for row in rows
    )


def weakest(evidences: Sequence[Evidence]) -> Evidence:
    """The evidence of the value least well supported (the first of equals)."""
    return max(evidences, key=lambda evidence: STRENGTH.index(evidence.match))


def locate(quote: str | None, text: str, *, within: tuple[int, int] | None = None) -> Evidence:
    """Find the quote in the text: in the span `within` (a chunk's offsets) first, verbatim
    then normalised, then likewise in the whole text."""
    if quote is None or not quote.strip():
        return NO_QUOTE
    verbatim = quote.strip()
    wanted = _normalise(quote).text.lstrip(_QUOTE_LEAD).rstrip(_QUOTE_TRAIL)
    weak = len(wanted.split()) < 2
    document = _normalised(text)
    for low, high in _regions(len(text), within):
        normalised_low, normalised_high = document.to_normalised(low, high)
        # Every place the quote occurs up to normalisation, verbatim ones included: a
        # verbatim place is preferred, but another that differs by a line break is as likely.
        places = _on_word_edges(
            document.text, [*_occurrences(document.text, wanted, normalised_low, normalised_high)]
        )
        exact = _on_word_edges(text, _exact_occurrences(text, verbatim, low, high))
        if exact:
            return _placed(exact[0], max(len(exact), len(places)), weak, exact=True)
        if not wanted:
            continue
        for search in (_find_elided, _find_approximate):
            if places:
                break
            found = search(document.text, wanted, normalised_low, normalised_high)
            if found is not None:
                places = [found]
        if places:
            start, end = places[0]
            original = (document.to_original_start(start), document.to_original_end(end))
            return _placed(original, len(places), weak, exact=False)
    return NOT_FOUND


def _exact_occurrences(text: str, quote: str, low: int, high: int) -> list[tuple[int, int]]:
    """The verbatim occurrences of the quote in text[low:high], up to MAX_CANDIDATES."""
    found: list[tuple[int, int]] = []
    start = text.find(quote, low, high)
    while start >= 0 and len(found) < MAX_CANDIDATES:
        found.append((start, start + len(quote)))
        start = text.find(quote, start + 1, high)
    return found


def _on_word_edges(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans that neither begin nor end inside a word ("plan" in "explanation"); all of
    them when none does (a model may cut a word short)."""
    whole = [
        (start, end)
        for start, end in spans
        if not (start > 0 and text[start - 1].isalnum() and text[start].isalnum())
        and not (end < len(text) and text[end].isalnum() and text[end - 1].isalnum())
    ]
    return whole or spans


def _placed(span: tuple[int, int], places: int, weak: bool, *, exact: bool) -> Evidence:
    start, end = span
    if places > 1:
        match = EvidenceMatch.AMBIGUOUS
    else:
        match = EvidenceMatch.EXACT if exact else EvidenceMatch.FUZZY
    return Evidence(match, start, end, candidates=places, weak=weak)


def _regions(length: int, within: tuple[int, int] | None) -> list[tuple[int, int]]:
    if within is None:
        return [(0, length)]
    low = min(max(within[0], 0), length)
    high = min(max(within[1], low), length)
    return [(low, high), (0, length)] if (low, high) != (0, length) else [(0, length)]


# --- normalised text and its map back to the original -------------------------------------


@dataclass(frozen=True)
class _Normalised:
    """A normalised text and the map of its positions to the original's.

    The text is a sequence of segments: a verbatim segment has the length of the original
    it stands for (the one-for-one replacements and case folding keep lengths), a replaced
    one (a whitespace run, a line-end hyphen, "..." for the ellipsis) may not, and maps as a
    whole to its original span.
    """

    text: str
    starts: list[int]  # of each segment in the normalised text (non-decreasing)
    original_starts: list[int]  # of each segment in the original text (increasing)
    original_ends: list[int]
    verbatim: list[bool]

    def to_original_start(self, position: int) -> int:
        segment = bisect_right(self.starts, position) - 1
        if self.verbatim[segment]:
            return self.original_starts[segment] + position - self.starts[segment]
        return self.original_starts[segment]

    def to_original_end(self, position: int) -> int:
        last = position - 1
        segment = bisect_right(self.starts, last) - 1
        if self.verbatim[segment]:
            return self.original_starts[segment] + last - self.starts[segment] + 1
        return self.original_ends[segment]

    def to_normalised(self, low: int, high: int) -> tuple[int, int]:
        """The normalised span covering the original span [low, high)."""
        return self._position(low, start=True), self._position(high, start=False)

    def _position(self, original: int, *, start: bool) -> int:
        segment = bisect_right(self.original_starts, original) - 1
        if segment < 0:
            return 0
        if original >= self.original_ends[segment]:
            return self._end(segment)
        if self.verbatim[segment]:
            return self.starts[segment] + original - self.original_starts[segment]
        # Inside a replaced segment: take all of it.
        return self.starts[segment] if start else self._end(segment)

    def _end(self, segment: int) -> int:
        if segment + 1 < len(self.starts):
            return self.starts[segment + 1]
        return len(self.text)


@functools.lru_cache(maxsize=_NORMALISED_CACHE_SIZE)
def _normalised(text: str) -> _Normalised:
    """The document's normalised text, cached: every variable of a document searches it."""
    return _normalise(text)


def _normalise(text: str) -> _Normalised:
    normalised = _build(text, _CHARACTER)
    if normalised is None:
        normalised = _build(text, _CHARACTER_SLOW)
    if normalised is None:  # cannot happen: every non-ASCII character is then replaced alone
        raise AssertionError("case folding changed the length of the normalised text")
    return normalised


def _build(text: str, characters: re.Pattern[str]) -> _Normalised | None:
    """Normalise the text segment by segment; None when case folding a verbatim segment
    would change its length (then characters must be replaced one by one)."""
    replaced = _replace_one_for_one(text)
    # (start, rank, end, replacement) of each span replaced, by start; at one start, the
    # line-end hyphen wins over the soft hyphen it may begin with. A span overlapping an
    # earlier one is skipped (the spaces after a line-end hyphen are replaced with it).
    changes = sorted(
        [
            *((m.start(), 0, m.end(), _line_end(m, text)) for m in _LINE_END.finditer(text)),
            *((m.start(), 1, m.end(), " ") for m in _SPACES.finditer(replaced)),
            *(_character(m, text) for m in characters.finditer(text)),
        ]
    )
    pieces: list[str] = []
    starts: list[int] = []
    original_starts: list[int] = []
    original_ends: list[int] = []
    verbatim: list[bool] = []
    length = 0

    def add(piece: str, original_start: int, original_end: int, *, same: bool) -> None:
        nonlocal length
        pieces.append(piece)
        starts.append(length)
        original_starts.append(original_start)
        original_ends.append(original_end)
        verbatim.append(same)
        length += len(piece)

    position = 0
    for start, _, end, replacement in changes:
        if start < position:
            continue
        if start > position:
            add(replaced[position:start], position, start, same=True)
        add(replacement, start, end, same=False)
        position = end
    if position < len(text):
        add(replaced[position:], position, len(text), same=True)

    joined = "".join(pieces)
    folded = joined.casefold()
    if len(folded) != len(joined):
        return None
    return _Normalised(folded, starts, original_starts, original_ends, verbatim)


def _replace_one_for_one(text: str) -> str:
    # str.translate leaves its fast path on the first non-ASCII character; a replace per
    # character present is several times faster on long texts.
    for char, replacement in _ONE_FOR_ONE.items():
        if char in text:
            text = text.replace(char, replacement)
    return text


def _line_end(match: re.Match[str], text: str) -> str:
    before = text[match.start() - 1] if match.start() > 0 else ""
    after = text[match.end()] if match.end() < len(text) else ""
    if before.isalnum() and after.isalnum():
        return ""  # "coast-\nal" is "coastal"
    return " " if match.group()[0] == "\u00ad" else "- "


def _character(match: re.Match[str], text: str) -> tuple[int, int, int, str]:
    start, end = match.span()
    char = match.group()
    if char in _INVISIBLE:
        return start, 2, end, ""
    if char == "\u2026":
        return start, 2, end, "..."
    if _COMBINING_MARK.match(char) and start > 0:
        # The letter before and all the marks after it, composed (NFC) where Unicode can;
        # the matches of the following marks overlap this one and are skipped.
        start -= 1
        while end < len(text) and _COMBINING_MARK.match(text, end):
            end += 1
        char = unicodedata.normalize("NFC", text[start:end])
    return start, 2, end, _replace_one_for_one(char).casefold()


# --- searches in the normalised text ------------------------------------------------------
# Each returns the normalised span [start, end) of a match inside [low, high), or None.


def _find(text: str, quote: str, low: int, high: int) -> tuple[int, int] | None:
    if "-" not in quote:
        start = text.find(quote, low, high)
        return None if start < 0 else (start, start + len(quote))
    # A hyphen dropped at a line end ("well-\nknown" reads "wellknown") is optional, and so
    # is the space after it where the model copied the line break as one ("well- known").
    parts = _HYPHEN.split(quote)
    pattern = re.compile("-? ?".join(re.escape(part) for part in parts))
    found = pattern.search(text, low, high)
    return None if found is None else found.span()


def _find_elided(text: str, quote: str, low: int, high: int) -> tuple[int, int] | None:
    """A quote shortened with "...": its parts in order, each close after the last."""
    parts = [part for part in _ELISION.split(quote) if part.strip(_QUOTE_TRAIL)]
    if len(parts) < 2:
        return None
    for first_start, first_end in _occurrences(text, parts[0], low, high):
        end = first_end
        for part in parts[1:]:
            found = _find(text, part, end, min(high, end + _MAX_ELIDED_GAP + len(part)))
            if found is None:
                break
            end = found[1]
        else:
            return first_start, end
    return None


def _occurrences(text: str, quote: str, low: int, high: int) -> Iterator[tuple[int, int]]:
    """The normalised matches of the quote from `low` on, up to MAX_CANDIDATES."""
    if not quote:
        return
    for _ in range(MAX_CANDIDATES):
        found = _find(text, quote, low, high)
        if found is None:
            return
        yield found
        low = found[0] + 1


def _find_approximate(text: str, quote: str, low: int, high: int) -> tuple[int, int] | None:
    """A long quote with a word or two changed, but all its numbers: windows around
    occurrences of the quote's rarest long words, compared character by character."""
    if len(quote) < _APPROXIMATE_MIN_LENGTH:
        return None
    offsets: dict[str, int] = {}
    for found in _WORD.finditer(quote):
        if len(found.group()) >= _ANCHOR_MIN_LENGTH:
            offsets.setdefault(found.group(), found.start())
    longest = sorted(offsets, key=len, reverse=True)[:_ANCHOR_CANDIDATES]
    counted = sorted((text.count(word, low, high), word) for word in longest)
    anchors = [word for count, word in counted if 0 < count <= _MAX_ANCHOR_HITS][:_ANCHORS]

    quote_words = set(_WORD.findall(quote))
    quote_numbers = _DIGITS.findall(quote)
    slack = len(quote) // 10 + 5
    best: tuple[float, int, int] | None = None
    tried: set[int] = set()
    for word in anchors:
        start = text.find(word, low, high)
        while start >= 0:
            window_start = max(low, start - offsets[word] - slack)
            window_end = min(high, window_start + len(quote) + 2 * slack)
            if window_start not in tried:
                tried.add(window_start)
                scored = _similarity(quote, quote_words, text[window_start:window_end])
                if scored is not None and (best is None or scored[0] > best[0]):
                    ratio, start_in_window, end_in_window = scored
                    passage = text[window_start + start_in_window : window_start + end_in_window]
                    # A changed word is forgiven, a changed number is not: "voted 9-0" is
                    # not "voted 7-2", however alike the sentences.
                    if _DIGITS.findall(passage) == quote_numbers:
                        best = ratio, window_start + start_in_window, window_start + end_in_window
            start = text.find(word, start + 1, high)
    if best is None or best[0] < _APPROXIMATE_MIN_RATIO:
        return None
    return best[1], best[2]


def _similarity(quote: str, quote_words: set[str], window: str) -> tuple[float, int, int] | None:
    """How closely the best-aligned part of the window matches the quote (difflib's ratio
    over the span from the first to the last matching block), and that span."""
    # Most windows share few of the quote's words: skip difflib for them.
    if len(quote_words & set(_WORD.findall(window))) < _MIN_SHARED_WORDS * len(quote_words):
        return None
    blocks = [
        block
        for block in SequenceMatcher(None, quote, window, autojunk=False).get_matching_blocks()
        if block.size
    ]
    # Stray one- or two-character matches at the edges would widen the span.
    solid = [block for block in blocks if block.size >= 3]
    if not solid:
        return None
    matched = sum(block.size for block in blocks)
    start, end = solid[0].b, solid[-1].b + solid[-1].size
    return 2 * matched / (len(quote) + end - start), start, end
