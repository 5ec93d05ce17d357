"""Reading ZIP containers (a .docx, or a .zip of documents) without trusting them.

A ZIP's headers can lie and a few kilobytes can unpack to gigabytes, so every entry is read in
pieces with a cap, and an archive is refused before it is unpacked when its declared sizes,
entry count or compression ratio are out of bounds.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from server.documents.detection import CorruptDocument, DocumentTooLarge, EncryptedDocument

MIB = 1024 * 1024

# Ratios are checked only for entries this large: small XML parts compress very well and
# cannot hurt anyone.
_RATIO_CHECKED_FROM_BYTES = MIB
_READ_PIECE_BYTES = MIB
# Files that operating systems add to archives and that nobody uploads on purpose.
_SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_NAME_CHARS = 255
_ARCHIVE = "ZIP archive"


class ByteSink(Protocol):
    """Where an entry is unpacked to, in order: a file, or an upload spool that hashes it."""

    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on the work one document may cause; the defaults admit any real document."""

    # One document, or one file inside a ZIP, once unpacked.
    max_document_bytes: int = 100 * MIB
    # Everything a DOCX or a ZIP of documents unpacks to.
    max_decompressed_bytes: int = 256 * MIB
    max_pages: int = 2000
    max_zip_entries: int = 10_000
    # Word's XML compresses about 10-30:1; zip bombs reach 1000:1.
    max_compression_ratio: float = 100.0
    # The longest text kept (DOCUMENT_MAX_TEXT_CHARS), and the most bytes read to find it: of
    # a plain-text file (DOCUMENT_MAX_TEXT_FILE_BYTES), of an HTML page or a Word document's
    # unpacked XML (DOCUMENT_MAX_MARKUP_BYTES; parsed into trees of about 15-20 times their
    # size). Together they bound a worker's memory per document.
    max_text_chars: int = 10_000_000
    max_text_file_bytes: int = 40_000_000
    max_markup_bytes: int = 20_000_000


DEFAULT_LIMITS = ParseLimits()


def open_zip(source: bytes | IO[bytes], limits: ParseLimits, *, what: str) -> zipfile.ZipFile:
    """The archive (in memory, or a file it reads from as it goes), after its declared entries
    passed the limits (nothing is unpacked yet).

    `what` names the archive in messages ("Word document", "ZIP archive").
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
        raise CorruptDocument(f"The {what} is damaged and cannot be opened.") from e
    try:
        _check_declared(archive.infolist(), limits, what=what)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_declared(infos: list[zipfile.ZipInfo], limits: ParseLimits, *, what: str) -> None:
    if len(infos) > limits.max_zip_entries:
        raise DocumentTooLarge(
            f"The {what} holds {len(infos)} files; at most {limits.max_zip_entries} are accepted."
        )
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise EncryptedDocument(
                f"The {what} is password-protected. Remove the password and upload it again."
            )
        _check_ratio(info, info.file_size, limits, what=what)
        if info.file_size > limits.max_document_bytes:
            raise _too_large(what, info.filename, limits.max_document_bytes)
        total += info.file_size
    if total > limits.max_decompressed_bytes:
        raise DocumentTooLarge(
            f"The {what} would unpack to {total // MIB} MiB; "
            f"the limit is {limits.max_decompressed_bytes // MIB} MiB."
        )


def _check_ratio(info: zipfile.ZipInfo, size: int, limits: ParseLimits, *, what: str) -> None:
    """Refuses an entry whose `size` (declared, or read so far) is a zip bomb's ratio to its
    compressed size (which zipfile reads exactly that much of, so it cannot lie)."""
    if (
        size > _RATIO_CHECKED_FROM_BYTES
        and size > info.compress_size * limits.max_compression_ratio
    ):
        raise DocumentTooLarge(
            f"The {what} looks like a zip bomb: {info.filename} would unpack to "
            f"{size // MIB} MiB from {max(info.compress_size // 1024, 1)} KiB."
        )


def _pieces(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, limits: ParseLimits, *, what: str
) -> Iterator[bytes]:
    """An entry's bytes a piece at a time, refused as soon as they pass `cap` bytes or the
    compression ratio, whatever its header declared; a damaged entry (bad CRC, truncated
    stream) is CorruptDocument."""
    size = 0
    try:
        with archive.open(info) as entry:
            while piece := entry.read(_READ_PIECE_BYTES):
                size += len(piece)
                if size > cap:
                    raise _too_large(what, info.filename, cap)
                _check_ratio(info, size, limits, what=what)
                yield piece
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise CorruptDocument(f"The {what} is damaged: {info.filename} cannot be read.") from e
    except NotImplementedError as e:
        raise CorruptDocument(
            f"The {what} uses a compression method we cannot read ({info.filename})."
        ) from e


def verify_entries(archive: zipfile.ZipFile, limits: ParseLimits, *, what: str) -> None:
    """Unpacks every entry once, within the limits, keeping nothing: proof that the archive
    holds what its headers say before a library that trusts them reads it."""
    _verify(archive, [info for info in archive.infolist() if not info.is_dir()], limits, what=what)


def _verify(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: ParseLimits, *, what: str
) -> None:
    budget = limits.max_decompressed_bytes
    for info in infos:
        cap = min(limits.max_document_bytes, budget)
        budget -= sum(len(piece) for piece in _pieces(archive, info, cap, limits, what=what))


class ZipDocuments:
    """The documents inside a ZIP a researcher uploaded, read from a file and unpacked one at a
    time, so that memory holds one piece of one entry whatever the archive's size.

    Folders, macOS resource forks, hidden and system files and symbolic links are skipped.
    Names are reduced to their last component, so "../../etc/passwd" is just "passwd" and
    nothing can point outside. A ZIP inside the ZIP is returned as it is, not expanded: parsing
    refuses it with its own message. The whole archive is refused, before any entry is handed
    out, when it is encrypted, damaged, or unpacks beyond the limits: every document entry is
    unpacked once on opening and its bytes dropped (decompression runs twice; nothing is kept
    of an archive that is refused). Blocking: call it from a thread in async code.
    """

    def __init__(self, source: IO[bytes], limits: ParseLimits = DEFAULT_LIMITS) -> None:
        self._archive = open_zip(source, limits, what=_ARCHIVE)
        try:
            self.entries: list[tuple[str, zipfile.ZipInfo]] = [
                (name, info)
                for info in self._archive.infolist()
                if (name := _document_name(info)) is not None
            ]
            _verify(self._archive, [info for _, info in self.entries], limits, what=_ARCHIVE)
        except BaseException:
            self._archive.close()
            raise
        self._limits = limits
        self._budget = limits.max_decompressed_bytes

    def extract(self, info: zipfile.ZipInfo, into: ByteSink) -> int:
        """Writes the entry's bytes to `into`, a piece at a time and within the limits whatever
        the headers say; how many."""
        cap = min(self._limits.max_document_bytes, self._budget)
        size = 0
        for piece in _pieces(self._archive, info, cap, self._limits, what=_ARCHIVE):
            into.write(piece)
            size += len(piece)
        self._budget -= size
        return size

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> ZipDocuments:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _document_name(info: zipfile.ZipInfo) -> str | None:
    """The name to keep for an entry, or None for entries that are not documents."""
    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
        return None
    parts = [part for part in re.split(r"[/\\]", info.filename) if part]
    hidden = (part.startswith(".") and part not in {".", ".."} for part in parts)
    if not parts or "__MACOSX" in parts or any(hidden):
        return None
    name = _UNPRINTABLE.sub("", parts[-1]).strip()
    if not name or name in {".", ".."} or name.lower() in _SYSTEM_FILES:
        return None
    return name[-_MAX_NAME_CHARS:]


def _too_large(what: str, entry: str, cap: int) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"The {what} is too large once unpacked: {entry} exceeds {max(cap // MIB, 1)} MiB."
    )
