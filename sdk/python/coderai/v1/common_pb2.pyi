from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UnitOfObservation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNIT_OF_OBSERVATION_UNSPECIFIED: _ClassVar[UnitOfObservation]
    UNIT_OF_OBSERVATION_DOCUMENT: _ClassVar[UnitOfObservation]
    UNIT_OF_OBSERVATION_ENTITY: _ClassVar[UnitOfObservation]

class ProjectStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROJECT_STATUS_UNSPECIFIED: _ClassVar[ProjectStatus]
    PROJECT_STATUS_DRAFT: _ClassVar[ProjectStatus]
    PROJECT_STATUS_SAMPLING: _ClassVar[ProjectStatus]
    PROJECT_STATUS_PROCESSING: _ClassVar[ProjectStatus]
    PROJECT_STATUS_COMPLETE: _ClassVar[ProjectStatus]

class VariableType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VARIABLE_TYPE_UNSPECIFIED: _ClassVar[VariableType]
    VARIABLE_TYPE_TEXT: _ClassVar[VariableType]
    VARIABLE_TYPE_NUMBER: _ClassVar[VariableType]
    VARIABLE_TYPE_DATE: _ClassVar[VariableType]
    VARIABLE_TYPE_BOOLEAN: _ClassVar[VariableType]
    VARIABLE_TYPE_CATEGORY: _ClassVar[VariableType]

class IfUncertain(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IF_UNCERTAIN_UNSPECIFIED: _ClassVar[IfUncertain]
    IF_UNCERTAIN_FLAG_FOR_REVIEW: _ClassVar[IfUncertain]
    IF_UNCERTAIN_LEAVE_EMPTY: _ClassVar[IfUncertain]
    IF_UNCERTAIN_USE_DEFAULT: _ClassVar[IfUncertain]
    IF_UNCERTAIN_BEST_GUESS: _ClassVar[IfUncertain]

class IfMultipleValues(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IF_MULTIPLE_VALUES_UNSPECIFIED: _ClassVar[IfMultipleValues]
    IF_MULTIPLE_VALUES_FIRST: _ClassVar[IfMultipleValues]
    IF_MULTIPLE_VALUES_MOST_CONFIDENT: _ClassVar[IfMultipleValues]
    IF_MULTIPLE_VALUES_ALL: _ClassVar[IfMultipleValues]
    IF_MULTIPLE_VALUES_CONCATENATE: _ClassVar[IfMultipleValues]

class DocumentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_STATUS_UNSPECIFIED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_UPLOADED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_PARSED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_READY: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_FAILED: _ClassVar[DocumentStatus]

class JobType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_TYPE_UNSPECIFIED: _ClassVar[JobType]
    JOB_TYPE_SAMPLE: _ClassVar[JobType]
    JOB_TYPE_FULL: _ClassVar[JobType]
    JOB_TYPE_REFINEMENT: _ClassVar[JobType]

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_PENDING: _ClassVar[JobStatus]
    JOB_STATUS_RUNNING: _ClassVar[JobStatus]
    JOB_STATUS_PAUSED: _ClassVar[JobStatus]
    JOB_STATUS_COMPLETED: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
    JOB_STATUS_CANCELLED: _ClassVar[JobStatus]

class ExtractionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTRACTION_STATUS_UNSPECIFIED: _ClassVar[ExtractionStatus]
    EXTRACTION_STATUS_SUCCESS: _ClassVar[ExtractionStatus]
    EXTRACTION_STATUS_LOW_CONFIDENCE: _ClassVar[ExtractionStatus]
    EXTRACTION_STATUS_NOT_FOUND: _ClassVar[ExtractionStatus]
    EXTRACTION_STATUS_FAILED: _ClassVar[ExtractionStatus]

class EvidenceMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVIDENCE_MATCH_UNSPECIFIED: _ClassVar[EvidenceMatch]
    EVIDENCE_MATCH_EXACT: _ClassVar[EvidenceMatch]
    EVIDENCE_MATCH_FUZZY: _ClassVar[EvidenceMatch]
    EVIDENCE_MATCH_NOT_FOUND: _ClassVar[EvidenceMatch]
    EVIDENCE_MATCH_NO_QUOTE: _ClassVar[EvidenceMatch]
    EVIDENCE_MATCH_AMBIGUOUS: _ClassVar[EvidenceMatch]

class FeedbackType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_TYPE_UNSPECIFIED: _ClassVar[FeedbackType]
    FEEDBACK_TYPE_CORRECT: _ClassVar[FeedbackType]
    FEEDBACK_TYPE_INCORRECT: _ClassVar[FeedbackType]
    FEEDBACK_TYPE_PARTIALLY_CORRECT: _ClassVar[FeedbackType]

class ExtractionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTRACTION_MODE_UNSPECIFIED: _ClassVar[ExtractionMode]
    EXTRACTION_MODE_PER_VARIABLE: _ClassVar[ExtractionMode]
    EXTRACTION_MODE_GROUPED: _ClassVar[ExtractionMode]
UNIT_OF_OBSERVATION_UNSPECIFIED: UnitOfObservation
UNIT_OF_OBSERVATION_DOCUMENT: UnitOfObservation
UNIT_OF_OBSERVATION_ENTITY: UnitOfObservation
PROJECT_STATUS_UNSPECIFIED: ProjectStatus
PROJECT_STATUS_DRAFT: ProjectStatus
PROJECT_STATUS_SAMPLING: ProjectStatus
PROJECT_STATUS_PROCESSING: ProjectStatus
PROJECT_STATUS_COMPLETE: ProjectStatus
VARIABLE_TYPE_UNSPECIFIED: VariableType
VARIABLE_TYPE_TEXT: VariableType
VARIABLE_TYPE_NUMBER: VariableType
VARIABLE_TYPE_DATE: VariableType
VARIABLE_TYPE_BOOLEAN: VariableType
VARIABLE_TYPE_CATEGORY: VariableType
IF_UNCERTAIN_UNSPECIFIED: IfUncertain
IF_UNCERTAIN_FLAG_FOR_REVIEW: IfUncertain
IF_UNCERTAIN_LEAVE_EMPTY: IfUncertain
IF_UNCERTAIN_USE_DEFAULT: IfUncertain
IF_UNCERTAIN_BEST_GUESS: IfUncertain
IF_MULTIPLE_VALUES_UNSPECIFIED: IfMultipleValues
IF_MULTIPLE_VALUES_FIRST: IfMultipleValues
IF_MULTIPLE_VALUES_MOST_CONFIDENT: IfMultipleValues
IF_MULTIPLE_VALUES_ALL: IfMultipleValues
IF_MULTIPLE_VALUES_CONCATENATE: IfMultipleValues
DOCUMENT_STATUS_UNSPECIFIED: DocumentStatus
DOCUMENT_STATUS_UPLOADED: DocumentStatus
DOCUMENT_STATUS_PARSED: DocumentStatus
DOCUMENT_STATUS_READY: DocumentStatus
DOCUMENT_STATUS_FAILED: DocumentStatus
JOB_TYPE_UNSPECIFIED: JobType
JOB_TYPE_SAMPLE: JobType
JOB_TYPE_FULL: JobType
JOB_TYPE_REFINEMENT: JobType
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_PENDING: JobStatus
JOB_STATUS_RUNNING: JobStatus
JOB_STATUS_PAUSED: JobStatus
JOB_STATUS_COMPLETED: JobStatus
JOB_STATUS_FAILED: JobStatus
JOB_STATUS_CANCELLED: JobStatus
EXTRACTION_STATUS_UNSPECIFIED: ExtractionStatus
EXTRACTION_STATUS_SUCCESS: ExtractionStatus
EXTRACTION_STATUS_LOW_CONFIDENCE: ExtractionStatus
EXTRACTION_STATUS_NOT_FOUND: ExtractionStatus
EXTRACTION_STATUS_FAILED: ExtractionStatus
EVIDENCE_MATCH_UNSPECIFIED: EvidenceMatch
EVIDENCE_MATCH_EXACT: EvidenceMatch
EVIDENCE_MATCH_FUZZY: EvidenceMatch
EVIDENCE_MATCH_NOT_FOUND: EvidenceMatch
EVIDENCE_MATCH_NO_QUOTE: EvidenceMatch
EVIDENCE_MATCH_AMBIGUOUS: EvidenceMatch
FEEDBACK_TYPE_UNSPECIFIED: FeedbackType
FEEDBACK_TYPE_CORRECT: FeedbackType
FEEDBACK_TYPE_INCORRECT: FeedbackType
FEEDBACK_TYPE_PARTIALLY_CORRECT: FeedbackType
EXTRACTION_MODE_UNSPECIFIED: ExtractionMode
EXTRACTION_MODE_PER_VARIABLE: ExtractionMode
EXTRACTION_MODE_GROUPED: ExtractionMode

class ValueEvidence(_message.Message):
    __slots__ = ("source_text", "source_start_offset", "source_end_offset", "evidence_match", "candidates", "weak")
    SOURCE_TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MATCH_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    WEAK_FIELD_NUMBER: _ClassVar[int]
    source_text: str
    source_start_offset: int
    source_end_offset: int
    evidence_match: EvidenceMatch
    candidates: int
    weak: bool
    def __init__(self, source_text: _Optional[str] = ..., source_start_offset: _Optional[int] = ..., source_end_offset: _Optional[int] = ..., evidence_match: _Optional[_Union[EvidenceMatch, str]] = ..., candidates: _Optional[int] = ..., weak: _Optional[bool] = ...) -> None: ...
