"""The plain-text reader: the file decoded from the encoding it is in."""

from __future__ import annotations

from server.documents.archives import ParseLimits
from server.documents.detection import UnsupportedDocument, decode_text
from server.documents.formats.extraction import Extraction


def read_text(data: bytes, limits: ParseLimits) -> Extraction:
    """A plain-text file as one page, with the encoding it was decoded from."""
    decoded = decode_text(data)
    if decoded is None:
        raise UnsupportedDocument("The file is not text in an encoding we recognise.")
    return Extraction(pages=[decoded.text], page_count=1, metadata={"encoding": decoded.encoding})
