"""Document parsing and chunking throughput, and the memory a large PDF takes to parse.

Parses the shared corpus (shared/corpus beside the repository, or --corpus) and documents
generated here, in this process, one file after another, --repeat times each (the best run
counts: the others pay for cold caches):

  PDF    the corpus PDFs with a text layer, and a generated --pages page PDF (prose, every
         other page in two columns)
  DOCX   the corpus DOCX files, and a generated document of --paragraphs paragraphs and tables
  HTML   the corpus news, blog and Wikipedia pages
  chunk  chunk_text over a 1,000,000-character document (the handbook's text, repeated)

For each it prints files, pages, input MB, seconds, pages/s and MB/s (input bytes). Peak memory
is measured in a fresh subprocess per document: its peak resident set (VmHWM, what the worker
pays) minus that of the same subprocess after imports only, and tracemalloc's peak of Python
allocations (PyMuPDF's C allocations are not traced, ru_maxrss sees them).

    .venv/bin/python bench/parsing.py [--repeat 3] [--pages 500] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import pymupdf

from server.documents.chunking import chunk_text
from server.documents.parsing import DocumentParseError, ParsedDocument, parse_document
from server.llm.tokens import count_tokens

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPOSITORY.parent / "shared" / "corpus"
# The handbook has no docProps/app.xml; the corpus manifest gives its rendered page count.
NOMINAL_PAGES = {"handbook-872p.docx": 872}
# PyMuPDF's and python-docx's annotations are partial: used through Any, as in the format readers.
mupdf: Any = pymupdf
word: Any = docx

SENTENCES = [
    "The program reached {n} households in the northern districts during its second year.",
    "Survey teams interviewed respondents about income, schooling and access to clinics.",
    "Budget execution fell short of the plan because transfers arrived late in the season.",
    "Evaluators compared treated villages with a matched sample of comparison villages.",
    "Attrition between baseline and follow-up stayed below {n} percent in every region.",
]


@dataclass
class Sample:
    name: str
    data: bytes


@dataclass
class Timing:
    files: int
    pages: int | None  # None where the format has no pages we know of
    megabytes: float
    seconds: float
    words: int


def prose(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(SENTENCES).format(n=rng.randint(2, 900)) for _ in range(sentences))


def generated_pdf(pages: int) -> Sample:
    """A PDF of `pages` pages of prose; odd pages are set in two columns."""
    rng = random.Random(1)
    document = mupdf.open()
    for number in range(pages):
        page = document.new_page(width=595, height=842)
        page.insert_text((72, 60), f"Evaluation report, page {number + 1}", fontsize=9)
        if number % 2:
            page.insert_textbox(mupdf.Rect(60, 90, 290, 780), prose(rng, 14), fontsize=10)
            page.insert_textbox(mupdf.Rect(305, 90, 535, 780), prose(rng, 14), fontsize=10)
        else:
            page.insert_textbox(mupdf.Rect(72, 90, 523, 780), prose(rng, 26), fontsize=10)
    return Sample(f"generated-{pages}p.pdf", bytes(document.tobytes(garbage=3, deflate=True)))


def generated_docx(paragraphs: int) -> Sample:
    """A Word document of headings, paragraphs and a table every 50 paragraphs."""
    rng = random.Random(2)
    document = word.Document()
    for index in range(paragraphs):
        if index % 50 == 0:
            document.add_heading(f"Section {index // 50 + 1}", level=1)
            table = document.add_table(rows=4, cols=3)
            for row in table.rows:
                for cell in row.cells:
                    cell.text = str(rng.randint(1, 1000))
        document.add_paragraph(prose(rng, rng.randint(2, 6)))
    buffer = io.BytesIO()
    document.save(buffer)
    return Sample(f"generated-{paragraphs}par.docx", buffer.getvalue())


def corpus_samples(corpus: Path, suffix: str) -> list[Sample]:
    if not corpus.is_dir():
        return []
    samples = []
    for path in sorted(corpus.glob(f"*/*{suffix}")):
        if ".expected" in path.name:
            continue
        samples.append(Sample(path.name, path.read_bytes()))
    return samples


def handbook_sample(corpus: Path) -> list[Sample]:
    return [s for s in corpus_samples(corpus, ".docx") if s.name in NOMINAL_PAGES]


def parse_readable(samples: list[Sample]) -> list[tuple[Sample, ParsedDocument]]:
    """The samples that parse (encrypted and scanned corpus PDFs are refused by design)."""
    readable = []
    for sample in samples:
        try:
            readable.append((sample, parse_document(sample.data, sample.name)))
        except DocumentParseError:
            continue
    return readable


def time_parsing(samples: list[Sample], repeat: int, *, paged: bool) -> Timing:
    readable = parse_readable(samples)  # also the warm-up
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for sample, _ in readable:
            parse_document(sample.data, sample.name)
        best = min(best, time.perf_counter() - started)
    return Timing(
        files=len(readable),
        pages=sum(NOMINAL_PAGES.get(s.name, parsed.page_count) for s, parsed in readable)
        if paged
        else None,
        megabytes=sum(len(sample.data) for sample, _ in readable) / 1e6,
        seconds=best,
        words=sum(parsed.word_count for _, parsed in readable),
    )


def report(label: str, timing: Timing) -> None:
    seconds = max(timing.seconds, 1e-9)
    pages = f"{timing.pages:>5} pages" if timing.pages is not None else " " * 11
    rate = f"{timing.pages / seconds:>6.0f} pages/s" if timing.pages is not None else " " * 14
    print(
        f"  {label:<32} {timing.files:>2} files {pages} {timing.megabytes:>6.2f} MB "
        f"{timing.seconds:>6.3f} s {rate} {timing.megabytes / seconds:>6.2f} MB/s "
        f"{timing.words / seconds / 1e3:>5.0f} kwords/s"
    )


def measure_memory(sample: Sample) -> dict[str, float]:
    """Peak memory of parsing one document, in a subprocess of its own."""
    with tempfile.NamedTemporaryFile(suffix=Path(sample.name).suffix) as handle:
        handle.write(sample.data)
        handle.flush()
        baseline = _child(["--child-baseline"])
        parsed = _child(["--child-parse", handle.name])
    return {
        "rss_mb": (parsed["maxrss_kb"] - baseline["maxrss_kb"]) / 1024,
        "rss_total_mb": parsed["maxrss_kb"] / 1024,
        "traced_mb": parsed["traced_peak"] / 1e6,
        "seconds": parsed["seconds"],
    }


def _child(arguments: list[str]) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, __file__, *arguments],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def child_main(arguments: list[str]) -> None:
    """In the subprocess: parse one file (or nothing) and print the peaks as JSON."""
    result: dict[str, float] = {}
    if arguments[0] == "--child-parse":
        path = Path(arguments[1])
        data = path.read_bytes()
        tracemalloc.start()
        started = time.perf_counter()
        parse_document(data, path.name)
        result["seconds"] = time.perf_counter() - started
        result["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    result["maxrss_kb"] = peak_rss_kb()
    print(json.dumps(result))


def peak_rss_kb() -> float:
    """This process's peak resident set. VmHWM starts afresh at exec; ru_maxrss on Linux keeps
    the peak of the parent that forked us, so it is only the fallback."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def time_chunking(text: str, repeat: int) -> None:
    best = float("inf")
    chunks = chunk_text(text)
    for _ in range(repeat):
        started = time.perf_counter()
        chunks = chunk_text(text)
        best = min(best, time.perf_counter() - started)
    tokens = count_tokens(text)
    print(
        f"  chunk_text over {len(text):,} characters ({tokens:,} tokens): {len(chunks)} chunks "
        f"in {best:.3f} s = {len(text) / best / 1e6:.2f} M chars/s, "
        f"{tokens / best / 1e3:.0f} k tokens/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", type=int, default=500, help="pages of the generated PDF")
    parser.add_argument("--paragraphs", type=int, default=5000, help="of the generated DOCX")
    options = parser.parse_args()

    print(
        f"python {platform.python_version()}, pymupdf {pymupdf.VersionBind}, "
        f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, repeat {options.repeat}, "
        f"corpus {'found' if options.corpus.is_dir() else 'absent'}"
    )
    big_pdf = generated_pdf(options.pages)
    big_docx = generated_docx(options.paragraphs)
    groups: list[tuple[str, Callable[[], list[Sample]], bool]] = [
        ("PDF corpus", lambda: corpus_samples(options.corpus, ".pdf"), True),
        (f"PDF generated ({options.pages} pages)", lambda: [big_pdf], True),
        ("DOCX handbook (872 pages)", lambda: handbook_sample(options.corpus), True),
        ("DOCX corpus", lambda: corpus_samples(options.corpus, ".docx"), False),
        (f"DOCX generated ({options.paragraphs} paras)", lambda: [big_docx], False),
        ("HTML corpus", lambda: corpus_samples(options.corpus, ".html"), False),
    ]
    print("parsing (best of --repeat runs, one process, files one after another):")
    for label, samples, paged in groups:
        found = samples()
        if found:
            report(label, time_parsing(found, options.repeat, paged=paged))

    print("peak memory of parsing one document (fresh subprocess each):")
    memory_samples = [big_pdf, big_docx]
    for name in ("pdf/GeoTopo-komprimiert.pdf", "docx/handbook-872p.docx"):
        path = options.corpus / name
        if path.is_file():
            memory_samples.append(Sample(path.name, path.read_bytes()))
    for sample in memory_samples:
        memory = measure_memory(sample)
        print(
            f"  {sample.name:<34} {len(sample.data) / 1e6:>6.2f} MB file: "
            f"+{memory['rss_mb']:.0f} MB RSS over imports ({memory['rss_total_mb']:.0f} MB "
            f"total), tracemalloc peak {memory['traced_mb']:.0f} MB, {memory['seconds']:.2f} s"
        )

    print("chunking:")
    handbook = options.corpus / "docx" / "handbook-872p.docx"
    if handbook.is_file():
        text = parse_document(handbook.read_bytes(), handbook.name).text
    else:
        text = parse_document(big_docx.data, big_docx.name).text
    time_chunking((text * (1_000_000 // len(text) + 1))[:1_000_000], options.repeat)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        child_main(sys.argv[1:])
    else:
        main()
