"""Parsing documents a researcher uploads: real PDF, DOCX, HTML, text and ZIP files built here
with PyMuPDF, python-docx and zipfile, read back through the public functions."""

from __future__ import annotations

import io
import os
import re
import time
import tracemalloc

import pytest

from server.documents.archives import MIB, ParseLimits, ZipDocuments
from server.documents.detection import DocumentType, detect_file_type, detect_type
from server.documents.parsing import (
    PAGE_SEPARATOR,
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ScannedDocument,
    UnsupportedDocument,
    parse_document,
)
from tests.documents.files import (
    LEFT_MARK,
    RIGHT_MARK,
    Line,
    column_lines,
    contract_pdf,
    docx_bytes,
    mupdf,
    pdf_bytes,
    png_bytes,
    with_declared_size,
    with_encrypted_flag,
    word,
    zeros_zip,
    zip_bytes,
)
from tests.documents.running import RUNNING_LINES, RunningLines

# --- PDF -------------------------------------------------------------------------------------


def test_a_one_page_pdf_gives_its_text_words_and_one_page_span() -> None:
    data = pdf_bytes([[((72, 100), "Program budget was 4.2 million euros in 2019.")]])

    parsed = parse_document(data, "report.pdf")

    assert parsed.document_type is DocumentType.PDF
    assert parsed.mime_type == "application/pdf"
    assert parsed.text == "Program budget was 4.2 million euros in 2019."
    assert parsed.word_count == 8
    assert parsed.page_count == 1
    assert parsed.pages == [(0, len(parsed.text))]


def test_pages_of_a_pdf_are_separated_by_form_feeds_and_their_offsets_recorded() -> None:
    data = pdf_bytes([[((72, 100), f"Text of page number {n}.")] for n in (1, 2, 3)])

    parsed = parse_document(data, "three.pdf")

    assert parsed.page_count == 3
    assert [parsed.text[start:end] for start, end in parsed.pages] == [
        "Text of page number 1.",
        "Text of page number 2.",
        "Text of page number 3.",
    ]
    assert parsed.text.count(PAGE_SEPARATOR) == 2


def test_a_two_column_page_is_read_column_by_column_whatever_the_drawing_order() -> None:
    # The right column is drawn first, so the file's own order would put it first.
    title = [((150, 100), "A Study of Two Columns Across the Whole Page Width")]
    data = pdf_bytes(
        [title + column_lines(320, RIGHT_MARK, 30, 4) + column_lines(60, LEFT_MARK, 30, 7)]
    )

    text = parse_document(data, "paper.pdf").text

    left = [text.index(f"{LEFT_MARK} line {i:02d}") for i in range(30)]
    right = [text.index(f"{RIGHT_MARK} line {i:02d}") for i in range(30)]
    assert text.startswith("A Study of Two Columns")
    assert left == sorted(left)
    assert right == sorted(right)
    assert max(left) < min(right)


def test_a_table_like_layout_is_not_mistaken_for_columns() -> None:
    rows: list[Line] = [((72, 150 + 16 * i), f"Item {i}") for i in range(10)]
    rows += [((330, 150 + 16 * i), f"{i * 10} EUR") for i in range(10)]
    data = pdf_bytes([rows])

    text = parse_document(data, "invoice.pdf").text

    assert text.index("Item 1") < text.index("10 EUR") < text.index("Item 2")
    assert "Item 3 30 EUR\nItem 4 40 EUR" in text


def test_a_word_hyphenated_at_a_line_end_is_joined_but_a_compound_keeps_its_hyphen() -> None:
    lines: list[Line] = [
        ((72, 100), "This well-known result comes from an experi-"),
        ((72, 114), "ment that many people consider well-"),
        ((72, 128), "known in the field of program evaluation."),
    ]
    text = parse_document(pdf_bytes([lines]), "a.pdf").text

    assert "experiment that" in text
    assert "experi-" not in text
    assert text.count("well-known") == 2


def test_running_headers_and_page_numbers_repeated_on_pages_are_dropped() -> None:
    pages: list[list[Line]] = [
        [
            ((72, 40), "Journal of Program Evaluation, Vol. 12"),
            ((72, 300), f"Findings of section {n} are reported here in full detail."),
            ((290, 810), str(n)),
        ]
        for n in range(1, 5)
    ]
    parsed = parse_document(pdf_bytes(pages), "journal.pdf")

    assert "Journal of Program Evaluation" not in parsed.text
    assert "Findings of section 3" in parsed.text
    assert parsed.metadata["running_lines_removed"] == 8
    assert [parsed.text[s:e] for s, e in parsed.pages][1].strip() == (
        "Findings of section 2 are reported here in full detail."
    )


@pytest.mark.parametrize("kind", RUNNING_LINES, ids=lambda kind: kind.name)
def test_a_contract_is_read_without_its_running_lines_of_any_kind(kind: RunningLines) -> None:
    contract = contract_pdf(kind.pages, kind.margins, body_top=kind.body_top)

    parsed = parse_document(contract.data, "contract.pdf")

    # Word for word the clauses, sentences running on across pages, nothing of the margins.
    assert parsed.text.split() == contract.body.split()
    assert parsed.page_count == kind.pages


def test_lines_of_text_that_happen_to_open_several_pages_stay() -> None:
    # Clauses repeat here, so several pages start with the same last line of a clause ("care,
    # in accordance with good industry practice and all applicable laws and regulations."),
    # set off from the next by a paragraph's gap as a head would be.
    page_n_of_n = next(kind for kind in RUNNING_LINES if kind.name == "Page n of N")
    contract = contract_pdf(45, page_n_of_n.margins, seed=45)

    parsed = parse_document(contract.data, "contract.pdf")

    assert parsed.text.split() == contract.body.split()


def test_a_page_number_as_the_last_line_of_a_one_page_pdf_is_dropped() -> None:
    page: list[Line] = [
        ((72, 100), "The council approved the budget for 2024."),
        ((72, 114), "The vote was unanimous."),
        ((290, 810), "- 7 -"),
    ]

    text = parse_document(pdf_bytes([page]), "minutes.pdf").text

    assert text == "The council approved the budget for 2024.\nThe vote was unanimous."


def test_a_table_header_repeated_atop_each_page_of_the_table_is_kept() -> None:
    header = [((72, 72), "Item"), ((250, 72), "Quantity"), ((400, 72), "Unit price")]

    def rows(first: int, top: float) -> list[Line]:
        return [
            line
            for row in range(30)
            for line in (
                ((72, top + 16 * row), f"Part {first + row}"),
                ((250, top + 16 * row), str(row + 2)),
                ((400, top + 16 * row), f"{row + 10}.00"),
            )
        ]

    intro: list[Line] = [((72, 72), "Schedule 2: the parts the Supplier delivers.")]
    moved = [((x, y + 300), text) for (x, y), text in header]
    pages = [intro + moved + rows(1, 388)] + [header + rows(30 * n, 88) for n in (1, 2, 3)]

    text = parse_document(pdf_bytes(pages), "schedule.pdf").text

    assert text.count("Item Quantity Unit price") == 4
    assert "Part 100" in text


def test_numbered_headings_atop_pages_are_not_taken_for_page_numbers() -> None:
    body = "The parties agree to the terms of this article in full."

    def article(number: int, top: float) -> list[Line]:
        return [((72, top), f"ARTICLE {number}"), ((72, top + 30), body)]

    pages = [
        article(1, 300),
        article(2, 60),
        article(3, 60),
        article(4, 60) + article(5, 400),
    ]

    text = parse_document(pdf_bytes(pages), "agreement.pdf").text

    assert [f"ARTICLE {n}" in text for n in range(1, 6)] == [True] * 5


def test_a_heading_atop_both_pages_of_a_two_page_document_is_kept() -> None:
    pages: list[list[Line]] = [
        [((72, 100), "Applicant details"), ((72, 130), f"Question {n}: where do you live?")]
        for n in (1, 2)
    ]

    text = parse_document(pdf_bytes(pages), "form.pdf").text

    assert text.count("Applicant details") == 2


def test_a_password_protected_pdf_is_refused_with_a_message_saying_so() -> None:
    document = mupdf.open()
    document.new_page().insert_text((72, 100), "Secret budget")
    data = document.tobytes(
        encryption=mupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner"
    )

    with pytest.raises(EncryptedDocument, match="password-protected"):
        parse_document(data, "locked.pdf")


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    document = mupdf.open()
    document.new_page().insert_text((72, 100), "Printing is restricted, reading is not.")
    data = document.tobytes(encryption=mupdf.PDF_ENCRYPT_AES_256, owner_pw="owner")

    assert parse_document(data, "restricted.pdf").text == "Printing is restricted, reading is not."


def test_a_scanned_pdf_without_a_text_layer_says_it_has_no_extractable_text() -> None:
    document = mupdf.open()
    document.new_page().insert_image(mupdf.Rect(72, 72, 400, 300), stream=png_bytes())

    with pytest.raises(ScannedDocument, match=re.escape("no extractable text — scanned?")):
        parse_document(document.tobytes(), "scan.pdf")


def test_a_pdf_with_an_empty_page_has_no_text() -> None:
    document = mupdf.open()
    document.new_page()

    with pytest.raises(EmptyDocument, match="no text") as caught:
        parse_document(document.tobytes(), "blank.pdf")
    assert not isinstance(caught.value, ScannedDocument)


def test_garbage_after_the_pdf_header_is_a_corrupt_file() -> None:
    data = b"%PDF-1.7\n" + os.urandom(4000)

    with pytest.raises(CorruptDocument, match="damaged"):
        parse_document(data, "broken.pdf")


def test_a_pdf_cut_short_is_corrupt_or_gives_what_could_be_recovered() -> None:
    data = pdf_bytes([[((72, 100), f"Recovered page {n}.")] for n in (1, 2)])

    with pytest.raises(CorruptDocument):
        parse_document(data[:300], "cut.pdf")
    repaired = parse_document(data[: len(data) - 200], "cut.pdf")
    assert "Recovered page 1." in repaired.text
    assert repaired.metadata["repaired"] is True


def test_a_pdf_with_more_pages_than_the_limit_is_refused() -> None:
    data = pdf_bytes([[((72, 100), "page")]] * 3)

    with pytest.raises(DocumentTooLarge, match="3 pages"):
        parse_document(data, "long.pdf", limits=ParseLimits(max_pages=2))


# --- DOCX ------------------------------------------------------------------------------------


def test_a_word_document_keeps_headings_paragraphs_and_a_table_in_place() -> None:
    document = word.Document()
    document.core_properties.title = "Evaluation report"
    document.core_properties.author = "A. Researcher"
    document.sections[0].header.paragraphs[0].text = "Case file 42"
    document.sections[0].footer.paragraphs[0].text = "Confidential draft"
    document.add_heading("Introduction", level=1)
    document.add_paragraph("The paragraph before the table.")
    table = document.add_table(rows=2, cols=3)
    for row_index, row in enumerate(table.rows):
        for cell_index, cell in enumerate(row.cells):
            cell.text = f"r{row_index}c{cell_index}"
    document.add_paragraph("The paragraph after the table.")
    document.add_paragraph("First step", style="List Number")
    document.add_paragraph("Second step", style="List Number")

    parsed = parse_document(docx_bytes(document), "report.docx")

    text = parsed.text
    assert parsed.document_type is DocumentType.DOCX
    assert text.index("Case file 42") < text.index("Introduction")
    assert (
        text.index("before the table")
        < text.index("r0c0 | r0c1 | r0c2")
        < text.index("after the table")
    )
    assert "r1c0 | r1c1 | r1c2" in text
    assert "1. First step" in text
    assert "2. Second step" in text
    assert text.rstrip().endswith("Confidential draft")
    assert parsed.metadata["title"] == "Evaluation report"
    assert parsed.metadata["author"] == "A. Researcher"


def test_a_header_repeated_on_the_first_page_appears_once() -> None:
    document = word.Document()
    section = document.sections[0]
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = "Ministry of Evaluation"
    section.header.paragraphs[0].text = "Ministry of Evaluation"
    section.first_page_footer.paragraphs[0].text = "Cover page"
    document.add_paragraph("Body text.")

    text = parse_document(docx_bytes(document), "memo.docx").text

    assert text.count("Ministry of Evaluation") == 1
    assert "Cover page" in text


def test_a_docx_zip_bomb_is_refused_quickly_without_unpacking_it() -> None:
    bomb = zeros_zip(
        "word/document.xml",
        120,
        extra={"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>"},
    )
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DocumentTooLarge, match="zip bomb"):
            parse_document(bomb, "bomb.docx")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1
    assert peak < 10 * 1024 * 1024


def test_a_docx_whose_zip_header_lies_about_sizes_is_read_with_a_cap() -> None:
    # Without the ratio check, the 30 MiB entry declares 30 MiB: over the total limit.
    limits = ParseLimits(max_compression_ratio=1e9, max_decompressed_bytes=8 * 1024 * 1024)
    honest = zeros_zip("word/document.xml", 30, extra={"[Content_Types].xml": b"<Types/>"})
    with pytest.raises(DocumentTooLarge):
        parse_document(honest, "big.docx", limits=limits)

    # The same entry declaring 1 KiB is read only as far as the declared size, then found bad.
    lying = with_declared_size(
        zeros_zip("word/document.xml", 30, extra={}),
        1024,
    )
    tracemalloc.start()
    try:
        with pytest.raises(CorruptDocument):
            parse_document(lying, "lying.docx", limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024


def test_a_damaged_word_document_is_corrupt() -> None:
    document = word.Document()
    document.add_paragraph("Some text.")
    data = docx_bytes(document)
    broken = zip_bytes({"[Content_Types].xml": b"<oops", "word/document.xml": b"<not xml"})

    with pytest.raises(CorruptDocument):
        parse_document(broken, "broken.docx")
    with pytest.raises(CorruptDocument):
        parse_document(data[: len(data) // 2], "half.docx")


# --- HTML ------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Budget cuts hit rural clinics</title>
<style>body { color: red; }</style><script>var tracking = "SCRIPT TEXT";</script></head>
<body>
<header><a href="/">Site logo</a><nav><ul><li><a href="/a">Home</a></li>
<li><a href="/b">World</a></li></ul></nav></header>
<div class="cookie-banner">We use cookies to improve your experience.</div>
<main>
 <article>
  <h1>Budget cuts hit rural clinics</h1>
  <p>The ministry cut the budget of <b>rural clinics</b> by 12 percent in 2023.</p>
  <ul class="related-links"><li><a href="/x">Read more: clinics in cities</a></li>
   <li><a href="/y">Read more: hospitals</a></li></ul>
  <p>Doctors said waiting times doubled.<br>Patients travelled further.</p>
  <table><tr><th>Region</th><th>Clinics</th></tr><tr><td>North</td><td>14</td></tr></table>
  <div class="share-buttons">Share on social media</div>
 </article>
 <aside>Most read: celebrity news</aside>
</main>
<footer role="contentinfo">Copyright 2024 News Corp. All rights reserved.</footer>
<noscript>Enable JavaScript</noscript>
</body></html>
"""


def test_an_html_page_gives_only_its_article_text() -> None:
    parsed = parse_document(PAGE.encode(), "article.html")

    assert parsed.document_type is DocumentType.HTML
    assert parsed.text == (
        "Budget cuts hit rural clinics\n\n"
        "The ministry cut the budget of rural clinics by 12 percent in 2023.\n\n"
        "Doctors said waiting times doubled.\nPatients travelled further.\n\n"
        "Region | Clinics\nNorth | 14"
    )
    assert parsed.metadata["title"] == "Budget cuts hit rural clinics"
    assert parsed.metadata["language"] == "en"


def test_a_page_without_article_or_main_keeps_its_body_text_without_boilerplate() -> None:
    page = (
        "<html><body><nav>Menu</nav><div id='content'><h2>Minutes</h2>"
        "<p>The council met on 3 May.</p></div><div role='navigation'>Pages</div>"
        "<footer>Contact us</footer></body></html>"
    )

    assert parse_document(page.encode(), "minutes.htm").text == (
        "Minutes\n\nThe council met on 3 May."
    )


def test_a_wiki_page_gives_its_article_without_the_wikis_furniture() -> None:
    page = """<html><body><div id="content">
    <div class="mw-indicators"><span id="coordinates"><a href="/geo">Coordinates</a>:
    47.6N 122.1W</span></div>
    <h1 id="firstHeading">Clinic</h1>
    <div id="bodyContent"><div id="siteSub" class="noprint">From Wikipedia, the free
    encyclopedia</div><div id="contentSub"></div>
    <div id="mw-content-text"><p>A clinic is a health facility for outpatients.</p>
    <h2>History<span class="mw-editsection">[<a href="/edit">edit</a>]</span></h2>
    <p>Clinics grew in number in the 19th century.</p>
    <div class="printfooter">Retrieved from "<a href="https://en.wikipedia.org/w/index.php?title=Clinic">https://en.wikipedia.org/w/index.php?title=Clinic</a>"</div></div>
    <div id="catlinks" class="catlinks"><div id="mw-normal-catlinks"><a href="/c">Categories</a>:
    <ul><li><a href="/c1">Health facilities</a></li><li><a href="/c2">Medicine</a></li></ul></div>
    <div id="mw-hidden-catlinks">Hidden categories: <ul><li><a href="/h1">Articles with
    short description</a></li><li><a href="/h2">Stubs</a></li></ul></div></div>
    </div></div></body></html>"""

    text = parse_document(page.encode(), "Clinic.html").text

    assert text == (
        "Clinic\n\nA clinic is a health facility for outpatients.\n\nHistory\n\n"
        "Clinics grew in number in the 19th century."
    )


def test_a_news_page_ends_with_its_article_not_with_topics_and_reuse_links() -> None:
    page = """<html><body><main><article>
    <h1>Rural clinics close</h1>
    <div id="maincontent"><p>Eleven clinics closed in the region this year.</p>
    <p>The ministry said it would review the closures.</p></div>
    <div><span>Topics</span><ul><li><a href="/health">Health</a></li>
    <li><a href="/rural-affairs">Rural affairs</a></li><li><a href="/nhs">NHS</a></li></ul></div>
    <div><a href="https://syndication.example.com/?url=rural-clinics">Reuse this content</a></div>
    <div class="group story-alsos"><h2>More on this story</h2></div>
    </article></main></body></html>"""

    text = parse_document(page.encode(), "clinics.html").text

    assert text == (
        "Rural clinics close\n\nEleven clinics closed in the region this year.\n\n"
        "The ministry said it would review the closures."
    )


def test_an_html_page_in_windows_1252_declared_in_a_meta_tag_decodes() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Café “naïve”</p></body></html>'

    parsed = parse_document(page.encode("cp1252"), "page.html")

    assert parsed.text == "Café “naïve”"


# --- TXT -------------------------------------------------------------------------------------

SAMPLE = "Le café était naïve, “quotes” — déjà vu.\r\nSecond line\rthird line\n"
EXPECTED = "Le café était naïve, “quotes” — déjà vu.\nSecond line\nthird line"


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (SAMPLE.encode("utf-8"), "utf-8"),
        (SAMPLE.encode("utf-8-sig"), "utf-8 (with BOM)"),
        (SAMPLE.encode("utf-16"), "utf-16-le (with BOM)"),
        (SAMPLE.encode("cp1252"), "cp1252"),
    ],
)
def test_plain_text_in_common_encodings_decodes(encoded: bytes, encoding: str) -> None:
    parsed = parse_document(encoded, "notes.txt")

    assert parsed.document_type is DocumentType.TXT
    assert parsed.text == EXPECTED
    assert parsed.metadata["encoding"] == encoding
    assert parsed.pages == [(0, len(EXPECTED))]


def test_short_windows_1252_text_is_not_taken_for_central_european() -> None:
    assert parse_document("café naïve “quotes”".encode("cp1252"), "a.txt").text == (
        "café naïve “quotes”"
    )


def test_cyrillic_text_in_windows_1251_decodes() -> None:
    text = "Отчёт о расходах программы за 2023 год. Бюджет вырос на десять процентов."  # noqa: RUF001

    assert parse_document(text.encode("cp1251"), "report.txt").text == text


def test_text_is_normalised_nfc_without_nul_bytes_and_long_blank_runs() -> None:
    data = "Cafe\u0301 one\x00\n\n\n\n\ntwo   \n\n\nthree".encode()

    parsed = parse_document(data, "a.txt")

    assert parsed.text == "Café one\n\ntwo\n\nthree"
    assert parsed.word_count == 4


def test_an_empty_or_blank_file_has_no_text() -> None:
    with pytest.raises(EmptyDocument):
        parse_document(b"", "empty.txt")
    with pytest.raises(EmptyDocument, match="no text"):
        parse_document(b"  \n\n \t\n", "blank.txt")


# --- detection -------------------------------------------------------------------------------


def test_the_content_decides_the_type_not_the_name() -> None:
    pdf = pdf_bytes([[((72, 100), "x")]])

    assert detect_type(pdf, "looks-like-text.txt") is DocumentType.PDF
    assert detect_type(b"<!DOCTYPE html><p>x</p>", "page.txt") is DocumentType.HTML
    assert detect_type(b"Just words, <b> in passing.", "notes.txt") is DocumentType.TXT
    assert detect_type(b"Just words.", "page.html") is DocumentType.HTML


@pytest.mark.parametrize(
    ("data", "filename", "named"),
    [
        (png_bytes(), "scan.pdf", "PNG image"),
        (b"\xff\xd8\xff\xe0" + os.urandom(2000), "photo.pdf", "JPEG image"),
        (
            zip_bytes({"xl/workbook.xml": b"<w/>", "[Content_Types].xml": b"<T/>"}),
            "a.docx",
            "Excel",
        ),
        (zip_bytes({"ppt/presentation.xml": b"<p/>"}), "a.docx", "PowerPoint"),
        (zip_bytes({"notes.txt": b"hello"}), "a.zip", "ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000), "old.doc", "legacy Office"),
        (b"\x7fELF\x02\x01\x01" + bytes(500), "program", "program"),
        (b"MZ\x90\x00\x03" + bytes(500), "setup.exe", "program"),
        (bytes(range(256)) * 8, "data.bin", "binary"),
    ],
)
def test_files_we_cannot_read_are_refused_naming_what_they_are(
    data: bytes, filename: str, named: str
) -> None:
    with pytest.raises(UnsupportedDocument, match=named) as caught:
        parse_document(data, filename)
    assert "PDF, Word (.docx), HTML or plain text" in caught.value.message


def test_a_text_file_starting_with_letters_of_a_signature_is_still_text() -> None:
    assert detect_type(b"BMI results by region", "bmi.txt") is DocumentType.TXT
    assert detect_type(b"MZ-2 survey notes", "notes.txt") is DocumentType.TXT


class ReadCounted(io.BytesIO):
    """An uploaded file that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (b"Interview transcripts, 2019-2023.\n", "transcripts.txt", DocumentType.TXT),
        (b"<!DOCTYPE html><html><body><p>Hearing.</p>", "hearing.html", DocumentType.HTML),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "scan.pdf", DocumentType.PDF),
        (png_bytes(), "scan.png", UnsupportedDocument),
    ],
    ids=["text", "html", "pdf", "png"],
)
def test_an_upload_of_any_size_is_judged_by_its_first_mib(
    head: bytes, filename: str, expected: DocumentType | type[Exception]
) -> None:
    upload = ReadCounted(head + b"More of the same line of text.\n" * (20 * MIB // 31))

    if isinstance(expected, DocumentType):
        assert detect_file_type(upload, filename) is expected
    else:
        with pytest.raises(expected):
            detect_file_type(upload, filename)

    assert upload.bytes_read <= MIB + 1  # one byte more says the file goes on
    assert upload.tell() == 0


# --- ZIP uploads -----------------------------------------------------------------------------


def unpacked(data: bytes, limits: ParseLimits) -> list[tuple[str, bytes]]:
    """The documents of the archive as (name, bytes), unpacked one by one as an upload does."""
    documents = []
    with ZipDocuments(io.BytesIO(data), limits) as archive:
        for name, info in archive.entries:
            entry = io.BytesIO()
            archive.extract(info, entry)
            documents.append((name, entry.getvalue()))
    return documents


def test_a_zip_of_documents_gives_them_by_name_without_folders_or_system_files() -> None:
    data = zip_bytes(
        {
            "reports/": b"",
            "reports/a.pdf": b"%PDF-1.4 a",
            "reports/2020/b.txt": b"bee",
            "__MACOSX/reports/._a.pdf": b"resource fork",
            ".DS_Store": b"junk",
            "reports/.hidden.txt": b"hidden",
            "Thumbs.db": b"junk",
        }
    )

    assert unpacked(data, ParseLimits()) == [("a.pdf", b"%PDF-1.4 a"), ("b.txt", b"bee")]


def test_entry_names_that_climb_out_of_the_archive_keep_only_their_file_name() -> None:
    data = zip_bytes(
        {"../../etc/passwd": b"p", "/abs/path/notes.txt": b"n", "..\\..\\win.txt": b"w"}
    )

    assert [name for name, _ in unpacked(data, ParseLimits())] == [
        "passwd",
        "notes.txt",
        "win.txt",
    ]


def test_a_zip_inside_the_zip_is_returned_unexpanded_and_parsing_refuses_it() -> None:
    inner = zip_bytes({"deep.txt": b"deep"})
    data = zip_bytes({"inner.zip": inner, "top.txt": b"top"})

    documents = unpacked(data, ParseLimits())

    assert documents == [("inner.zip", inner), ("top.txt", b"top")]
    with pytest.raises(UnsupportedDocument, match="ZIP archive"):
        parse_document(inner, "inner.zip")


def test_a_zip_with_too_many_entries_is_refused() -> None:
    data = zip_bytes({f"{n}.txt": b"x" for n in range(5)})

    with pytest.raises(DocumentTooLarge, match="5 files"):
        unpacked(data, ParseLimits(max_zip_entries=4))


def test_a_zip_bomb_upload_is_refused() -> None:
    with pytest.raises(DocumentTooLarge, match="zip bomb"):
        unpacked(zeros_zip("huge.txt", 50), ParseLimits())


def test_zip_entries_are_read_with_a_cap_on_their_total_and_each_size() -> None:
    data = zip_bytes({"a.txt": b"a" * 3000, "b.txt": b"b" * 3000})

    with pytest.raises(DocumentTooLarge):
        unpacked(data, ParseLimits(max_decompressed_bytes=5000))
    with pytest.raises(DocumentTooLarge, match=re.escape("a.txt")):
        unpacked(data, ParseLimits(max_document_bytes=2000))
    # A header that understates the size is caught when the entry is read.
    lying = with_declared_size(zip_bytes({"a.txt": b"a" * 3000}), 10)
    with pytest.raises(CorruptDocument):
        unpacked(lying, ParseLimits())


def test_a_password_protected_zip_is_refused() -> None:
    data = with_encrypted_flag(zip_bytes({"secret.txt": b"s"}))

    with pytest.raises(EncryptedDocument, match="password-protected"):
        unpacked(data, ParseLimits())


def test_a_damaged_zip_is_corrupt() -> None:
    with pytest.raises(CorruptDocument):
        unpacked(b"PK\x03\x04" + os.urandom(100), ParseLimits())
