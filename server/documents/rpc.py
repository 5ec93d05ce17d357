"""DocumentService servicer: converts messages, calls DocumentService."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from coderai.v1 import common_pb2, document_pb2, document_pb2_grpc

from server.core.errors import FieldViolation, InvalidArgument
from server.core.interceptors import RpcContext, current_user_id
from server.core.pagination import page_size
from server.core.proto import enum_from_proto, enum_to_proto, parse_id, timestamp
from server.documents.models import Document, DocumentChunk, DocumentStatus
from server.documents.service import DocumentService, UploadFile, UploadOutcome, UploadTarget


def document_message(document: Document) -> document_pb2.Document:
    return document_pb2.Document(
        id=str(document.id),
        project_id=str(document.project_id),
        filename=document.filename,
        mime_type=document.mime_type,
        size_bytes=document.size_bytes,
        content_hash=document.content_hash,
        status=enum_to_proto(document.status, "DOCUMENT_STATUS"),
        error_message=document.error_message or "",
        word_count=document.word_count,
        page_count=document.page_count,
        chunk_count=document.chunk_count,
        create_time=timestamp(document.created_at),
        update_time=timestamp(document.updated_at),
    )


def chunk_message(chunk: DocumentChunk) -> document_pb2.DocumentChunk:
    return document_pb2.DocumentChunk(
        ordinal=chunk.ordinal,
        text=chunk.text_content,
        token_count=chunk.token_count,
        start_offset=chunk.start_offset,
        end_offset=chunk.end_offset,
    )


def result_messages(outcomes: Sequence[UploadOutcome]) -> list[document_pb2.UploadResult]:
    return [
        document_pb2.UploadResult(
            filename=outcome.filename,
            document=document_message(outcome.document) if outcome.document else None,
            duplicate=outcome.duplicate,
            error_message=outcome.error_message,
        )
        for outcome in outcomes
    ]


async def upload_messages(
    requests: AsyncIterator[document_pb2.UploadDocumentRequest],
) -> AsyncIterator[UploadTarget | bytes]:
    """An UploadDocument stream as the service reads it: the metadata, then the file's bytes."""
    async for request in requests:
        if request.WhichOneof("payload") == "metadata":
            yield UploadTarget(
                project_id=parse_id(request.metadata.project_id, "metadata.project_id"),
                filename=request.metadata.filename,
            )
        else:
            yield request.chunk


class DocumentServicer(document_pb2_grpc.DocumentServiceServicer):
    def __init__(self, service: DocumentService) -> None:
        self._service = service

    async def UploadDocument(  # noqa: N802 - gRPC method names are the proto's
        self,
        request_iterator: AsyncIterator[document_pb2.UploadDocumentRequest],
        context: RpcContext,
    ) -> document_pb2.UploadDocumentResponse:
        outcomes = await self._service.upload_stream(
            current_user_id(), upload_messages(request_iterator)
        )
        return document_pb2.UploadDocumentResponse(results=result_messages(outcomes))

    async def UploadDocuments(  # noqa: N802
        self, request: document_pb2.UploadDocumentsRequest, context: RpcContext
    ) -> document_pb2.UploadDocumentsResponse:
        project_id = parse_id(request.project_id, "project_id")
        if not request.files:
            raise InvalidArgument("no files", [FieldViolation("files", "at least one file")])
        outcomes = await self._service.upload_files(
            current_user_id(),
            project_id,
            [UploadFile(filename=file.filename, content=file.content) for file in request.files],
        )
        return document_pb2.UploadDocumentsResponse(results=result_messages(outcomes))

    async def BeginUpload(  # noqa: N802
        self, request: document_pb2.BeginUploadRequest, context: RpcContext
    ) -> document_pb2.BeginUploadResponse:
        metadata = request.metadata
        upload = await self._service.begin_upload(
            current_user_id(),
            parse_id(metadata.project_id, "metadata.project_id"),
            metadata.filename,
            request.size_bytes,
            metadata.mime_type,
        )
        return document_pb2.BeginUploadResponse(
            upload_id=str(upload.id), max_part_bytes=self._service.max_part_bytes
        )

    async def AppendUpload(  # noqa: N802
        self, request: document_pb2.AppendUploadRequest, context: RpcContext
    ) -> document_pb2.AppendUploadResponse:
        received = await self._service.append_upload(
            current_user_id(),
            parse_id(request.upload_id, "upload_id"),
            request.offset,
            request.data,
        )
        return document_pb2.AppendUploadResponse(received_bytes=received)

    async def FinishUpload(  # noqa: N802
        self, request: document_pb2.FinishUploadRequest, context: RpcContext
    ) -> document_pb2.FinishUploadResponse:
        outcomes = await self._service.finish_upload(
            current_user_id(), parse_id(request.upload_id, "upload_id")
        )
        return document_pb2.FinishUploadResponse(results=result_messages(outcomes))

    async def AbortUpload(  # noqa: N802
        self, request: document_pb2.AbortUploadRequest, context: RpcContext
    ) -> document_pb2.AbortUploadResponse:
        await self._service.abort_upload(
            current_user_id(), parse_id(request.upload_id, "upload_id")
        )
        return document_pb2.AbortUploadResponse()

    async def GetDocument(  # noqa: N802
        self, request: document_pb2.GetDocumentRequest, context: RpcContext
    ) -> document_pb2.GetDocumentResponse:
        details = await self._service.get(
            current_user_id(), parse_id(request.document_id, "document_id"), request.include_text
        )
        return document_pb2.GetDocumentResponse(
            document=document_message(details.document),
            text=details.text,
            chunks=[chunk_message(chunk) for chunk in details.chunks],
            text_omitted=details.text_omitted,
            text_length=details.text_length,
        )

    async def GetDocumentText(  # noqa: N802
        self, request: document_pb2.GetDocumentTextRequest, context: RpcContext
    ) -> document_pb2.GetDocumentTextResponse:
        page = await self._service.get_text(
            current_user_id(),
            parse_id(request.document_id, "document_id"),
            request.offset,
            request.limit,
        )
        return document_pb2.GetDocumentTextResponse(
            text=page.text,
            offset=page.offset,
            text_length=page.text_length,
            next_offset=page.next_offset,
        )

    async def ListDocuments(  # noqa: N802
        self, request: document_pb2.ListDocumentsRequest, context: RpcContext
    ) -> document_pb2.ListDocumentsResponse:
        status = enum_from_proto(
            request.status, DocumentStatus, common_pb2.DocumentStatus, "DOCUMENT_STATUS", "status"
        )
        documents, next_token = await self._service.list(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            status,
            page_size(request.page_size),
            request.page_token,
        )
        return document_pb2.ListDocumentsResponse(
            documents=[document_message(document) for document in documents],
            next_page_token=next_token,
        )

    async def DeleteDocument(  # noqa: N802
        self, request: document_pb2.DeleteDocumentRequest, context: RpcContext
    ) -> document_pb2.DeleteDocumentResponse:
        await self._service.delete(current_user_id(), parse_id(request.document_id, "document_id"))
        return document_pb2.DeleteDocumentResponse()

    async def ReparseDocument(  # noqa: N802
        self, request: document_pb2.ReparseDocumentRequest, context: RpcContext
    ) -> document_pb2.ReparseDocumentResponse:
        document = await self._service.reparse(
            current_user_id(), parse_id(request.document_id, "document_id")
        )
        return document_pb2.ReparseDocumentResponse(document=document_message(document))
