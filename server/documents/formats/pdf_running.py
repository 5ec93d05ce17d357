"""Running heads, footers and page numbers of a PDF: lines at the top or bottom of pages that
recur across the document, numbers aside, dropped line by line (so one that MuPDF grouped
with a paragraph goes too). A line recurs as itself on three pages or more (a letter misread
by OCR forgiven), or as a counter going up with the page on two ("Page 3 of 12", "Exhibit B -
Page 2"); a bare page number alone on a page's first or last row goes on any page.

What recurs for a reason stays: only a page's outermost rows count; a heading whose number is
not the page's ("Article 5" atop one page, "Article 6" atop the next, "Article 9" further in)
is no counter; a line repeated atop pages but also used in the body and set close to what
follows (a table's header row on each page of the table) is content; and two pages are too few
to tell a head from a heading unless it stands apart in the margin of both.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum
from itertools import pairwise

from server.documents.formats.extraction import PAGE_NUMBER
from server.documents.formats.pdf_layout import Block, Line, PdfPage

# A line without numbers (or with the same ones each time) is a running head when it recurs
# on this many pages' edges; a page counter ("Page 3 of 12", "Exhibit B - Page 2") on two.
_CONSTANT_MIN_PAGES = 3
_COUNTER_MIN_PAGES = 2
# The top and bottom tenth of a page are its margins.
_MARGIN_SHARE = 0.1
# Blank space under a head (over a footer) of this share of its height sets it apart from the
# text, when found within this many rows of the edge; a table's rows follow its header closer.
_SET_APART = 0.8
_EDGE_ROWS = 5
# Keys this similar (difflib's ratio) and this long are one running line misread by OCR.
_NEAR_RATIO = 0.9
_NEAR_MIN_LENGTH = 12
_NUMBER = re.compile(r"\d+")
_WORDS = re.compile(r"[\w#]+")
_ROMAN = re.compile(r"^[ivxlc]+$")
_ARABIC_PAGE, _ROMAN_PAGE = "#", "#roman"
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}


# The lines away from the pages' edges: key -> the numbers they were seen with.
_Body = defaultdict[str, set[tuple[int, ...]]]


class Edge(StrEnum):
    TOP = "top"
    BOTTOM = "bottom"


@dataclass(slots=True)
class _Row:
    """Lines that share a baseline band, left to right."""

    y0: float
    y1: float
    lines: list[Line]


@dataclass(frozen=True, slots=True)
class _EdgeText:
    """A line, or a whole row of several lines, in a page's outermost rows."""

    page: int
    edge: Edge
    lines: tuple[Line, ...]
    key: str
    numbers: tuple[int, ...]
    # "Page 3 of 12", "3/12": a page number by its form.
    of_total: bool
    in_margin: bool
    outermost: bool
    # The only line of the page's first or last row.
    alone: bool
    # Before the first wide gap from the edge, wherever it stands.
    apart: bool

    @property
    def set_apart(self) -> bool:
        """A head or footer standing apart from the text, in the margin."""
        return self.apart and self.in_margin


def drop_running_lines(pages: list[PdfPage]) -> int:
    """Drops running heads, footers and page numbers from the pages' blocks (a block left
    without lines goes), but never a page's only lines. Returns how many lines were
    dropped."""
    edge_texts: list[_EdgeText] = []
    body: _Body = defaultdict(set)
    for index, page in enumerate(pages):
        edge_texts.extend(_page_edges(index, page, body))
    running: set[int] = set()
    for (_, key), family in _families(edge_texts).items():
        for text in _running(key, family, body, len(pages)):
            running.update(id(line) for line in text.lines)
    # What shares a row in the margin with a page number, set apart from the text, is the
    # head it belongs to, even on the one page of a short chapter.
    for text in edge_texts:
        if (
            text.in_margin
            and text.set_apart
            and any(id(line) in running and PAGE_NUMBER.match(line.text) for line in text.lines)
        ):
            running.update(id(line) for line in text.lines)
    if not running:
        return 0
    removed = 0
    for page in pages:
        if all(id(line) in running for block in page.blocks for line in block.lines):
            # A running line is furniture around a page's text; on a page that has nothing
            # else it is the text (a form's one line, a slide title), and goes nowhere.
            continue
        kept: list[Block] = []
        for block in page.blocks:
            lines = [line for line in block.lines if id(line) not in running]
            removed += len(block.lines) - len(lines)
            if len(lines) == len(block.lines):
                kept.append(block)
            elif lines:
                kept.append(_with_lines(block, lines))
        page.blocks = kept
    return removed


def _families(texts: list[_EdgeText]) -> dict[tuple[Edge, str], list[_EdgeText]]:
    """Texts by edge and key. OCR misreads a letter here and there ("VICKSBUEG"): a text in
    the margin of one page joins the family on several pages whose key it nearly matches."""
    families: dict[tuple[Edge, str], list[_EdgeText]] = defaultdict(list)
    for text in texts:
        families[(text.edge, text.key)].append(text)
    anchors = [
        family_key
        for family_key, members in families.items()
        if family_key[1] not in (_ARABIC_PAGE, _ROMAN_PAGE)
        and len({text.page for text in members}) >= _COUNTER_MIN_PAGES
    ]
    for (edge, key), members in list(families.items()):
        if (
            len(key) < _NEAR_MIN_LENGTH
            or len({text.page for text in members}) > 1
            or not all(text.in_margin for text in members)
        ):
            continue
        matcher = SequenceMatcher(None, b=key)
        best: tuple[float, tuple[Edge, str]] | None = None
        for anchor in anchors:
            if anchor[0] is not edge or anchor[1] == key:
                continue
            matcher.set_seq1(anchor[1])
            if matcher.quick_ratio() < _NEAR_RATIO:
                continue
            ratio = matcher.ratio()
            if ratio >= _NEAR_RATIO and (best is None or ratio > best[0]):
                best = (ratio, anchor)
        if best is not None:
            families[best[1]].extend(members)
            del families[(edge, key)]
    return families


def _running(key: str, family: list[_EdgeText], body: _Body, page_count: int) -> list[_EdgeText]:
    """The texts of one family (same edge, same words, numbers aside) that are running lines."""
    if key in (_ARABIC_PAGE, _ROMAN_PAGE):
        return _page_numbers(family)
    # A counter stands in the margin or apart from the text.
    placed = [text for text in family if text.in_margin]
    running = _page_counters(placed)
    if running and _numbered_heading(running, body.get(key, set())):
        running = []
    constant = _constant(family)
    pages = {text.page for text in constant}
    if page_count < _CONSTANT_MIN_PAGES:
        # Two pages are too few to tell a head from a heading by repetition: only a line set
        # apart in the margin of both counts.
        if len(pages) == 2 == page_count:
            running.extend(text for text in constant if text.in_margin and text.set_apart)
        return running
    if len(pages) < _CONSTANT_MIN_PAGES:
        return running
    if key not in body and all(text.in_margin for text in constant):
        # In the margin and nowhere else: a head however close to the text.
        running.extend(constant)
    elif 2 * sum(1 for text in constant if text.set_apart) >= len(constant):
        # Set apart from the text; not a line further in that reads the same (a contents
        # entry naming a chapter whose pages carry its title as their head).
        running.extend(
            text for text in constant if text.set_apart or (text.outermost and text.in_margin)
        )
    return running


def _page_counters(texts: list[_EdgeText]) -> list[_EdgeText]:
    """Texts with a number that goes up with the page ("Page 3 of 12" on the third page):
    one whose value minus the page index is shared by another page's text of the family."""
    offsets: Counter[int] = Counter()
    for text in texts:
        offsets.update({value - text.page for value in text.numbers})
    shared = {offset for offset, count in offsets.items() if count >= _COUNTER_MIN_PAGES}
    return [text for text in texts if any(value - text.page in shared for value in text.numbers)]


def _numbered_heading(counters: list[_EdgeText], elsewhere: set[tuple[int, ...]]) -> bool:
    """Whether the body has the counters' words with numbers that vary like theirs: "Article
    9" further in, where the heads of two pages say "Article 5", "Article 6". A contents or
    index entry naming a head ("1.3 Stetigkeit 10" for "10  1.3. STETIGKEIT") does not."""
    length = len(counters[0].numbers)
    seen = {text.numbers for text in counters if len(text.numbers) == length}
    fixed = [i for i in range(length) if len({numbers[i] for numbers in seen}) == 1]
    return any(
        len(numbers) == length
        and numbers not in seen
        and all(numbers[i] == counters[0].numbers[i] for i in fixed)
        for numbers in elsewhere
    )


def _constant(texts: list[_EdgeText]) -> list[_EdgeText]:
    """Texts whose numbers are the family's usual ones (none, or a year, a volume), so that
    numbered headings ("Article 4", "Article 7") do not pass for one repeated line."""
    if not texts:
        return []
    usual, _ = Counter(text.numbers for text in texts).most_common(1)[0]
    return [text for text in texts if text.numbers == usual]


def _page_numbers(family: list[_EdgeText]) -> list[_EdgeText]:
    """Bare page numbers ("12", "xi", "- 3 -", "Page 3 of 12") in the margin: alone on a
    page's first or last row, or saying so ("3 of 12"). Else those that go up page after page
    (a formula's or a table of contents' numbers fall out of that run), in the margin or alone
    on a page's last row set apart from the text higher up (as LaTeX sets them)."""
    sure = [
        text
        for text in family
        if text.in_margin and ((text.outermost and text.alone) or text.of_total)
    ]
    taken = {id(text) for text in sure}
    others = [
        text
        for text in family
        if id(text) not in taken
        and (text.in_margin or (text.outermost and text.alone and text.apart))
    ]
    return sure + _rising_run(others)


def _rising_run(texts: list[_EdgeText]) -> list[_EdgeText]:
    """The longest run of texts whose numbers go up strictly from page to later page, if it
    spans two pages or more (patience sorting, n log n)."""
    # Larger numbers first within a page, so that a run takes at most one from each page.
    ordered = sorted(
        (text for text in texts if text.numbers), key=lambda t: (t.page, -t.numbers[0])
    )
    tails: list[int] = []  # smallest last value of a run of each length
    ends: list[int] = []  # which text ends that run
    before: list[int] = []  # the text before each text in its best run
    for index, text in enumerate(ordered):
        length = bisect_left(tails, text.numbers[0])
        if length == len(tails):
            tails.append(text.numbers[0])
            ends.append(index)
        else:
            tails[length], ends[length] = text.numbers[0], index
        before.append(ends[length - 1] if length else -1)
    if len(tails) < _COUNTER_MIN_PAGES:
        return []
    run: list[_EdgeText] = []
    index = ends[-1]
    while index >= 0:
        run.append(ordered[index])
        index = before[index]
    return run


def _page_edges(index: int, page: PdfPage, body: _Body) -> list[_EdgeText]:
    """The texts in the page's top and bottom rows; every other line goes into `body`.

    At each edge: the outermost row and the rows in the margin. A line of text at the top of
    a page, followed by a paragraph's gap, stands as apart as a head; only the margin tells
    them apart."""
    rows = _rows([line for block in page.blocks if block.horizontal for line in block.lines])
    found: list[_EdgeText] = []
    at_edges: set[int] = set()
    for edge, ordered in ((Edge.TOP, rows), (Edge.BOTTOM, rows[::-1])):
        apart = _set_apart_rows(ordered, edge)
        for position, row in enumerate(ordered):
            in_margin = _in_margin(row, page.height, edge)
            if position > 0 and not in_margin:
                break
            at_edges.add(id(row))
            units: list[tuple[Line, ...]] = [(line,) for line in row.lines]
            if len(row.lines) > 1:
                units.append(tuple(row.lines))
            for lines in units:
                text = _row_text(lines)
                found.append(
                    _EdgeText(
                        page=index,
                        edge=edge,
                        lines=lines,
                        key=_key(text),
                        numbers=_numbers(text),
                        of_total=_of_total(text),
                        in_margin=in_margin,
                        outermost=position == 0,
                        alone=len(row.lines) == 1,
                        apart=position < apart,
                    )
                )
    for row in rows:
        if id(row) not in at_edges:
            for text in [line.text for line in row.lines] + [_row_text(row.lines)]:
                body[_key(text)].add(_numbers(text))
    return found


def _row_text(lines: Sequence[Line]) -> str:
    return " ".join(line.text for line in lines)


def _rows(lines: list[Line]) -> list[_Row]:
    rows: list[_Row] = []
    for line in sorted(lines, key=lambda line: line.y0):
        if rows:
            row = rows[-1]
            overlap = min(row.y1, line.y1) - max(row.y0, line.y0)
            if overlap > 0.5 * min(row.y1 - row.y0, line.y1 - line.y0):
                row.lines.append(line)
                row.y0, row.y1 = min(row.y0, line.y0), max(row.y1, line.y1)
                continue
        rows.append(_Row(line.y0, line.y1, [line]))
    for row in rows:
        row.lines.sort(key=lambda line: line.x0)
    return rows


def _in_margin(row: _Row, height: float, edge: Edge) -> bool:
    if edge is Edge.TOP:
        return row.y1 <= height * _MARGIN_SHARE
    return row.y0 >= height * (1 - _MARGIN_SHARE)


def _set_apart_rows(ordered: list[_Row], edge: Edge) -> int:
    """How many rows from the edge stand apart from the text: those before the first wide
    gap, when it comes within a few rows of the edge."""
    for position, (row, following) in enumerate(pairwise(ordered[: _EDGE_ROWS + 1])):
        gap = following.y0 - row.y1 if edge is Edge.TOP else row.y0 - following.y1
        if gap >= _SET_APART * max(row.y1 - row.y0, following.y1 - following.y0):
            return position + 1
    return 0


def _key(text: str) -> str:
    """What a running line keeps from page to page: its words in any order (odd and even
    pages put the page number on different sides), every number as "#". Bare page numbers
    in arabic and in roman numerals (front matter) are two families."""
    if PAGE_NUMBER.match(text):
        return _ARABIC_PAGE if _NUMBER.search(text) else _ROMAN_PAGE
    return " ".join(sorted(_WORDS.findall(_NUMBER.sub("#", text.lower()))))


def _numbers(text: str) -> tuple[int, ...]:
    values = tuple(int(number) for number in _NUMBER.findall(text) if len(number) <= 6)
    if values or not PAGE_NUMBER.match(text):
        return values
    # A page numbered in roman numerals ("xi"): its value, to tell whether it goes up.
    word = _WORDS.findall(text.lower())[-1]
    return (_roman(word),) if _ROMAN.match(word) else ()


def _of_total(text: str) -> bool:
    match = PAGE_NUMBER.match(text)
    if match is None or not match.group(3):
        return False
    numbers = _numbers(text)
    return len(numbers) == 2 and 0 < numbers[0] <= numbers[1]


def _roman(numeral: str) -> int:
    values = [_ROMAN_VALUES[letter] for letter in numeral]
    return (
        sum(-value if value < after else value for value, after in pairwise(values)) + (values[-1])
    )


def _with_lines(block: Block, lines: list[Line]) -> Block:
    """The block shrunk to the lines it keeps, so layout sees where its text really is."""
    return Block(
        min(line.x0 for line in lines),
        min(line.y0 for line in lines),
        max(line.x1 for line in lines),
        max(line.y1 for line in lines),
        lines,
        block.horizontal,
    )
