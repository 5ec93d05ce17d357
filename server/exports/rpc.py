"""ExportService servicer: converts messages, calls ExportService."""

from __future__ import annotations

from collections.abc import AsyncIterator

from coderai.v1 import export_pb2, export_pb2_grpc

from server.core.errors import FieldViolation, InvalidArgument
from server.core.interceptors import RpcContext, current_user_id
from server.core.pagination import page_size
from server.core.proto import (
    enum_from_proto,
    enum_to_proto,
    enums_from_proto,
    json_value,
    parse_id,
    timestamp,
)
from server.core.slots import Slots
from server.exports.dataset import Cell, CellStatus, DatasetHeader, Unit
from server.exports.models import Export, ExportFormat
from server.exports.service import ExportService, ResultFilter
from server.jobs.rpc import evidence_filter, value_evidence_message


def export_message(export: Export) -> export_pb2.Export:
    return export_pb2.Export(
        id=str(export.id),
        project_id=str(export.project_id),
        format=enum_to_proto(export.format, "EXPORT_FORMAT"),
        include_metadata=export.include_metadata,
        state=export.status.value,
        status=enum_to_proto(export.status, "EXPORT_STATUS"),
        filename=export.filename,
        content_type=export.content_type,
        size_bytes=export.size_bytes,
        sha256=export.sha256,
        row_count=export.row_count,
        error=export.error or "",
        create_time=timestamp(export.created_at),
        expire_time=timestamp(export.expires_at),
        complete_time=timestamp(export.completed_at),
    )


def columns_message(header: DatasetHeader) -> list[export_pb2.ResultColumn]:
    return [
        export_pb2.ResultColumn(
            variable_id=str(variable.id),
            name=variable.name,
            display_name=variable.display_name,
            type=enum_to_proto(variable.type, "VARIABLE_TYPE"),
            max_values=variable.max_values,
            categories=[category.label for category in variable.categories],
        )
        for variable in header.variables
    ]


def cell_message(header: DatasetHeader, index: int, cell: Cell) -> export_pb2.ResultCell:
    return export_pb2.ResultCell(
        variable_id=str(header.variables[index].id),
        status=enum_to_proto(cell.status, "CELL_STATUS"),
        value=json_value(cell.value if cell.status is not CellStatus.FAILED else None),
        confidence=cell.confidence or 0.0,
        source_text=cell.source_text or "",
        source_start_offset=cell.source_start or 0,
        source_end_offset=cell.source_end or 0,
        evidence_match=enum_to_proto(cell.evidence_match, "EVIDENCE_MATCH"),
        prompt_version=cell.prompt_version or 0,
        model=cell.model or "",
        extraction_id=str(cell.extraction_id) if cell.extraction_id else "",
        error=cell.error or "",
        value_evidence=[value_evidence_message(item) for item in cell.value_evidence],
    )


def row_message(header: DatasetHeader, unit: Unit) -> export_pb2.ResultRow:
    return export_pb2.ResultRow(
        document_id=str(unit.document_id),
        filename=unit.filename,
        entity_key=unit.entity_key,
        entity_name=unit.entity_name,
        cells=[cell_message(header, index, cell) for index, cell in enumerate(unit.cells)],
    )


class ExportServicer(export_pb2_grpc.ExportServiceServicer):
    def __init__(self, service: ExportService, streams: Slots) -> None:
        self._service = service
        self._streams = streams

    async def ListResults(  # noqa: N802 - gRPC method names are the proto's
        self, request: export_pb2.ListResultsRequest, context: RpcContext
    ) -> export_pb2.ListResultsResponse:
        where = ResultFilter(
            statuses=enums_from_proto(
                request.statuses, CellStatus, export_pb2.CellStatus, "CELL_STATUS", "statuses"
            ),
            evidence=evidence_filter(request.evidence_matches),
            document_id=parse_id(request.document_id, "document_id")
            if request.document_id
            else None,
        )
        page = await self._service.results(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            where,
            page_size(request.page_size),
            request.page_token,
        )
        return export_pb2.ListResultsResponse(
            columns=columns_message(page.header),
            rows=[row_message(page.header, unit) for unit in page.rows],
            next_page_token=page.next_page_token,
        )

    async def CreateExport(  # noqa: N802
        self, request: export_pb2.CreateExportRequest, context: RpcContext
    ) -> export_pb2.CreateExportResponse:
        export_format = enum_from_proto(
            request.format, ExportFormat, export_pb2.ExportFormat, "EXPORT_FORMAT", "format"
        )
        if export_format is None:
            raise InvalidArgument("format is required", [FieldViolation("format", "required")])
        export = await self._service.create(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            export_format,
            request.include_metadata,
        )
        return export_pb2.CreateExportResponse(export=export_message(export))

    async def GetExport(  # noqa: N802
        self, request: export_pb2.GetExportRequest, context: RpcContext
    ) -> export_pb2.GetExportResponse:
        export = await self._service.get(
            current_user_id(), parse_id(request.export_id, "export_id")
        )
        return export_pb2.GetExportResponse(export=export_message(export))

    async def ListExports(  # noqa: N802
        self, request: export_pb2.ListExportsRequest, context: RpcContext
    ) -> export_pb2.ListExportsResponse:
        exports, token = await self._service.list(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            page_size(request.page_size),
            request.page_token,
        )
        return export_pb2.ListExportsResponse(
            exports=[export_message(export) for export in exports], next_page_token=token
        )

    async def DownloadExport(  # noqa: N802
        self, request: export_pb2.DownloadExportRequest, context: RpcContext
    ) -> AsyncIterator[export_pb2.DownloadExportResponse]:
        user_id = current_user_id()
        async with self._streams.hold(user_id):
            download = await self._service.download(
                user_id, parse_id(request.export_id, "export_id")
            )
            export = download.export
            yield export_pb2.DownloadExportResponse(
                file=export_pb2.ExportFile(
                    filename=export.filename,
                    content_type=export.content_type,
                    size_bytes=export.size_bytes,
                    sha256=export.sha256,
                )
            )
            async for chunk in download.parts:
                yield export_pb2.DownloadExportResponse(chunk=chunk)
