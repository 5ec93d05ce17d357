"""A PDF page's geometry: its text blocks and lines, and the order they are read in
(columns one after another, borderless tables row by row)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Line:
    """A line of text and its box, in points on the upright page (y grows downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(slots=True)
class Block:
    """A block of lines as MuPDF groups them; `horizontal` when most of its lines run
    left to right (not sideways, like a margin stamp)."""

    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[Line]
    horizontal: bool

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)


@dataclass(slots=True)
class PdfPage:
    """A page's size and text blocks; `has_images` is only looked up for pages without text."""

    width: float
    height: float
    blocks: list[Block]
    has_images: bool


def merge_table_columns(blocks: list[Block]) -> list[Block]:
    """Joins side-by-side blocks of short lines whose lines share baselines: the columns of a
    borderless table, which MuPDF groups by column. Merged, each table row reads as one line.
    Text columns are left alone: their lines are long."""
    merged = list(blocks)
    changed = True
    while changed:
        changed = False
        for first in merged:
            partner = next(
                (
                    other
                    for other in merged
                    if other is not first and _table_neighbours(first, other)
                ),
                None,
            )
            if partner is not None:
                lines = sorted([*first.lines, *partner.lines], key=lambda line: (line.y0, line.x0))
                union = Block(
                    min(first.x0, partner.x0),
                    min(first.y0, partner.y0),
                    max(first.x1, partner.x1),
                    max(first.y1, partner.y1),
                    lines,
                    first.horizontal,
                )
                merged = [block for block in merged if block is not first and block is not partner]
                merged.append(union)
                changed = True
                break
    return merged


def _table_neighbours(left: Block, right: Block) -> bool:
    if not (left.horizontal and right.horizontal) or left.x1 > right.x0:
        return False
    if len(left.lines) < 2 or len(right.lines) < 2:
        return False
    for block in (left, right):
        if sum(len(line.text.split()) for line in block.lines) >= 4 * len(block.lines):
            return False
    shorter, longer = sorted((left, right), key=lambda block: len(block.lines))
    aligned = sum(
        1 for line in shorter.lines if any(abs(line.y1 - other.y1) < 2 for other in longer.lines)
    )
    return aligned >= 0.8 * len(shorter.lines)


def reading_order(blocks: list[Block]) -> list[Block]:
    """Blocks in reading order: a multi-column stretch column by column (left column top to
    bottom, then the next), with blocks that cross a column gap (titles, wide figures) read
    where they stand; text that runs sideways (margin stamps) comes last."""
    upright = [block for block in blocks if block.horizontal]
    sideways = sorted((block for block in blocks if not block.horizontal), key=_row_key)
    gutters = _column_gutters(upright)
    if not gutters:
        return _by_rows(upright) + sideways
    spanning: list[Block] = []
    in_columns: list[Block] = []
    for block in upright:
        crosses = any(block.x0 < end - 1 and block.x1 > start + 1 for start, end in gutters)
        (spanning if crosses else in_columns).append(block)
    spanning.sort(key=_row_key)
    ordered: list[Block] = []
    remaining = in_columns
    for separator in [*spanning, None]:
        if separator is None:
            section, remaining = remaining, []
        else:
            section = [block for block in remaining if block.y0 < separator.y0]
            remaining = [block for block in remaining if block.y0 >= separator.y0]
        columns: dict[int, list[Block]] = {}
        for block in section:
            middle = (block.x0 + block.x1) / 2
            column = sum(1 for start, _ in gutters if middle > start)
            columns.setdefault(column, []).append(block)
        for column in sorted(columns):
            ordered.extend(_by_rows(columns[column]))
        if separator is not None:
            ordered.append(separator)
    return ordered + sideways


def _row_key(block: Block) -> tuple[float, float]:
    return (block.y0, block.x0)


def _by_rows(blocks: list[Block]) -> list[Block]:
    """Top to bottom; blocks whose tops are within a few points count as one row, left first."""
    ordered: list[Block] = []
    row: list[Block] = []
    for block in sorted(blocks, key=_row_key):
        if row and block.y0 - row[0].y0 > 3:
            ordered.extend(sorted(row, key=lambda b: b.x0))
            row = []
        row.append(block)
    ordered.extend(sorted(row, key=lambda b: b.x0))
    return ordered


def _column_gutters(blocks: list[Block]) -> list[tuple[float, float]]:
    """Vertical gaps between text columns: x-ranges that column text leaves empty.

    Projects the blocks on the x axis, weighting each by its height; a gutter is a strip at
    least 4 pt wide covered by little text (only what spans columns, like a title) with
    well-filled, prose-like columns on both sides. A table's columns are not text columns:
    their blocks are one or two lines each.
    """
    if len(blocks) < 3:
        return []
    left = min(block.x0 for block in blocks)
    right = max(block.x1 for block in blocks)
    width = int(right - left)
    if width < 100:
        return []
    coverage = [0.0] * (width + 1)
    for block in blocks:
        height = block.y1 - block.y0
        for x in range(max(int(block.x0 - left), 0), min(int(block.x1 - left), width) + 1):
            coverage[x] += height
    peak = max(coverage)
    low = [value <= peak * 0.25 for value in coverage]
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for x, is_low in enumerate(low):
        if is_low and start is None:
            start = x
        elif not is_low and start is not None:
            runs.append((start, x))
            start = None
    inner = [
        (start, end)
        for start, end in runs
        if end - start >= 4 and start > width * 0.1 and end < width * 0.9
    ]
    gutters: list[tuple[float, float]] = []
    edges = [0, *[x for run in inner for x in run], width]
    for index, (start, end) in enumerate(inner):
        column_left = (edges[2 * index], start)
        column_right = (end, edges[2 * index + 3])
        if _is_text_column(blocks, left, column_left, peak, width) and _is_text_column(
            blocks, left, column_right, peak, width
        ):
            gutters.append((left + start, left + end))
    return gutters


def _is_text_column(
    blocks: list[Block], left: float, span: tuple[int, int], peak: float, width: int
) -> bool:
    lo, hi = left + span[0], left + span[1]
    if hi - lo < width * 0.2:
        return False
    inside = [block for block in blocks if block.x0 >= lo - 1 and block.x1 <= hi + 1]
    height = sum(block.y1 - block.y0 for block in inside)
    lines = sum(len(block.lines) for block in inside)
    return height >= peak * 0.4 and lines >= 3 * max(len(inside), 1) * 0.5 and lines >= 6
