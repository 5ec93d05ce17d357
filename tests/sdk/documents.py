"""A folder of documents as a researcher has them: a PDF, a Word file, a web page, plain text,
a corrupt PDF, and what a folder also holds (a hidden file, an image the server would refuse)."""

from __future__ import annotations

from pathlib import Path

import docx

from tests.documents.files import docx_bytes, pdf_bytes, png_bytes
from tests.jobs.test_jobs import REPORT

TOWNS = ("Kiel", "Husum", "Emden", "Leer")


def report(index: int) -> str:
    return REPORT.format(town=TOWNS[index], budget=2_000_000 + index)


def research_folder(root: Path) -> Path:
    folder = root / "minutes"
    (folder / "html").mkdir(parents=True)
    (folder / "kiel.pdf").write_bytes(
        pdf_bytes([[((72, 72 + 16 * n), line) for n, line in enumerate(report(0).splitlines())]])
    )
    word = docx.Document()
    for paragraph in report(1).split("\n\n"):
        word.add_paragraph(paragraph)
    (folder / "husum.docx").write_bytes(docx_bytes(word))
    (folder / "html" / "emden.html").write_text(
        f"<html><head><title>Emden</title></head><body><p>{report(2)}</p></body></html>"
    )
    (folder / "leer.txt").write_text(report(3))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<\nthis is not a PDF any more")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "logo.png").write_bytes(png_bytes())
    return folder


CODEBOOK = """\
variables:
  - name: approval_date
    type: date
    instructions: The date the council approved the plan.
  - name: budget
    type: number
    instructions: The budget of the plan in euros.
    validation:
      min_value: 0
  - name: sector
    type: category
    instructions: The policy sector of the plan.
    categories:
      infrastructure: sea walls, dunes, harbour works, roads
      health: hospitals, doctors, patients
  - name: works
    type: text
    instructions: The works the plan pays for.
    if_multiple_values: all
    max_values: 3
"""
