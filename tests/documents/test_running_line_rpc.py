"""A running-line rule never removes a page's only content, over gRPC with a real worker: a PDF
whose every page carries one line at the same place is READY with that text, not FAILED."""

from __future__ import annotations

import subprocess

import grpc
import pytest
from coderai.v1 import common_pb2

from server.documents.parsing import PAGE_SEPARATOR
from tests.documents.files import pdf_bytes
from tests.factories import signed_in


@pytest.mark.parametrize(
    ("line", "position"),
    [
        ("Minutes of the harbour board, confidential", (72, 40)),  # in the top margin
        ("Minutes of the harbour board, confidential", (72, 810)),  # in the bottom margin
        ("7", (290, 810)),  # a bare number where a page number would stand
    ],
    ids=["head", "footer", "number"],
)
async def test_a_pdf_whose_every_page_has_one_line_at_the_same_place_keeps_it(
    channel: grpc.aio.Channel,
    unique_email: str,
    worker: subprocess.Popen[bytes],
    line: str,
    position: tuple[float, float],
) -> None:
    researcher = await signed_in(channel, unique_email)
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "slips.pdf", pdf_bytes([[(position, line)]] * 4))

    parsed = await researcher.parsed(result.document.id)

    assert parsed.document.status == common_pb2.DOCUMENT_STATUS_READY, parsed.document.error_message
    assert parsed.text == PAGE_SEPARATOR.join([line] * 4)
    assert parsed.document.page_count == 4
