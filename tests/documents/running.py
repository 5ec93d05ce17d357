"""Running heads, footers and page numbers, for the tests and bench/text_quality.py: the kinds
real contracts carry, drawn on generated PDFs, and those known in the shared corpus's PDFs,
with the check whether a parsed document kept one; and the site furniture of its web pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from server.documents.parsing import ParsedDocument
from tests.documents.files import Line, MarginLines


def _sides(n: int, title: str) -> list[Line]:
    """A head with the page number outside: right on odd pages, left on even ones."""
    if n % 2:
        return [((72, 40), title), ((530, 40), str(n))]
    return [((72, 40), str(n)), ((400, 40), title)]


def _exhibit(n: int, total: int) -> list[Line]:
    """Numbered pages, then a two-page exhibit numbered on its own."""
    if n <= total - 2:
        return [((300, 760), str(n))]
    return [((250, 760), f"Exhibit A - Page {n - total + 2}")]


@dataclass(frozen=True, slots=True)
class RunningLines:
    """A kind of running line, and the pages of a generated contract that carries it."""

    name: str
    margins: MarginLines
    pages: int = 6
    body_top: float = 90.0


RUNNING_LINES = [
    RunningLines("title and page number", lambda n, _: _sides(n, "Master Services Agreement")),
    RunningLines("Page n of N", lambda n, total: [((270, 760), f"Page {n} of {total}")]),
    RunningLines("bare page number", lambda n, _: [((300, 760), str(n))]),
    RunningLines("Exhibit X - Page n", _exhibit),
    # Set on the text's own leading, so MuPDF takes the head into the first paragraph's block.
    RunningLines(
        "head against the text",
        lambda n, _: [((72, 72), "CONFIDENTIAL - ACME / Beta Supply Agreement")],
        body_top=86.0,
    ),
    RunningLines("page number against the text", lambda n, _: [((72, 734), str(n))]),
    RunningLines(
        "footer of four lines",
        lambda n, total: [
            ((72, 730), "ACME Corporation, 100 Main Street, Springfield"),
            ((72, 741), "Registered in Delaware under number 4471925"),
            ((72, 752), "Commercial in confidence"),
            ((72, 763), f"{n} / {total}"),
        ],
    ),
    RunningLines("two pages, Page n of N", lambda n, t: [((270, 760), f"Page {n} of {t}")], 2),
    RunningLines(
        "two pages, title and number", lambda n, _: _sides(n, "Letter of Intent - ACME"), 2
    ),
]


@dataclass(frozen=True, slots=True)
class CorpusRunningLines:
    """The running lines of a corpus PDF, as patterns a page's first (top) or last (bottom)
    line matches whole; "{n}" stands for the page's printed number, page index + `offset`."""

    top: list[str] = field(default_factory=list)
    bottom: list[str] = field(default_factory=list)
    offset: int | None = None


# Every corpus PDF with a text layer; those without running lines must keep their text.
CORPUS_RUNNING_LINES = {
    "pdf/GeoTopo-komprimiert.pdf": CorpusRunningLines(
        top=[r"{n}( .*)?", r"\d+(\.\d+)+\.? [A-ZÄÖÜ][A-ZÄÖÜ \-]+"], offset=-2
    ),
    "pdf/Seige_of_Vicksburg_Sample_OCR.pdf": CorpusRunningLines(top=[r".*SIEGE.*"]),
    "pdf/redp5110_sampled.pdf": CorpusRunningLines(
        bottom=[
            r".*© Copyright IBM Corp\. 2014.*",
            r".*Row and Column Access Control Support in IBM DB2 for i.*",
            r"(\d+ )?Chapter \d+\. .*",
            r"\d+|[ivxlc]+",
        ]
    ),
    "pdf/multicolumn.pdf": CorpusRunningLines(bottom=[r"{n}"], offset=1),
    "pdf/markitdown-test.pdf": CorpusRunningLines(bottom=[r"{n}"], offset=2),
    # One printed page: nothing repeats, so only its page number can be told by its form.
    "pdf/zen_of_python_corrupted.pdf": CorpusRunningLines(
        top=[r"Printed by", r".*zen_of_python\.txt.*"],
        bottom=[r".*zen_of_python\.txt.*", r".*\b1/1\b.*"],
    ),
    "pdf/multi-column-2p.pdf": CorpusRunningLines(),
    "pdf/SPARSE-2024-INV-1234_borderless_table.pdf": CorpusRunningLines(),
}


def kept_running_lines(document: ParsedDocument, expected: CorpusRunningLines) -> list[str]:
    """The running lines still at the top or bottom of the document's pages."""
    kept: list[str] = []
    for index, (start, end) in enumerate(document.pages):
        lines = document.text[start:end].split("\n")
        number = "" if expected.offset is None else str(index + expected.offset)
        for line, patterns in ((lines[0], expected.top), (lines[-1], expected.bottom)):
            if any(re.fullmatch(pattern.replace("{n}", number), line) for pattern in patterns):
                kept.append(line)
    return kept


# Corpus web pages and the furniture of their sites: none of it belongs in the text.
CORPUS_SITE_FURNITURE = {
    "html/markitdown-test_wikipedia.html": [
        "From Wikipedia, the free encyclopedia",
        'Retrieved from "',
        "Categories:",
        "Hidden categories:",
        "Coordinates:",
    ],
    "html/aeb-bbc.com-c7e39ac49fa1.html": ["Related Topics", "More on this story"],
    "html/bbc.com.52241221.html": ["Related Topics", "More on this story"],
}
