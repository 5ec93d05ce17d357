import datetime

from coderai.v1 import common_pb2 as _common_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_EVENT_TYPE_UNSPECIFIED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_SNAPSHOT: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_PROGRESS: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_DOCUMENT_COMPLETED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_DOCUMENT_FAILED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_PAUSED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_RESUMED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_JOB_COMPLETED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_JOB_FAILED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_CANCELLED: _ClassVar[JobEventType]

class LogEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_EVENT_TYPE_UNSPECIFIED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_DOCUMENT_UPLOADED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_DOCUMENT_PARSED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_DOCUMENT_FAILED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_CREATED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_STARTED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_PAUSED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_RESUMED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_CANCELLED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_COMPLETED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_JOB_FAILED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_DOCUMENT_PROCESSED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_DOCUMENT_PROCESSING_FAILED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_EXTRACTION_FAILED: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_LLM_ERROR: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_CIRCUIT_OPEN: _ClassVar[LogEventType]
    LOG_EVENT_TYPE_PROMPT_REFINED: _ClassVar[LogEventType]

class JobStopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STOP_REASON_UNSPECIFIED: _ClassVar[JobStopReason]
    JOB_STOP_REASON_PAUSED_BY_RESEARCHER: _ClassVar[JobStopReason]
    JOB_STOP_REASON_CANCELLED_BY_RESEARCHER: _ClassVar[JobStopReason]
    JOB_STOP_REASON_TOKEN_BUDGET: _ClassVar[JobStopReason]
    JOB_STOP_REASON_COST_BUDGET: _ClassVar[JobStopReason]
    JOB_STOP_REASON_CONSECUTIVE_FAILURES: _ClassVar[JobStopReason]
    JOB_STOP_REASON_CIRCUIT_OPEN: _ClassVar[JobStopReason]
    JOB_STOP_REASON_MODEL_CONFIGURATION: _ClassVar[JobStopReason]
    JOB_STOP_REASON_EVERY_DOCUMENT_FAILED: _ClassVar[JobStopReason]
    JOB_STOP_REASON_MODEL_ANSWER: _ClassVar[JobStopReason]

class JobDocumentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_DOCUMENT_STATUS_UNSPECIFIED: _ClassVar[JobDocumentStatus]
    JOB_DOCUMENT_STATUS_PENDING: _ClassVar[JobDocumentStatus]
    JOB_DOCUMENT_STATUS_RUNNING: _ClassVar[JobDocumentStatus]
    JOB_DOCUMENT_STATUS_PROCESSED: _ClassVar[JobDocumentStatus]
    JOB_DOCUMENT_STATUS_SKIPPED: _ClassVar[JobDocumentStatus]
    JOB_DOCUMENT_STATUS_FAILED: _ClassVar[JobDocumentStatus]
JOB_EVENT_TYPE_UNSPECIFIED: JobEventType
JOB_EVENT_TYPE_SNAPSHOT: JobEventType
JOB_EVENT_TYPE_PROGRESS: JobEventType
JOB_EVENT_TYPE_DOCUMENT_COMPLETED: JobEventType
JOB_EVENT_TYPE_DOCUMENT_FAILED: JobEventType
JOB_EVENT_TYPE_PAUSED: JobEventType
JOB_EVENT_TYPE_RESUMED: JobEventType
JOB_EVENT_TYPE_JOB_COMPLETED: JobEventType
JOB_EVENT_TYPE_JOB_FAILED: JobEventType
JOB_EVENT_TYPE_CANCELLED: JobEventType
LOG_EVENT_TYPE_UNSPECIFIED: LogEventType
LOG_EVENT_TYPE_DOCUMENT_UPLOADED: LogEventType
LOG_EVENT_TYPE_DOCUMENT_PARSED: LogEventType
LOG_EVENT_TYPE_DOCUMENT_FAILED: LogEventType
LOG_EVENT_TYPE_JOB_CREATED: LogEventType
LOG_EVENT_TYPE_JOB_STARTED: LogEventType
LOG_EVENT_TYPE_JOB_PAUSED: LogEventType
LOG_EVENT_TYPE_JOB_RESUMED: LogEventType
LOG_EVENT_TYPE_JOB_CANCELLED: LogEventType
LOG_EVENT_TYPE_JOB_COMPLETED: LogEventType
LOG_EVENT_TYPE_JOB_FAILED: LogEventType
LOG_EVENT_TYPE_DOCUMENT_PROCESSED: LogEventType
LOG_EVENT_TYPE_DOCUMENT_PROCESSING_FAILED: LogEventType
LOG_EVENT_TYPE_EXTRACTION_FAILED: LogEventType
LOG_EVENT_TYPE_LLM_ERROR: LogEventType
LOG_EVENT_TYPE_CIRCUIT_OPEN: LogEventType
LOG_EVENT_TYPE_PROMPT_REFINED: LogEventType
JOB_STOP_REASON_UNSPECIFIED: JobStopReason
JOB_STOP_REASON_PAUSED_BY_RESEARCHER: JobStopReason
JOB_STOP_REASON_CANCELLED_BY_RESEARCHER: JobStopReason
JOB_STOP_REASON_TOKEN_BUDGET: JobStopReason
JOB_STOP_REASON_COST_BUDGET: JobStopReason
JOB_STOP_REASON_CONSECUTIVE_FAILURES: JobStopReason
JOB_STOP_REASON_CIRCUIT_OPEN: JobStopReason
JOB_STOP_REASON_MODEL_CONFIGURATION: JobStopReason
JOB_STOP_REASON_EVERY_DOCUMENT_FAILED: JobStopReason
JOB_STOP_REASON_MODEL_ANSWER: JobStopReason
JOB_DOCUMENT_STATUS_UNSPECIFIED: JobDocumentStatus
JOB_DOCUMENT_STATUS_PENDING: JobDocumentStatus
JOB_DOCUMENT_STATUS_RUNNING: JobDocumentStatus
JOB_DOCUMENT_STATUS_PROCESSED: JobDocumentStatus
JOB_DOCUMENT_STATUS_SKIPPED: JobDocumentStatus
JOB_DOCUMENT_STATUS_FAILED: JobDocumentStatus

class ProcessingJob(_message.Message):
    __slots__ = ("id", "project_id", "type", "status", "document_ids", "documents_total", "documents_processed", "documents_failed", "progress_percent", "tokens_used", "cost_usd", "status_reason", "create_time", "start_time", "end_time", "token_budget", "cost_budget_usd", "consecutive_failures", "input_tokens", "cached_input_tokens", "output_tokens", "stop_reason", "automatic_resumes", "retry_failed", "llm_provider", "llm_model", "extraction_mode", "cost", "cost_budget")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_PROCESSED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_USED_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_BUDGET_FIELD_NUMBER: _ClassVar[int]
    COST_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_RESUMES_FIELD_NUMBER: _ClassVar[int]
    RETRY_FAILED_FIELD_NUMBER: _ClassVar[int]
    LLM_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_MODE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    COST_BUDGET_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    type: _common_pb2.JobType
    status: _common_pb2.JobStatus
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    documents_total: int
    documents_processed: int
    documents_failed: int
    progress_percent: float
    tokens_used: int
    cost_usd: float
    status_reason: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    token_budget: int
    cost_budget_usd: float
    consecutive_failures: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    stop_reason: JobStopReason
    automatic_resumes: int
    retry_failed: bool
    llm_provider: str
    llm_model: str
    extraction_mode: _common_pb2.ExtractionMode
    cost: _money_pb2.Money
    cost_budget: _money_pb2.Money
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.JobType, str]] = ..., status: _Optional[_Union[_common_pb2.JobStatus, str]] = ..., document_ids: _Optional[_Iterable[str]] = ..., documents_total: _Optional[int] = ..., documents_processed: _Optional[int] = ..., documents_failed: _Optional[int] = ..., progress_percent: _Optional[float] = ..., tokens_used: _Optional[int] = ..., cost_usd: _Optional[float] = ..., status_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_budget: _Optional[int] = ..., cost_budget_usd: _Optional[float] = ..., consecutive_failures: _Optional[int] = ..., input_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., stop_reason: _Optional[_Union[JobStopReason, str]] = ..., automatic_resumes: _Optional[int] = ..., retry_failed: _Optional[bool] = ..., llm_provider: _Optional[str] = ..., llm_model: _Optional[str] = ..., extraction_mode: _Optional[_Union[_common_pb2.ExtractionMode, str]] = ..., cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., cost_budget: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class JobEstimate(_message.Message):
    __slots__ = ("documents", "variables", "llm_calls", "prompt_tokens", "max_output_tokens", "max_cost_usd", "documents_already_done", "warnings", "llm_provider", "llm_model", "extraction_mode", "per_variable", "grouped", "max_cost")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    LLM_CALLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_ALREADY_DONE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    LLM_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_MODE_FIELD_NUMBER: _ClassVar[int]
    PER_VARIABLE_FIELD_NUMBER: _ClassVar[int]
    GROUPED_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_FIELD_NUMBER: _ClassVar[int]
    documents: int
    variables: int
    llm_calls: int
    prompt_tokens: int
    max_output_tokens: int
    max_cost_usd: float
    documents_already_done: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    llm_provider: str
    llm_model: str
    extraction_mode: _common_pb2.ExtractionMode
    per_variable: ModeEstimate
    grouped: ModeEstimate
    max_cost: _money_pb2.Money
    def __init__(self, documents: _Optional[int] = ..., variables: _Optional[int] = ..., llm_calls: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., max_cost_usd: _Optional[float] = ..., documents_already_done: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ..., llm_provider: _Optional[str] = ..., llm_model: _Optional[str] = ..., extraction_mode: _Optional[_Union[_common_pb2.ExtractionMode, str]] = ..., per_variable: _Optional[_Union[ModeEstimate, _Mapping]] = ..., grouped: _Optional[_Union[ModeEstimate, _Mapping]] = ..., max_cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ModeEstimate(_message.Message):
    __slots__ = ("llm_calls", "prompt_tokens", "cacheable_prompt_tokens", "max_output_tokens", "max_cost_usd", "max_cost_usd_cached", "max_cost", "max_cost_cached")
    LLM_CALLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHEABLE_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_CACHED_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_CACHED_FIELD_NUMBER: _ClassVar[int]
    llm_calls: int
    prompt_tokens: int
    cacheable_prompt_tokens: int
    max_output_tokens: int
    max_cost_usd: float
    max_cost_usd_cached: float
    max_cost: _money_pb2.Money
    max_cost_cached: _money_pb2.Money
    def __init__(self, llm_calls: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., cacheable_prompt_tokens: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., max_cost_usd: _Optional[float] = ..., max_cost_usd_cached: _Optional[float] = ..., max_cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., max_cost_cached: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class Extraction(_message.Message):
    __slots__ = ("id", "document_id", "variable_id", "entity_key", "value", "confidence", "source_text", "source_start_offset", "source_end_offset", "prompt_version", "status", "error", "evidence_match", "job_id", "entity_name", "update_time", "llm_provider", "llm_model", "best_guess", "value_evidence")
    ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MATCH_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LLM_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    BEST_GUESS_FIELD_NUMBER: _ClassVar[int]
    VALUE_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    document_id: str
    variable_id: str
    entity_key: str
    value: _struct_pb2.Value
    confidence: float
    source_text: str
    source_start_offset: int
    source_end_offset: int
    prompt_version: int
    status: _common_pb2.ExtractionStatus
    error: str
    evidence_match: _common_pb2.EvidenceMatch
    job_id: str
    entity_name: str
    update_time: _timestamp_pb2.Timestamp
    llm_provider: str
    llm_model: str
    best_guess: bool
    value_evidence: _containers.RepeatedCompositeFieldContainer[_common_pb2.ValueEvidence]
    def __init__(self, id: _Optional[str] = ..., document_id: _Optional[str] = ..., variable_id: _Optional[str] = ..., entity_key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., confidence: _Optional[float] = ..., source_text: _Optional[str] = ..., source_start_offset: _Optional[int] = ..., source_end_offset: _Optional[int] = ..., prompt_version: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.ExtractionStatus, str]] = ..., error: _Optional[str] = ..., evidence_match: _Optional[_Union[_common_pb2.EvidenceMatch, str]] = ..., job_id: _Optional[str] = ..., entity_name: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., llm_provider: _Optional[str] = ..., llm_model: _Optional[str] = ..., best_guess: _Optional[bool] = ..., value_evidence: _Optional[_Iterable[_Union[_common_pb2.ValueEvidence, _Mapping]]] = ...) -> None: ...

class JobSelection(_message.Message):
    __slots__ = ("project_id", "type", "document_ids", "sample_size", "retry_failed")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RETRY_FAILED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    type: _common_pb2.JobType
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    sample_size: int
    retry_failed: bool
    def __init__(self, project_id: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.JobType, str]] = ..., document_ids: _Optional[_Iterable[str]] = ..., sample_size: _Optional[int] = ..., retry_failed: _Optional[bool] = ...) -> None: ...

class EstimateJobRequest(_message.Message):
    __slots__ = ("selection",)
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    selection: JobSelection
    def __init__(self, selection: _Optional[_Union[JobSelection, _Mapping]] = ...) -> None: ...

class EstimateJobResponse(_message.Message):
    __slots__ = ("estimate",)
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    estimate: JobEstimate
    def __init__(self, estimate: _Optional[_Union[JobEstimate, _Mapping]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("selection", "token_budget", "cost_budget_usd", "cost_budget")
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_BUDGET_FIELD_NUMBER: _ClassVar[int]
    COST_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    COST_BUDGET_FIELD_NUMBER: _ClassVar[int]
    selection: JobSelection
    token_budget: int
    cost_budget_usd: float
    cost_budget: _money_pb2.Money
    def __init__(self, selection: _Optional[_Union[JobSelection, _Mapping]] = ..., token_budget: _Optional[int] = ..., cost_budget_usd: _Optional[float] = ..., cost_budget: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("job", "estimate")
    JOB_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    job: ProcessingJob
    estimate: JobEstimate
    def __init__(self, job: _Optional[_Union[ProcessingJob, _Mapping]] = ..., estimate: _Optional[_Union[JobEstimate, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: ProcessingJob
    def __init__(self, job: _Optional[_Union[ProcessingJob, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("project_id", "page_size", "page_token")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page_size: int
    page_token: str
    def __init__(self, project_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[ProcessingJob]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[ProcessingJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PauseJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: ProcessingJob
    def __init__(self, job: _Optional[_Union[ProcessingJob, _Mapping]] = ...) -> None: ...

class ResumeJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ResumeJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: ProcessingJob
    def __init__(self, job: _Optional[_Union[ProcessingJob, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: ProcessingJob
    def __init__(self, job: _Optional[_Union[ProcessingJob, _Mapping]] = ...) -> None: ...

class ListJobDocumentsRequest(_message.Message):
    __slots__ = ("job_id", "statuses", "page_size", "page_token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    statuses: _containers.RepeatedScalarFieldContainer[JobDocumentStatus]
    page_size: int
    page_token: str
    def __init__(self, job_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[JobDocumentStatus, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class JobDocument(_message.Message):
    __slots__ = ("document_id", "filename", "status", "error", "attempts")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    filename: str
    status: JobDocumentStatus
    error: str
    attempts: int
    def __init__(self, document_id: _Optional[str] = ..., filename: _Optional[str] = ..., status: _Optional[_Union[JobDocumentStatus, str]] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ...) -> None: ...

class JobDocumentCounts(_message.Message):
    __slots__ = ("pending", "running", "processed", "skipped", "failed")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    pending: int
    running: int
    processed: int
    skipped: int
    failed: int
    def __init__(self, pending: _Optional[int] = ..., running: _Optional[int] = ..., processed: _Optional[int] = ..., skipped: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class ListJobDocumentsResponse(_message.Message):
    __slots__ = ("documents", "next_page_token", "counts")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[JobDocument]
    next_page_token: str
    counts: JobDocumentCounts
    def __init__(self, documents: _Optional[_Iterable[_Union[JobDocument, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., counts: _Optional[_Union[JobDocumentCounts, _Mapping]] = ...) -> None: ...

class ListJobLogsRequest(_message.Message):
    __slots__ = ("job_id", "page_size", "page_token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    page_size: int
    page_token: str
    def __init__(self, job_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("id", "event_type", "message", "document_id", "details", "create_time", "type")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_type: str
    message: str
    document_id: str
    details: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    type: LogEventType
    def __init__(self, id: _Optional[str] = ..., event_type: _Optional[str] = ..., message: _Optional[str] = ..., document_id: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[_Union[LogEventType, str]] = ...) -> None: ...

class ListJobLogsResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListExtractionsRequest(_message.Message):
    __slots__ = ("project_id", "job_id", "statuses", "page_size", "page_token", "document_id", "variable_id", "evidence_matches")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MATCHES_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    job_id: str
    statuses: _containers.RepeatedScalarFieldContainer[_common_pb2.ExtractionStatus]
    page_size: int
    page_token: str
    document_id: str
    variable_id: str
    evidence_matches: _containers.RepeatedScalarFieldContainer[_common_pb2.EvidenceMatch]
    def __init__(self, project_id: _Optional[str] = ..., job_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[_common_pb2.ExtractionStatus, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., document_id: _Optional[str] = ..., variable_id: _Optional[str] = ..., evidence_matches: _Optional[_Iterable[_Union[_common_pb2.EvidenceMatch, str]]] = ...) -> None: ...

class ListExtractionsResponse(_message.Message):
    __slots__ = ("extractions", "next_page_token")
    EXTRACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    extractions: _containers.RepeatedCompositeFieldContainer[Extraction]
    next_page_token: str
    def __init__(self, extractions: _Optional[_Iterable[_Union[Extraction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("id", "extraction_id", "feedback_type", "corrected_value", "user_note", "project_id", "document_id", "variable_id", "job_id", "entity_key", "entity_name", "judged_value", "judged_status", "judged_source_text", "prompt_id", "prompt_version", "superseded", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_TYPE_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    USER_NOTE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    JUDGED_VALUE_FIELD_NUMBER: _ClassVar[int]
    JUDGED_STATUS_FIELD_NUMBER: _ClassVar[int]
    JUDGED_SOURCE_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    extraction_id: str
    feedback_type: _common_pb2.FeedbackType
    corrected_value: _struct_pb2.Value
    user_note: str
    project_id: str
    document_id: str
    variable_id: str
    job_id: str
    entity_key: str
    entity_name: str
    judged_value: _struct_pb2.Value
    judged_status: _common_pb2.ExtractionStatus
    judged_source_text: str
    prompt_id: str
    prompt_version: int
    superseded: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., extraction_id: _Optional[str] = ..., feedback_type: _Optional[_Union[_common_pb2.FeedbackType, str]] = ..., corrected_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., user_note: _Optional[str] = ..., project_id: _Optional[str] = ..., document_id: _Optional[str] = ..., variable_id: _Optional[str] = ..., job_id: _Optional[str] = ..., entity_key: _Optional[str] = ..., entity_name: _Optional[str] = ..., judged_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., judged_status: _Optional[_Union[_common_pb2.ExtractionStatus, str]] = ..., judged_source_text: _Optional[str] = ..., prompt_id: _Optional[str] = ..., prompt_version: _Optional[int] = ..., superseded: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateFeedbackRequest(_message.Message):
    __slots__ = ("extraction_id", "feedback_type", "corrected_value", "user_note", "extraction_update_time")
    EXTRACTION_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_TYPE_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    USER_NOTE_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    extraction_id: str
    feedback_type: _common_pb2.FeedbackType
    corrected_value: _struct_pb2.Value
    user_note: str
    extraction_update_time: _timestamp_pb2.Timestamp
    def __init__(self, extraction_id: _Optional[str] = ..., feedback_type: _Optional[_Union[_common_pb2.FeedbackType, str]] = ..., corrected_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., user_note: _Optional[str] = ..., extraction_update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateFeedbackResponse(_message.Message):
    __slots__ = ("feedback_id", "feedback")
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback_id: str
    feedback: Feedback
    def __init__(self, feedback_id: _Optional[str] = ..., feedback: _Optional[_Union[Feedback, _Mapping]] = ...) -> None: ...

class ListFeedbackRequest(_message.Message):
    __slots__ = ("project_id", "variable_id", "job_id", "feedback_types", "page_size", "page_token")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_TYPES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    variable_id: str
    job_id: str
    feedback_types: _containers.RepeatedScalarFieldContainer[_common_pb2.FeedbackType]
    page_size: int
    page_token: str
    def __init__(self, project_id: _Optional[str] = ..., variable_id: _Optional[str] = ..., job_id: _Optional[str] = ..., feedback_types: _Optional[_Iterable[_Union[_common_pb2.FeedbackType, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeedbackResponse(_message.Message):
    __slots__ = ("feedback", "next_page_token")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    feedback: _containers.RepeatedCompositeFieldContainer[Feedback]
    next_page_token: str
    def __init__(self, feedback: _Optional[_Iterable[_Union[Feedback, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "last_event_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    last_event_id: str
    def __init__(self, job_id: _Optional[str] = ..., last_event_id: _Optional[str] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("event_id", "event_type", "job", "document_id", "message", "events_lost", "type")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_LOST_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    job: ProcessingJob
    document_id: str
    message: str
    events_lost: bool
    type: JobEventType
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., job: _Optional[_Union[ProcessingJob, _Mapping]] = ..., document_id: _Optional[str] = ..., message: _Optional[str] = ..., events_lost: _Optional[bool] = ..., type: _Optional[_Union[JobEventType, str]] = ...) -> None: ...

class WatchProjectRequest(_message.Message):
    __slots__ = ("project_id", "last_event_id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    last_event_id: str
    def __init__(self, project_id: _Optional[str] = ..., last_event_id: _Optional[str] = ...) -> None: ...

class WatchProjectResponse(_message.Message):
    __slots__ = ("event_id", "event_type", "job", "document_id", "message", "events_lost", "type")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_LOST_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    job: ProcessingJob
    document_id: str
    message: str
    events_lost: bool
    type: JobEventType
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., job: _Optional[_Union[ProcessingJob, _Mapping]] = ..., document_id: _Optional[str] = ..., message: _Optional[str] = ..., events_lost: _Optional[bool] = ..., type: _Optional[_Union[JobEventType, str]] = ...) -> None: ...
