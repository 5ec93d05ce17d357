"""The codebook in Markdown (GitHub's dialect: pipe tables, fenced code), written alone or into
the data package; UTF-8 without a byte order mark."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from server.exports.codebook import Block, Heading, Paragraph, Preformatted, Table, codebook
from server.exports.columns import NameRule
from server.exports.dataset import DatasetHeader, Unit
from server.exports.quality import Quality

_BACKTICKS = re.compile("`+")
_NEWLINE = re.compile(r"\r\n|\r|\n")
# Characters Markdown would read as markup: an underscore only at a word's edge (intra-word
# ones, as in parties_1, are text), so that _confidence_{name} is not set in italics.
_MARKUP = re.compile(r"[\\`*<>]|(?<![^\W_])_|_(?![^\W_])")


class CodebookWriter:
    def __init__(self, header: DatasetHeader, out: BinaryIO) -> None:
        self._header = header
        self._out = out

    def add(self, units: Sequence[Unit]) -> None:
        """Nothing to keep: the caller tallies the quality the codebook reports."""

    def finish(self, quality: Quality) -> None:
        self._out.write(markdown(codebook(self._header, quality, NameRule.PLAIN)).encode())


def markdown(blocks: Iterable[Block]) -> str:
    return "\n".join(_block(block) for block in blocks)


def _block(block: Block) -> str:
    match block:
        case Heading(text, level):
            return f"{'#' * level} {_NEWLINE.sub(' ', _text(text))}\n"
        case Paragraph(text):
            return f"{_text(text)}\n"
        case Table(columns, rows):
            lines = [_row(_cell(name) for name in columns), _row(["---"] * len(columns))]
            lines += [_row(_cell(value) for value in row) for row in rows]
            return "".join(line + "\n" for line in lines)
        case Preformatted(text):
            # A fence longer than any run of backticks inside, so the text cannot close it.
            longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
            fence = "`" * max(3, longest + 1)
            body = text if text.endswith("\n") else text + "\n"
            return f"{fence}\n{body}{fence}\n"
    raise TypeError(f"not a codebook block: {block!r}")


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # A pipe would end the cell and a newline the row.
    return _NEWLINE.sub("<br>", _text(str(value)).replace("|", "\\|"))


def _text(text: str) -> str:
    return _MARKUP.sub(lambda match: "\\" + match[0], text)
