import datetime

from coderai.v1 import common_pb2 as _common_pb2
from coderai.v1 import schema_pb2 as _schema_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Project(_message.Message):
    __slots__ = ("id", "name", "description", "domain", "language", "unit_of_observation", "entity_identification_pattern", "llm_config", "extraction_mode", "status", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    UNIT_OF_OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    ENTITY_IDENTIFICATION_PATTERN_FIELD_NUMBER: _ClassVar[int]
    LLM_CONFIG_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_MODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    domain: str
    language: str
    unit_of_observation: _common_pb2.UnitOfObservation
    entity_identification_pattern: str
    llm_config: LlmConfig
    extraction_mode: _common_pb2.ExtractionMode
    status: _common_pb2.ProjectStatus
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., domain: _Optional[str] = ..., language: _Optional[str] = ..., unit_of_observation: _Optional[_Union[_common_pb2.UnitOfObservation, str]] = ..., entity_identification_pattern: _Optional[str] = ..., llm_config: _Optional[_Union[LlmConfig, _Mapping]] = ..., extraction_mode: _Optional[_Union[_common_pb2.ExtractionMode, str]] = ..., status: _Optional[_Union[_common_pb2.ProjectStatus, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LlmConfig(_message.Message):
    __slots__ = ("provider", "model")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class ProcessingStatus(_message.Message):
    __slots__ = ("document_count", "documents_uploaded", "documents_parsed", "documents_ready", "documents_failed", "active_job_id", "active_job_status", "extraction_count", "results_stale", "stale_reason")
    DOCUMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_PARSED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_READY_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_JOB_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_STALE_FIELD_NUMBER: _ClassVar[int]
    STALE_REASON_FIELD_NUMBER: _ClassVar[int]
    document_count: int
    documents_uploaded: int
    documents_parsed: int
    documents_ready: int
    documents_failed: int
    active_job_id: str
    active_job_status: _common_pb2.JobStatus
    extraction_count: int
    results_stale: bool
    stale_reason: str
    def __init__(self, document_count: _Optional[int] = ..., documents_uploaded: _Optional[int] = ..., documents_parsed: _Optional[int] = ..., documents_ready: _Optional[int] = ..., documents_failed: _Optional[int] = ..., active_job_id: _Optional[str] = ..., active_job_status: _Optional[_Union[_common_pb2.JobStatus, str]] = ..., extraction_count: _Optional[int] = ..., results_stale: _Optional[bool] = ..., stale_reason: _Optional[str] = ...) -> None: ...

class CreateProjectRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: Project
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ...) -> None: ...

class CreateProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: Project
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class GetProjectResponse(_message.Message):
    __slots__ = ("project", "variables", "processing_status")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_STATUS_FIELD_NUMBER: _ClassVar[int]
    project: Project
    variables: _containers.RepeatedCompositeFieldContainer[_schema_pb2.Variable]
    processing_status: ProcessingStatus
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., variables: _Optional[_Iterable[_Union[_schema_pb2.Variable, _Mapping]]] = ..., processing_status: _Optional[_Union[ProcessingStatus, _Mapping]] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects", "next_page_token")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[Project]
    next_page_token: str
    def __init__(self, projects: _Optional[_Iterable[_Union[Project, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateProjectRequest(_message.Message):
    __slots__ = ("project", "update_mask")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    project: Project
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: Project
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ...) -> None: ...

class DeleteProjectRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class DeleteProjectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
