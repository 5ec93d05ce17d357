import datetime

from coderai.v1 import common_pb2 as _common_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV_WIDE: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV_LONG: _ClassVar[ExportFormat]
    EXPORT_FORMAT_XLSX: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CODEBOOK: _ClassVar[ExportFormat]
    EXPORT_FORMAT_STATA: _ClassVar[ExportFormat]
    EXPORT_FORMAT_SPSS: _ClassVar[ExportFormat]
    EXPORT_FORMAT_DATA_PACKAGE: _ClassVar[ExportFormat]

class ExportStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_STATUS_UNSPECIFIED: _ClassVar[ExportStatus]
    EXPORT_STATUS_PENDING: _ClassVar[ExportStatus]
    EXPORT_STATUS_RUNNING: _ClassVar[ExportStatus]
    EXPORT_STATUS_COMPLETED: _ClassVar[ExportStatus]
    EXPORT_STATUS_FAILED: _ClassVar[ExportStatus]

class CellStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CELL_STATUS_UNSPECIFIED: _ClassVar[CellStatus]
    CELL_STATUS_SUCCESS: _ClassVar[CellStatus]
    CELL_STATUS_LOW_CONFIDENCE: _ClassVar[CellStatus]
    CELL_STATUS_NOT_FOUND: _ClassVar[CellStatus]
    CELL_STATUS_FAILED: _ClassVar[CellStatus]
    CELL_STATUS_NOT_PROCESSED: _ClassVar[CellStatus]
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_CSV_WIDE: ExportFormat
EXPORT_FORMAT_CSV_LONG: ExportFormat
EXPORT_FORMAT_XLSX: ExportFormat
EXPORT_FORMAT_CODEBOOK: ExportFormat
EXPORT_FORMAT_STATA: ExportFormat
EXPORT_FORMAT_SPSS: ExportFormat
EXPORT_FORMAT_DATA_PACKAGE: ExportFormat
EXPORT_STATUS_UNSPECIFIED: ExportStatus
EXPORT_STATUS_PENDING: ExportStatus
EXPORT_STATUS_RUNNING: ExportStatus
EXPORT_STATUS_COMPLETED: ExportStatus
EXPORT_STATUS_FAILED: ExportStatus
CELL_STATUS_UNSPECIFIED: CellStatus
CELL_STATUS_SUCCESS: CellStatus
CELL_STATUS_LOW_CONFIDENCE: CellStatus
CELL_STATUS_NOT_FOUND: CellStatus
CELL_STATUS_FAILED: CellStatus
CELL_STATUS_NOT_PROCESSED: CellStatus

class Export(_message.Message):
    __slots__ = ("id", "project_id", "format", "include_metadata", "state", "filename", "size_bytes", "create_time", "status", "content_type", "error", "expire_time", "row_count", "sha256", "complete_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    format: ExportFormat
    include_metadata: bool
    state: str
    filename: str
    size_bytes: int
    create_time: _timestamp_pb2.Timestamp
    status: ExportStatus
    content_type: str
    error: str
    expire_time: _timestamp_pb2.Timestamp
    row_count: int
    sha256: str
    complete_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., include_metadata: _Optional[bool] = ..., state: _Optional[str] = ..., filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ExportStatus, str]] = ..., content_type: _Optional[str] = ..., error: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., row_count: _Optional[int] = ..., sha256: _Optional[str] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateExportRequest(_message.Message):
    __slots__ = ("project_id", "format", "include_metadata")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    format: ExportFormat
    include_metadata: bool
    def __init__(self, project_id: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., include_metadata: _Optional[bool] = ...) -> None: ...

class CreateExportResponse(_message.Message):
    __slots__ = ("export",)
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    export: Export
    def __init__(self, export: _Optional[_Union[Export, _Mapping]] = ...) -> None: ...

class GetExportRequest(_message.Message):
    __slots__ = ("export_id",)
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    def __init__(self, export_id: _Optional[str] = ...) -> None: ...

class GetExportResponse(_message.Message):
    __slots__ = ("export",)
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    export: Export
    def __init__(self, export: _Optional[_Union[Export, _Mapping]] = ...) -> None: ...

class ListExportsRequest(_message.Message):
    __slots__ = ("project_id", "page_size", "page_token")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page_size: int
    page_token: str
    def __init__(self, project_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListExportsResponse(_message.Message):
    __slots__ = ("exports", "next_page_token")
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    exports: _containers.RepeatedCompositeFieldContainer[Export]
    next_page_token: str
    def __init__(self, exports: _Optional[_Iterable[_Union[Export, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DownloadExportRequest(_message.Message):
    __slots__ = ("export_id",)
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    def __init__(self, export_id: _Optional[str] = ...) -> None: ...

class ExportFile(_message.Message):
    __slots__ = ("filename", "content_type", "size_bytes", "sha256")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    def __init__(self, filename: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class DownloadExportResponse(_message.Message):
    __slots__ = ("chunk", "file")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    file: ExportFile
    def __init__(self, chunk: _Optional[bytes] = ..., file: _Optional[_Union[ExportFile, _Mapping]] = ...) -> None: ...

class ResultColumn(_message.Message):
    __slots__ = ("variable_id", "name", "display_name", "type", "max_values", "categories")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    name: str
    display_name: str
    type: _common_pb2.VariableType
    max_values: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, variable_id: _Optional[str] = ..., name: _Optional[str] = ..., display_name: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.VariableType, str]] = ..., max_values: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultCell(_message.Message):
    __slots__ = ("variable_id", "status", "value", "confidence", "source_text", "source_start_offset", "source_end_offset", "evidence_match", "prompt_version", "model", "extraction_id", "error", "value_evidence")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MATCH_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    VALUE_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    status: CellStatus
    value: _struct_pb2.Value
    confidence: float
    source_text: str
    source_start_offset: int
    source_end_offset: int
    evidence_match: _common_pb2.EvidenceMatch
    prompt_version: int
    model: str
    extraction_id: str
    error: str
    value_evidence: _containers.RepeatedCompositeFieldContainer[_common_pb2.ValueEvidence]
    def __init__(self, variable_id: _Optional[str] = ..., status: _Optional[_Union[CellStatus, str]] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., confidence: _Optional[float] = ..., source_text: _Optional[str] = ..., source_start_offset: _Optional[int] = ..., source_end_offset: _Optional[int] = ..., evidence_match: _Optional[_Union[_common_pb2.EvidenceMatch, str]] = ..., prompt_version: _Optional[int] = ..., model: _Optional[str] = ..., extraction_id: _Optional[str] = ..., error: _Optional[str] = ..., value_evidence: _Optional[_Iterable[_Union[_common_pb2.ValueEvidence, _Mapping]]] = ...) -> None: ...

class ResultRow(_message.Message):
    __slots__ = ("document_id", "filename", "entity_key", "entity_name", "cells")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    filename: str
    entity_key: str
    entity_name: str
    cells: _containers.RepeatedCompositeFieldContainer[ResultCell]
    def __init__(self, document_id: _Optional[str] = ..., filename: _Optional[str] = ..., entity_key: _Optional[str] = ..., entity_name: _Optional[str] = ..., cells: _Optional[_Iterable[_Union[ResultCell, _Mapping]]] = ...) -> None: ...

class ListResultsRequest(_message.Message):
    __slots__ = ("project_id", "page_size", "page_token", "statuses", "document_id", "evidence_matches")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MATCHES_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[CellStatus]
    document_id: str
    evidence_matches: _containers.RepeatedScalarFieldContainer[_common_pb2.EvidenceMatch]
    def __init__(self, project_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[CellStatus, str]]] = ..., document_id: _Optional[str] = ..., evidence_matches: _Optional[_Iterable[_Union[_common_pb2.EvidenceMatch, str]]] = ...) -> None: ...

class ListResultsResponse(_message.Message):
    __slots__ = ("columns", "rows", "next_page_token")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[ResultColumn]
    rows: _containers.RepeatedCompositeFieldContainer[ResultRow]
    next_page_token: str
    def __init__(self, columns: _Optional[_Iterable[_Union[ResultColumn, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[ResultRow, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
