"""Whether the text the model reads is the document's text, and how long texts are chunked.

Figures, for the working tree and for the `server` package at --baseline (HEAD by default):

  running lines   contracts generated here with each kind of running line real contracts carry
                  (tests/documents/running.py: title and page number, "Page n of N", bare page
                  numbers, "Exhibit X - Page n", heads and footers set against the text, a
                  four-line footer, two-page documents): a document keeps a running line when
                  its text is not word for word its clauses. The corpus PDFs: a document keeps
                  one when a page's first or last line is one of its known running lines.
  site furniture  the corpus web pages' furniture strings still in their text.
  chunk sizes     tokens per chunk of every document over the chunking threshold (5,000 words):
                  generated contracts of 13-45 pages and the corpus documents.

The baseline's `server` package is exported with `git archive` into a temporary folder and
measured in a subprocess that imports it first, so the working tree is left as it is.

    .venv/bin/python -m bench.text_quality [--baseline REV | --no-baseline] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPOSITORY.parent / "shared" / "corpus"
# Contract lengths whose text is chunked (6 pages hold about 3,300 words; 13 about 8,500 tokens).
CHUNKED_CONTRACT_PAGES = (13, 20, 30, 45)
CORPUS_SUFFIXES = (".pdf", ".docx", ".html")


def measure(corpus: Path) -> dict[str, Any]:
    """Everything this benchmark reports, for the `server` package that imports first."""
    # Imported here: the caller decides which `server` package is on the path first.
    from server.documents.chunking import chunk_text
    from server.documents.parsing import DocumentParseError, parse_document
    from server.llm.tokens import count_tokens
    from tests.documents.files import contract_pdf
    from tests.documents.running import (
        CORPUS_RUNNING_LINES,
        CORPUS_SITE_FURNITURE,
        RUNNING_LINES,
        kept_running_lines,
    )

    page_n_of_n = next(kind for kind in RUNNING_LINES if kind.name == "Page n of N")
    contracts = [(kind.name, kind, 1) for kind in RUNNING_LINES] + [
        (f"Page n of N, {pages} pages", replace(page_n_of_n, pages=pages), pages)
        for pages in CHUNKED_CONTRACT_PAGES
    ]
    generated = []
    texts: list[tuple[str, str]] = []
    for name, kind, seed in contracts:
        contract = contract_pdf(kind.pages, kind.margins, seed=seed, body_top=kind.body_top)
        text = parse_document(contract.data, "contract.pdf").text
        words, body = Counter(text.split()), Counter(contract.body.split())
        generated.append(
            {
                "name": name,
                "pages": kind.pages,
                "kept": sum((words - body).values()),
                "lost": sum((body - words).values()),
            }
        )
        if kind.pages in CHUNKED_CONTRACT_PAGES:
            texts.append((f"contract, {kind.pages} pages", text))

    corpus_pdfs = []
    for name, expected in CORPUS_RUNNING_LINES.items():
        document = parse_document((corpus / name).read_bytes(), Path(name).name)
        corpus_pdfs.append(
            {
                "name": name,
                "pages": document.page_count,
                "has_running_lines": bool(expected.top or expected.bottom),
                "kept": kept_running_lines(document, expected),
            }
        )

    furniture = []
    for name, strings in CORPUS_SITE_FURNITURE.items():
        text = parse_document((corpus / name).read_bytes(), Path(name).name).text
        furniture.append({"name": name, "present": [s for s in strings if s in text]})

    for path in sorted(corpus.rglob("*")):
        if path.suffix in CORPUS_SUFFIXES and ".expected" not in path.name:
            try:
                texts.append(
                    (
                        str(path.relative_to(corpus)),
                        parse_document(path.read_bytes(), path.name).text,
                    )
                )
            except DocumentParseError:
                continue  # refused by design: encrypted, scanned
    chunked = []
    for name, text in texts:
        chunks = chunk_text(text)
        if chunks:
            chunked.append(
                {
                    "name": name,
                    "tokens": count_tokens(text),
                    "sizes": [chunk.token_count for chunk in chunks],
                }
            )
    return {
        "generated": generated,
        "corpus_pdfs": corpus_pdfs,
        "furniture": furniture,
        "chunks": chunked,
    }


def measure_in_subprocess(server_root: Path, corpus: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.text_quality",
        "--measure",
        str(server_root),
        "--corpus",
        str(corpus),
    ]
    done = subprocess.run(
        command, cwd=REPOSITORY, capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def export_server(revision: str, into: Path) -> None:
    """The `server` package as committed at `revision`, unpacked into `into`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "server"],
        cwd=REPOSITORY,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / max(total, 1):.0f} %)"


def report(runs: dict[str, dict[str, Any]]) -> None:
    labels = list(runs)
    print("Running lines in generated contracts: words of the margins kept / words of the")
    print("clauses lost (the last four are long contracts whose text is chunked below)")
    print(f"  {'kind':34} {'pages':>5}" + "".join(f" {label:>14}" for label in labels))
    first = runs[labels[0]]
    for index, kind in enumerate(first["generated"]):
        counts = [runs[label]["generated"][index] for label in labels]
        print(
            f"  {kind['name']:34} {kind['pages']:>5}"
            + "".join(f" {c['kept']:>6} / {c['lost']:<5}" for c in counts)
        )
    for label in labels:
        generated = runs[label]["generated"]
        kept = sum(1 for kind in generated if kind["kept"])
        lost = sum(1 for kind in generated if kind["lost"])
        print(
            f"  {label}: documents keeping a running line {share(kept, len(generated))}, "
            f"losing words of the text {share(lost, len(generated))}"
        )

    print("\nRunning lines in the corpus PDFs (running lines left at a page's top or bottom)")
    print(f"  {'document':48} {'pages':>5}" + "".join(f" {label:>10}" for label in labels))
    for index, document in enumerate(first["corpus_pdfs"]):
        counts = [str(len(runs[label]["corpus_pdfs"][index]["kept"])) for label in labels]
        if not document["has_running_lines"]:
            counts = [f"({count})" for count in counts]
        print(
            f"  {document['name']:48} {document['pages']:>5}"
            + "".join(f" {count:>10}" for count in counts)
        )
    for label in labels:
        having = [d for d in runs[label]["corpus_pdfs"] if d["has_running_lines"]]
        kept = sum(1 for document in having if document["kept"])
        print(f"  documents keeping a running line, {label}: {share(kept, len(having))}")
        for document in having:
            if document["kept"]:
                print(f"    {document['name']}: {document['kept'][:3]}")

    print("\nSite furniture in the corpus web pages (strings still in the text)")
    for label in labels:
        for page in runs[label]["furniture"]:
            print(f"  {label:>10} {page['name']:44} {page['present'] or '-'}")

    print("\nChunk sizes in tokens (documents over 5,000 words; promise: 2,000-3,000, the last")
    print("may hold fewer)")
    print(f"  {'document':40} {'run':>6} {'tokens':>8}  chunks  min / median / max, last")
    names = dict.fromkeys(d["name"] for label in labels for d in runs[label]["chunks"])
    for name in names:
        for label in labels:
            chunked = next((d for d in runs[label]["chunks"] if d["name"] == name), None)
            if chunked is None:
                print(f"  {name[:40]:40} {label:>6}  not chunked")
                continue
            sizes = chunked["sizes"]
            print(
                f"  {name[:40]:40} {label:>6} {chunked['tokens']:>8,}  {len(sizes):>6}"
                f"  {min(sizes):,} / {statistics.median(sizes):,.0f} / {max(sizes):,}, "
                f"{sizes[-1]:,}"
            )
    for label in labels:
        documents = runs[label]["chunks"]
        sizes = [size for document in documents for size in document["sizes"]]
        outside = sum(1 for size in sizes if not 2000 <= size <= 3000)
        spreads = [
            (max(d["sizes"]) - min(d["sizes"])) / statistics.mean(d["sizes"]) for d in documents
        ]
        lasts = [d["sizes"][-1] / statistics.mean(d["sizes"][:-1]) for d in documents]
        print(
            f"  {label}: {len(sizes)} chunks in {len(documents)} documents; outside 2,000-3,000: "
            f"{share(outside, len(sizes))}; (max - min) / mean per document: median "
            f"{statistics.median(spreads):.2f}, worst {max(spreads):.2f}; last chunk / mean "
            f"of the others: median {statistics.median(lasts):.2f}, smallest {min(lasts):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        # The subprocess: the `server` package under this folder comes first.
        sys.path.insert(0, str(args.measure))
        json.dump(measure(args.corpus), sys.stdout)
        return
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    runs: dict[str, dict[str, Any]] = {}
    if not args.no_baseline:
        print(f"before: server/ at {args.baseline}; after: the working tree\n")
        with tempfile.TemporaryDirectory() as folder:
            export_server(args.baseline, Path(folder))
            runs["before"] = measure_in_subprocess(Path(folder), args.corpus)
    runs["after"] = measure_in_subprocess(REPOSITORY, args.corpus)
    report(runs)


if __name__ == "__main__":
    main()
