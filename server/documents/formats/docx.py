"""The Word (DOCX) reader: paragraphs, tables, headers, footers and notes in document order,
with the numbers Word shows before numbered headings and list items."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.parser import parse_xml

from server.documents.archives import ParseLimits, open_zip, verify_entries
from server.documents.detection import CorruptDocument
from server.documents.formats.extraction import PAGE_NUMBER, Extraction, check_input_size

# python-docx's Document() is unannotated; used through Any like PyMuPDF.
_docx: Any = docx
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_EXTENDED_PROPERTIES = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
# Containers whose children are paragraphs and tables in reading order.
_BLOCK_CONTAINERS = {f"{_W}{tag}" for tag in ("sdt", "sdtContent", "customXml", "ins", "smartTag")}
# Parts of a paragraph that hold no reading text: properties (their w:tab are tab stops),
# deleted and moved-away revisions, field codes, and the fallback copy of drawings.
_SKIPPED_IN_PARAGRAPH = {
    *(f"{_W}{tag}" for tag in ("pPr", "rPr", "del", "moveFrom", "instrText", "delInstrText")),
    _MC_FALLBACK,
}


def read_docx(data: bytes, limits: ParseLimits) -> Extraction:
    """The text of a Word document as one page, with its saved page count and properties."""
    what = "Word document"
    with open_zip(data, limits, what=what) as archive:
        # What python-docx parses into a tree, all at once (zipfile reads no more of an entry
        # than it declares).
        markup = sum(info.file_size for info in archive.infolist() if info.filename.endswith("xml"))
        check_input_size(
            markup,
            limits.max_markup_bytes,
            what=f"{what}'s unpacked XML",
            setting="DOCUMENT_MAX_MARKUP_BYTES",
        )
        verify_entries(archive, limits, what=what)
    try:
        document = _docx.Document(io.BytesIO(data))
        reader = _DocxReader(document)
        pages = ["\n\n".join(reader.blocks())]
    # lxml's XMLSyntaxError is a SyntaxError.
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError) as e:
        raise CorruptDocument(f"The {what} is damaged: {e}") from e
    return Extraction(pages=pages, page_count=reader.page_count(), metadata=reader.metadata())


class _DocxReader:
    """Reads a Word document's XML in document order, so tables appear where they stand.

    python-docx opens the package and resolves its parts; the text comes from the XML
    directly because paragraph.text misses tracked insertions, content controls and text
    boxes, and numbered headings and lists need their numbers computed.
    """

    def __init__(self, document: Any) -> None:
        self._document = document
        self._part = document.part
        self._numbering = _Numbering(self._related_xml(RT.NUMBERING), self._related_xml(RT.STYLES))

    def blocks(self) -> Iterator[str]:
        """Headers, body, footnotes, endnotes, footers; repeated headers and footers once."""
        body = self._document.element.body
        yield from self._unique(self._furniture(body, "headerReference"))
        yield from self._container(body)
        for kind, reltype in (("footnote", RT.FOOTNOTES), ("endnote", RT.ENDNOTES)):
            notes = self._related_xml(reltype)
            if notes is not None:
                yield from self._notes(notes, kind)
        yield from self._unique(self._furniture(body, "footerReference"))

    def _container(self, element: Any) -> Iterator[str]:
        for child in element:
            tag = child.tag
            if tag == f"{_W}p":
                text = self._paragraph(child)
                if text.strip():
                    yield text
            elif tag == f"{_W}tbl":
                table = self._table(child)
                if table:
                    yield table
            elif tag in _BLOCK_CONTAINERS:
                yield from self._container(child)

    def _paragraph(self, paragraph: Any) -> str:
        parts: list[str] = []
        _runs_text(paragraph, parts)
        text = "".join(parts).strip()
        label = self._numbering.label(paragraph) if text else ""
        return f"{label} {text}" if label else text

    def _table(self, table: Any) -> str:
        """Rows as lines of " | "-separated cells; a merged cell repeats its text in each grid
        cell it covers, so every row reads on its own."""
        rows: list[str] = []
        above: dict[int, str] = {}
        for row in table.iter(f"{_W}tr"):
            if _parent_table(row) is not table:
                continue
            column = _int_attr(row.find(f"{_W}trPr/{_W}gridBefore"), 0)
            cells: list[str] = [""] * column
            for cell in row.iterchildren(f"{_W}tc"):
                span = max(_int_attr(cell.find(f"{_W}tcPr/{_W}gridSpan"), 1), 1)
                merge = cell.find(f"{_W}tcPr/{_W}vMerge")
                if merge is not None and merge.get(f"{_W}val") != "restart":
                    text = above.get(column, "")
                else:
                    text = " ".join(" ".join(self._container(cell)).split())
                    above[column] = text
                cells.extend([text] * span)
                column += span
            if any(cells):
                rows.append(" | ".join(cells).rstrip(" |"))
        return "\n".join(rows)

    def _notes(self, notes: Any, kind: str) -> Iterator[str]:
        for note in notes.iterchildren(f"{_W}{kind}"):
            if note.get(f"{_W}type"):
                continue  # separators between body and notes
            text = " ".join(self._container(note)).strip()
            if text:
                yield f"[{note.get(f'{_W}id')}] {text}"

    def _furniture(self, body: Any, reference: str) -> Iterator[str]:
        for section in body.iter(f"{_W}sectPr"):
            for ref in section.iterchildren(f"{_W}{reference}"):
                part = self._part.related_parts.get(ref.get(_R_ID))
                if part is not None:
                    text = "\n".join(self._container(_part_xml(part)))
                    # A page-number field alone says nothing once the pages are gone.
                    if not PAGE_NUMBER.match(text):
                        yield text

    @staticmethod
    def _unique(texts: Iterator[str]) -> Iterator[str]:
        seen: set[str] = set()
        for text in texts:
            if text.strip() and text not in seen:
                seen.add(text)
                yield text

    def _related_xml(self, reltype: str) -> Any:
        for rel in self._part.rels.values():
            if rel.reltype == reltype and not rel.is_external:
                return _part_xml(rel.target_part)
        return None

    def metadata(self) -> dict[str, Any]:
        properties = self._document.core_properties
        found: dict[str, Any] = {}
        for key in ("title", "author", "subject", "language"):
            value = (getattr(properties, key) or "").strip()
            if value:
                found[key] = value
        if properties.created is not None:
            found["created"] = properties.created.isoformat()
        return found

    def page_count(self) -> int:
        """The page count Word saved in docProps/app.xml (1 when it is absent)."""
        for part in self._part.package.iter_parts():
            if str(part.partname) == "/docProps/app.xml":
                pages = _part_xml(part).find(f"{_EXTENDED_PROPERTIES}Pages")
                if pages is not None and (pages.text or "").strip().isdigit():
                    return max(int(pages.text), 1)
        return 1


def _part_xml(part: Any) -> Any:
    element = getattr(part, "element", None)
    return element if element is not None else parse_xml(part.blob)


def _parent_table(row: Any) -> Any:
    parent = row.getparent()
    while parent is not None and parent.tag != f"{_W}tbl":
        parent = parent.getparent()
    return parent


def _int_attr(element: Any, default: int) -> int:
    if element is None:
        return default
    value = element.get(f"{_W}val", "")
    return int(value) if value.isdigit() else default


def _runs_text(element: Any, parts: list[str]) -> None:
    """Appends the reading text under a paragraph: runs, hyperlinks, insertions, content
    controls, fields' results and text boxes (their paragraphs on lines of their own)."""
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIPPED_IN_PARAGRAPH:
            continue
        if tag == f"{_W}t":
            parts.append(child.text or "")
        elif tag == f"{_W}tab":
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
        elif tag == f"{_W}p":
            parts.append("\n")
            _runs_text(child, parts)
        else:
            _runs_text(child, parts)


class _Numbering:
    """The numbers Word shows before numbered headings and list items ("2.1", "a)", "•").

    Word computes them when displaying: the paragraph (or its style) names a numbering
    instance and a level; the level has a format and a template such as "%1.%2".
    """

    _ROMAN = (
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    )

    def __init__(self, numbering: Any, styles: Any) -> None:
        # abstract id -> level -> (start, format, template)
        self._levels: dict[str, dict[int, tuple[int, str, str]]] = {}
        self._style_levels: dict[str, tuple[str, int]] = {}  # style id -> (abstract id, level)
        self._instances: dict[str, tuple[str, dict[int, int]]] = {}  # num id -> abstract, starts
        self._styles: dict[str, tuple[str | None, int | None, str | None]] = {}
        self._counters: dict[str, dict[int, int]] = {}
        if numbering is not None:
            self._read_numbering(numbering)
        if styles is not None:
            self._read_styles(styles)

    def _read_numbering(self, numbering: Any) -> None:
        for abstract in numbering.iterchildren(f"{_W}abstractNum"):
            abstract_id = abstract.get(f"{_W}abstractNumId", "")
            levels: dict[int, tuple[int, str, str]] = {}
            for level in abstract.iterchildren(f"{_W}lvl"):
                index = int(level.get(f"{_W}ilvl", "0") or 0)
                start = _int_attr(level.find(f"{_W}start"), 1)
                fmt_element = level.find(f"{_W}numFmt")
                fmt = fmt_element.get(f"{_W}val", "decimal") if fmt_element is not None else ""
                text_element = level.find(f"{_W}lvlText")
                template = text_element.get(f"{_W}val", "") if text_element is not None else ""
                if level.find(f"{_W}isLgl") is not None and fmt != "bullet":
                    fmt = "decimal"
                levels[index] = (start, fmt, template)
                style = level.find(f"{_W}pStyle")
                if style is not None:
                    self._style_levels[style.get(f"{_W}val", "")] = (abstract_id, index)
            self._levels[abstract_id] = levels
        for instance in numbering.iterchildren(f"{_W}num"):
            abstract_ref = instance.find(f"{_W}abstractNumId")
            if abstract_ref is None:
                continue
            starts: dict[int, int] = {}
            for override in instance.iterchildren(f"{_W}lvlOverride"):
                start = override.find(f"{_W}startOverride")
                if start is not None:
                    starts[int(override.get(f"{_W}ilvl", "0") or 0)] = _int_attr(start, 1)
            self._instances[instance.get(f"{_W}numId", "")] = (
                abstract_ref.get(f"{_W}val", ""),
                starts,
            )

    def _read_styles(self, styles: Any) -> None:
        for style in styles.iterchildren(f"{_W}style"):
            num_pr = style.find(f"{_W}pPr/{_W}numPr")
            num_id = level = None
            if num_pr is not None:
                num_element = num_pr.find(f"{_W}numId")
                num_id = num_element.get(f"{_W}val") if num_element is not None else None
                level_element = num_pr.find(f"{_W}ilvl")
                level = _int_attr(level_element, 0) if level_element is not None else None
            based_on = style.find(f"{_W}basedOn")
            self._styles[style.get(f"{_W}styleId", "")] = (
                num_id,
                level,
                based_on.get(f"{_W}val") if based_on is not None else None,
            )

    def _style_numbering(self, style_id: str) -> tuple[str | None, int | None, str]:
        """The numbering a paragraph style gives, following its basedOn chain."""
        seen: set[str] = set()
        current: str | None = style_id
        while current is not None and current not in seen:
            seen.add(current)
            num_id, level, based_on = self._styles.get(current, (None, None, None))
            if num_id is not None:
                return num_id, level, current
            current = based_on
        return None, None, style_id

    def label(self, paragraph: Any) -> str:
        if not self._levels:
            return ""
        style_element = paragraph.find(f"{_W}pPr/{_W}pStyle")
        style_id = style_element.get(f"{_W}val", "") if style_element is not None else ""
        num_id, level, numbered_style = (
            self._style_numbering(style_id)
            if style_id
            else (
                None,
                None,
                "",
            )
        )
        num_pr = paragraph.find(f"{_W}pPr/{_W}numPr")
        if num_pr is not None:
            num_element = num_pr.find(f"{_W}numId")
            if num_element is not None:
                num_id = num_element.get(f"{_W}val")
            level_element = num_pr.find(f"{_W}ilvl")
            if level_element is not None:
                level = _int_attr(level_element, 0)
        if num_id is None or num_id == "0" or num_id not in self._instances:
            return ""
        abstract_id, starts = self._instances[num_id]
        levels = self._levels.get(abstract_id, {})
        if level is None:
            linked = self._style_levels.get(numbered_style)
            level = linked[1] if linked and linked[0] == abstract_id else 0
        if level not in levels:
            return ""
        counters = self._counters.setdefault(num_id, {})
        start = starts.get(level, levels[level][0])
        counters[level] = counters[level] + 1 if level in counters else start
        for deeper in [key for key in counters if key > level]:
            del counters[deeper]
        _, fmt, template = levels[level]
        if fmt == "bullet":
            return "•"
        if fmt == "none":
            return ""

        def number(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            level_start, level_format, _ = levels.get(index, (1, "decimal", ""))
            value = counters.get(index, starts.get(index, level_start))
            return self._format(value, level_format)

        return re.sub(r"%([1-9])", number, template).strip()

    @classmethod
    def _format(cls, value: int, fmt: str) -> str:
        if fmt in ("lowerLetter", "upperLetter") and value > 0:
            letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)
            return letter.upper() if fmt == "upperLetter" else letter
        if fmt in ("lowerRoman", "upperRoman") and 0 < value < 4000:
            roman = ""
            for amount, numeral in cls._ROMAN:
                while value >= amount:
                    roman += numeral
                    value -= amount
            return roman.upper() if fmt == "upperRoman" else roman
        if fmt == "decimalZero":
            return f"{value:02d}"
        return str(value)
