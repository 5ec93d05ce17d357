import datetime

from coderai.v1 import schema_pb2 as _schema_pb2
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

class RefinementMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFINEMENT_METHOD_UNSPECIFIED: _ClassVar[RefinementMethod]
    REFINEMENT_METHOD_RULES: _ClassVar[RefinementMethod]
    REFINEMENT_METHOD_AGENT: _ClassVar[RefinementMethod]

class RefinementStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFINEMENT_STATUS_UNSPECIFIED: _ClassVar[RefinementStatus]
    REFINEMENT_STATUS_PENDING: _ClassVar[RefinementStatus]
    REFINEMENT_STATUS_READY: _ClassVar[RefinementStatus]
    REFINEMENT_STATUS_FAILED: _ClassVar[RefinementStatus]
    REFINEMENT_STATUS_ACCEPTED: _ClassVar[RefinementStatus]
    REFINEMENT_STATUS_DISCARDED: _ClassVar[RefinementStatus]
REFINEMENT_METHOD_UNSPECIFIED: RefinementMethod
REFINEMENT_METHOD_RULES: RefinementMethod
REFINEMENT_METHOD_AGENT: RefinementMethod
REFINEMENT_STATUS_UNSPECIFIED: RefinementStatus
REFINEMENT_STATUS_PENDING: RefinementStatus
REFINEMENT_STATUS_READY: RefinementStatus
REFINEMENT_STATUS_FAILED: RefinementStatus
REFINEMENT_STATUS_ACCEPTED: RefinementStatus
REFINEMENT_STATUS_DISCARDED: RefinementStatus

class CodingSample(_message.Message):
    __slots__ = ("id", "project_id", "name", "document_ids", "population", "seed", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    POPULATION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    population: int
    seed: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., document_ids: _Optional[_Iterable[str]] = ..., population: _Optional[int] = ..., seed: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateCodingSampleRequest(_message.Message):
    __slots__ = ("project_id", "name", "size", "seed")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    name: str
    size: int
    seed: int
    def __init__(self, project_id: _Optional[str] = ..., name: _Optional[str] = ..., size: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class CreateCodingSampleResponse(_message.Message):
    __slots__ = ("sample",)
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    sample: CodingSample
    def __init__(self, sample: _Optional[_Union[CodingSample, _Mapping]] = ...) -> None: ...

class ListCodingSamplesRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class ListCodingSamplesResponse(_message.Message):
    __slots__ = ("samples",)
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[CodingSample]
    def __init__(self, samples: _Optional[_Iterable[_Union[CodingSample, _Mapping]]] = ...) -> None: ...

class SuggestSampleSizeRequest(_message.Message):
    __slots__ = ("variable_id", "target_half_width", "expected_agreement")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_HALF_WIDTH_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    target_half_width: float
    expected_agreement: float
    def __init__(self, variable_id: _Optional[str] = ..., target_half_width: _Optional[float] = ..., expected_agreement: _Optional[float] = ...) -> None: ...

class SuggestSampleSizeResponse(_message.Message):
    __slots__ = ("suggested_size", "size_for_precision", "size_for_categories", "available", "explanation")
    SUGGESTED_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FOR_PRECISION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FOR_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    suggested_size: int
    size_for_precision: int
    size_for_categories: int
    available: int
    explanation: str
    def __init__(self, suggested_size: _Optional[int] = ..., size_for_precision: _Optional[int] = ..., size_for_categories: _Optional[int] = ..., available: _Optional[int] = ..., explanation: _Optional[str] = ...) -> None: ...

class HumanCode(_message.Message):
    __slots__ = ("id", "variable_id", "document_id", "entity_name", "coder", "value", "note", "sample_id", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    CODER_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    variable_id: str
    document_id: str
    entity_name: str
    coder: str
    value: _struct_pb2.Value
    note: str
    sample_id: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., variable_id: _Optional[str] = ..., document_id: _Optional[str] = ..., entity_name: _Optional[str] = ..., coder: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., note: _Optional[str] = ..., sample_id: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CodeInput(_message.Message):
    __slots__ = ("variable_id", "document_id", "entity_name", "value", "note")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    document_id: str
    entity_name: str
    value: _struct_pb2.Value
    note: str
    def __init__(self, variable_id: _Optional[str] = ..., document_id: _Optional[str] = ..., entity_name: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class SubmitCodesRequest(_message.Message):
    __slots__ = ("project_id", "coder", "sample_id", "codes")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CODER_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    coder: str
    sample_id: str
    codes: _containers.RepeatedCompositeFieldContainer[CodeInput]
    def __init__(self, project_id: _Optional[str] = ..., coder: _Optional[str] = ..., sample_id: _Optional[str] = ..., codes: _Optional[_Iterable[_Union[CodeInput, _Mapping]]] = ...) -> None: ...

class SubmitCodesResponse(_message.Message):
    __slots__ = ("stored",)
    STORED_FIELD_NUMBER: _ClassVar[int]
    stored: int
    def __init__(self, stored: _Optional[int] = ...) -> None: ...

class ListCodesRequest(_message.Message):
    __slots__ = ("project_id", "coder", "sample_id", "variable_id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CODER_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    coder: str
    sample_id: str
    variable_id: str
    def __init__(self, project_id: _Optional[str] = ..., coder: _Optional[str] = ..., sample_id: _Optional[str] = ..., variable_id: _Optional[str] = ...) -> None: ...

class ListCodesResponse(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedCompositeFieldContainer[HumanCode]
    def __init__(self, codes: _Optional[_Iterable[_Union[HumanCode, _Mapping]]] = ...) -> None: ...

class AgreementMeasure(_message.Message):
    __slots__ = ("name", "value", "ci_low", "ci_high", "units", "undefined_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    UNDEFINED_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    ci_low: float
    ci_high: float
    units: int
    undefined_reason: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., units: _Optional[int] = ..., undefined_reason: _Optional[str] = ...) -> None: ...

class CategoryAgreement(_message.Message):
    __slots__ = ("category", "reference_count", "compared_count", "agreed", "precision", "recall", "p_value_against_chance")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPARED_COUNT_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_AGAINST_CHANCE_FIELD_NUMBER: _ClassVar[int]
    category: str
    reference_count: int
    compared_count: int
    agreed: int
    precision: float
    recall: float
    p_value_against_chance: float
    def __init__(self, category: _Optional[str] = ..., reference_count: _Optional[int] = ..., compared_count: _Optional[int] = ..., agreed: _Optional[int] = ..., precision: _Optional[float] = ..., recall: _Optional[float] = ..., p_value_against_chance: _Optional[float] = ...) -> None: ...

class ConfusionCell(_message.Message):
    __slots__ = ("reference", "compared", "count")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    COMPARED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reference: str
    compared: str
    count: int
    def __init__(self, reference: _Optional[str] = ..., compared: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ReliabilityBin(_message.Message):
    __slots__ = ("confidence_low", "confidence_high", "units", "mean_confidence", "accuracy")
    CONFIDENCE_LOW_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_HIGH_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    MEAN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    confidence_low: float
    confidence_high: float
    units: int
    mean_confidence: float
    accuracy: float
    def __init__(self, confidence_low: _Optional[float] = ..., confidence_high: _Optional[float] = ..., units: _Optional[int] = ..., mean_confidence: _Optional[float] = ..., accuracy: _Optional[float] = ...) -> None: ...

class Calibration(_message.Message):
    __slots__ = ("units", "bins", "expected_calibration_error", "target_precision", "proposed_threshold", "precision_at_threshold", "coverage_at_threshold", "to_review", "current_threshold")
    UNITS_FIELD_NUMBER: _ClassVar[int]
    BINS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_CALIBRATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    TARGET_PRECISION_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PRECISION_AT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_AT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TO_REVIEW_FIELD_NUMBER: _ClassVar[int]
    CURRENT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    units: int
    bins: _containers.RepeatedCompositeFieldContainer[ReliabilityBin]
    expected_calibration_error: float
    target_precision: float
    proposed_threshold: float
    precision_at_threshold: float
    coverage_at_threshold: float
    to_review: int
    current_threshold: float
    def __init__(self, units: _Optional[int] = ..., bins: _Optional[_Iterable[_Union[ReliabilityBin, _Mapping]]] = ..., expected_calibration_error: _Optional[float] = ..., target_precision: _Optional[float] = ..., proposed_threshold: _Optional[float] = ..., precision_at_threshold: _Optional[float] = ..., coverage_at_threshold: _Optional[float] = ..., to_review: _Optional[int] = ..., current_threshold: _Optional[float] = ...) -> None: ...

class AgreementReport(_message.Message):
    __slots__ = ("reference", "compared", "prompt_version", "units", "missing", "measures", "confusion", "categories", "calibration", "llm_model", "cost_usd", "cost")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    COMPARED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    CONFUSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    reference: str
    compared: str
    prompt_version: int
    units: int
    missing: int
    measures: _containers.RepeatedCompositeFieldContainer[AgreementMeasure]
    confusion: _containers.RepeatedCompositeFieldContainer[ConfusionCell]
    categories: _containers.RepeatedCompositeFieldContainer[CategoryAgreement]
    calibration: Calibration
    llm_model: str
    cost_usd: float
    cost: _money_pb2.Money
    def __init__(self, reference: _Optional[str] = ..., compared: _Optional[str] = ..., prompt_version: _Optional[int] = ..., units: _Optional[int] = ..., missing: _Optional[int] = ..., measures: _Optional[_Iterable[_Union[AgreementMeasure, _Mapping]]] = ..., confusion: _Optional[_Iterable[_Union[ConfusionCell, _Mapping]]] = ..., categories: _Optional[_Iterable[_Union[CategoryAgreement, _Mapping]]] = ..., calibration: _Optional[_Union[Calibration, _Mapping]] = ..., llm_model: _Optional[str] = ..., cost_usd: _Optional[float] = ..., cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class GetAgreementRequest(_message.Message):
    __slots__ = ("variable_id", "reference", "prompt_version", "target_precision")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_PRECISION_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    reference: str
    prompt_version: int
    target_precision: float
    def __init__(self, variable_id: _Optional[str] = ..., reference: _Optional[str] = ..., prompt_version: _Optional[int] = ..., target_precision: _Optional[float] = ...) -> None: ...

class GetAgreementResponse(_message.Message):
    __slots__ = ("model", "coders", "unusable_verdicts")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CODERS_FIELD_NUMBER: _ClassVar[int]
    UNUSABLE_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    model: _containers.RepeatedCompositeFieldContainer[AgreementReport]
    coders: _containers.RepeatedCompositeFieldContainer[AgreementReport]
    unusable_verdicts: int
    def __init__(self, model: _Optional[_Iterable[_Union[AgreementReport, _Mapping]]] = ..., coders: _Optional[_Iterable[_Union[AgreementReport, _Mapping]]] = ..., unusable_verdicts: _Optional[int] = ...) -> None: ...

class Unit(_message.Message):
    __slots__ = ("document_id", "entity_key")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    entity_key: str
    def __init__(self, document_id: _Optional[str] = ..., entity_key: _Optional[str] = ...) -> None: ...

class Refinement(_message.Message):
    __slots__ = ("id", "variable_id", "method", "status", "reference", "base_version", "accepted_version", "job_id", "instructions", "guidance", "rationale", "error", "training_units", "held_out_units", "llm_model", "cost_usd", "create_time", "base_report", "cost")
    ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRAINING_UNITS_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_UNITS_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BASE_REPORT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    id: str
    variable_id: str
    method: RefinementMethod
    status: RefinementStatus
    reference: str
    base_version: int
    accepted_version: int
    job_id: str
    instructions: str
    guidance: _schema_pb2.Guidance
    rationale: str
    error: str
    training_units: _containers.RepeatedCompositeFieldContainer[Unit]
    held_out_units: _containers.RepeatedCompositeFieldContainer[Unit]
    llm_model: str
    cost_usd: float
    create_time: _timestamp_pb2.Timestamp
    base_report: AgreementReport
    cost: _money_pb2.Money
    def __init__(self, id: _Optional[str] = ..., variable_id: _Optional[str] = ..., method: _Optional[_Union[RefinementMethod, str]] = ..., status: _Optional[_Union[RefinementStatus, str]] = ..., reference: _Optional[str] = ..., base_version: _Optional[int] = ..., accepted_version: _Optional[int] = ..., job_id: _Optional[str] = ..., instructions: _Optional[str] = ..., guidance: _Optional[_Union[_schema_pb2.Guidance, _Mapping]] = ..., rationale: _Optional[str] = ..., error: _Optional[str] = ..., training_units: _Optional[_Iterable[_Union[Unit, _Mapping]]] = ..., held_out_units: _Optional[_Iterable[_Union[Unit, _Mapping]]] = ..., llm_model: _Optional[str] = ..., cost_usd: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., base_report: _Optional[_Union[AgreementReport, _Mapping]] = ..., cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ProposeRefinementRequest(_message.Message):
    __slots__ = ("variable_id", "method", "reference", "held_out_share")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_SHARE_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    method: RefinementMethod
    reference: str
    held_out_share: float
    def __init__(self, variable_id: _Optional[str] = ..., method: _Optional[_Union[RefinementMethod, str]] = ..., reference: _Optional[str] = ..., held_out_share: _Optional[float] = ...) -> None: ...

class ProposeRefinementResponse(_message.Message):
    __slots__ = ("refinement",)
    REFINEMENT_FIELD_NUMBER: _ClassVar[int]
    refinement: Refinement
    def __init__(self, refinement: _Optional[_Union[Refinement, _Mapping]] = ...) -> None: ...

class GetRefinementRequest(_message.Message):
    __slots__ = ("refinement_id",)
    REFINEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    refinement_id: str
    def __init__(self, refinement_id: _Optional[str] = ...) -> None: ...

class GetRefinementResponse(_message.Message):
    __slots__ = ("refinement",)
    REFINEMENT_FIELD_NUMBER: _ClassVar[int]
    refinement: Refinement
    def __init__(self, refinement: _Optional[_Union[Refinement, _Mapping]] = ...) -> None: ...

class ListRefinementsRequest(_message.Message):
    __slots__ = ("variable_id",)
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    def __init__(self, variable_id: _Optional[str] = ...) -> None: ...

class ListRefinementsResponse(_message.Message):
    __slots__ = ("refinements",)
    REFINEMENTS_FIELD_NUMBER: _ClassVar[int]
    refinements: _containers.RepeatedCompositeFieldContainer[Refinement]
    def __init__(self, refinements: _Optional[_Iterable[_Union[Refinement, _Mapping]]] = ...) -> None: ...

class AcceptRefinementRequest(_message.Message):
    __slots__ = ("refinement_id", "instructions", "guidance")
    REFINEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    refinement_id: str
    instructions: str
    guidance: _schema_pb2.Guidance
    def __init__(self, refinement_id: _Optional[str] = ..., instructions: _Optional[str] = ..., guidance: _Optional[_Union[_schema_pb2.Guidance, _Mapping]] = ...) -> None: ...

class AcceptRefinementResponse(_message.Message):
    __slots__ = ("refinement", "prompt_version")
    REFINEMENT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    refinement: Refinement
    prompt_version: int
    def __init__(self, refinement: _Optional[_Union[Refinement, _Mapping]] = ..., prompt_version: _Optional[int] = ...) -> None: ...

class ComparePromptVersionsRequest(_message.Message):
    __slots__ = ("variable_id", "reference", "base_version", "new_version", "refinement_id")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFINEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    reference: str
    base_version: int
    new_version: int
    refinement_id: str
    def __init__(self, variable_id: _Optional[str] = ..., reference: _Optional[str] = ..., base_version: _Optional[int] = ..., new_version: _Optional[int] = ..., refinement_id: _Optional[str] = ...) -> None: ...

class ChangedValue(_message.Message):
    __slots__ = ("unit", "base_value", "new_value", "reference_value")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    BASE_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_VALUE_FIELD_NUMBER: _ClassVar[int]
    unit: Unit
    base_value: _struct_pb2.Value
    new_value: _struct_pb2.Value
    reference_value: _struct_pb2.Value
    def __init__(self, unit: _Optional[_Union[Unit, _Mapping]] = ..., base_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., new_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., reference_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class ComparePromptVersionsResponse(_message.Message):
    __slots__ = ("base", "new", "paired_units", "agreement_change", "change_ci_low", "change_ci_high", "changes")
    BASE_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    PAIRED_UNITS_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CHANGE_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    base: AgreementReport
    new: AgreementReport
    paired_units: int
    agreement_change: float
    change_ci_low: float
    change_ci_high: float
    changes: _containers.RepeatedCompositeFieldContainer[ChangedValue]
    def __init__(self, base: _Optional[_Union[AgreementReport, _Mapping]] = ..., new: _Optional[_Union[AgreementReport, _Mapping]] = ..., paired_units: _Optional[int] = ..., agreement_change: _Optional[float] = ..., change_ci_low: _Optional[float] = ..., change_ci_high: _Optional[float] = ..., changes: _Optional[_Iterable[_Union[ChangedValue, _Mapping]]] = ...) -> None: ...
