import datetime

from coderai.v1 import common_pb2 as _common_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Category(_message.Message):
    __slots__ = ("label", "definition")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    label: str
    definition: str
    def __init__(self, label: _Optional[str] = ..., definition: _Optional[str] = ...) -> None: ...

class ClassificationRules(_message.Message):
    __slots__ = ("categories", "selection_logic")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    SELECTION_LOGIC_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    selection_logic: str
    def __init__(self, categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ..., selection_logic: _Optional[str] = ...) -> None: ...

class ValidationRules(_message.Message):
    __slots__ = ("min_length", "max_length", "pattern", "min_value", "max_value", "integer_only", "min_date", "max_date")
    MIN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FIELD_NUMBER: _ClassVar[int]
    INTEGER_ONLY_FIELD_NUMBER: _ClassVar[int]
    MIN_DATE_FIELD_NUMBER: _ClassVar[int]
    MAX_DATE_FIELD_NUMBER: _ClassVar[int]
    min_length: int
    max_length: int
    pattern: str
    min_value: float
    max_value: float
    integer_only: bool
    min_date: str
    max_date: str
    def __init__(self, min_length: _Optional[int] = ..., max_length: _Optional[int] = ..., pattern: _Optional[str] = ..., min_value: _Optional[float] = ..., max_value: _Optional[float] = ..., integer_only: _Optional[bool] = ..., min_date: _Optional[str] = ..., max_date: _Optional[str] = ...) -> None: ...

class Variable(_message.Message):
    __slots__ = ("id", "project_id", "name", "display_name", "type", "instructions", "classification_rules", "confidence_threshold", "if_uncertain", "if_multiple_values", "max_values", "default_value", "validation_rules", "depends_on", "order", "create_time", "update_time", "guidance")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_RULES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    IF_UNCERTAIN_FIELD_NUMBER: _ClassVar[int]
    IF_MULTIPLE_VALUES_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RULES_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    display_name: str
    type: _common_pb2.VariableType
    instructions: str
    classification_rules: ClassificationRules
    confidence_threshold: float
    if_uncertain: _common_pb2.IfUncertain
    if_multiple_values: _common_pb2.IfMultipleValues
    max_values: int
    default_value: _struct_pb2.Value
    validation_rules: ValidationRules
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    order: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    guidance: Guidance
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., display_name: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.VariableType, str]] = ..., instructions: _Optional[str] = ..., classification_rules: _Optional[_Union[ClassificationRules, _Mapping]] = ..., confidence_threshold: _Optional[float] = ..., if_uncertain: _Optional[_Union[_common_pb2.IfUncertain, str]] = ..., if_multiple_values: _Optional[_Union[_common_pb2.IfMultipleValues, str]] = ..., max_values: _Optional[int] = ..., default_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., validation_rules: _Optional[_Union[ValidationRules, _Mapping]] = ..., depends_on: _Optional[_Iterable[str]] = ..., order: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., guidance: _Optional[_Union[Guidance, _Mapping]] = ...) -> None: ...

class GuidanceExample(_message.Message):
    __slots__ = ("excerpt", "value", "not_value", "note")
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOT_VALUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    excerpt: str
    value: _struct_pb2.Value
    not_value: _struct_pb2.Value
    note: str
    def __init__(self, excerpt: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., not_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class Guidance(_message.Message):
    __slots__ = ("rules", "examples")
    RULES_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedScalarFieldContainer[str]
    examples: _containers.RepeatedCompositeFieldContainer[GuidanceExample]
    def __init__(self, rules: _Optional[_Iterable[str]] = ..., examples: _Optional[_Iterable[_Union[GuidanceExample, _Mapping]]] = ...) -> None: ...

class VariableSuggestion(_message.Message):
    __slots__ = ("variable", "rationale", "example_quote", "example_document_id", "quote_found", "repairs")
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_QUOTE_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FOUND_FIELD_NUMBER: _ClassVar[int]
    REPAIRS_FIELD_NUMBER: _ClassVar[int]
    variable: Variable
    rationale: str
    example_quote: str
    example_document_id: str
    quote_found: bool
    repairs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, variable: _Optional[_Union[Variable, _Mapping]] = ..., rationale: _Optional[str] = ..., example_quote: _Optional[str] = ..., example_document_id: _Optional[str] = ..., quote_found: _Optional[bool] = ..., repairs: _Optional[_Iterable[str]] = ...) -> None: ...

class DroppedSuggestion(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CopilotUsage(_message.Message):
    __slots__ = ("baseline", "llm_model", "documents_read", "excerpt_characters", "input_tokens", "output_tokens", "cost_usd", "cost")
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_READ_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    baseline: bool
    llm_model: str
    documents_read: int
    excerpt_characters: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cost: _money_pb2.Money
    def __init__(self, baseline: _Optional[bool] = ..., llm_model: _Optional[str] = ..., documents_read: _Optional[int] = ..., excerpt_characters: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class SuggestVariablesRequest(_message.Message):
    __slots__ = ("project_id", "research_question", "max_suggestions", "documents")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RESEARCH_QUESTION_FIELD_NUMBER: _ClassVar[int]
    MAX_SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    research_question: str
    max_suggestions: int
    documents: int
    def __init__(self, project_id: _Optional[str] = ..., research_question: _Optional[str] = ..., max_suggestions: _Optional[int] = ..., documents: _Optional[int] = ...) -> None: ...

class SuggestVariablesStreamRequest(_message.Message):
    __slots__ = ("project_id", "research_question", "max_suggestions", "documents")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RESEARCH_QUESTION_FIELD_NUMBER: _ClassVar[int]
    MAX_SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    research_question: str
    max_suggestions: int
    documents: int
    def __init__(self, project_id: _Optional[str] = ..., research_question: _Optional[str] = ..., max_suggestions: _Optional[int] = ..., documents: _Optional[int] = ...) -> None: ...

class CopilotProgress(_message.Message):
    __slots__ = ("documents_read", "documents", "message")
    DOCUMENTS_READ_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    documents_read: int
    documents: int
    message: str
    def __init__(self, documents_read: _Optional[int] = ..., documents: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class SuggestVariablesStreamResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: CopilotProgress
    result: SuggestVariablesResponse
    def __init__(self, progress: _Optional[_Union[CopilotProgress, _Mapping]] = ..., result: _Optional[_Union[SuggestVariablesResponse, _Mapping]] = ...) -> None: ...

class SuggestVariablesResponse(_message.Message):
    __slots__ = ("suggestions", "dropped", "usage")
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[VariableSuggestion]
    dropped: _containers.RepeatedCompositeFieldContainer[DroppedSuggestion]
    usage: CopilotUsage
    def __init__(self, suggestions: _Optional[_Iterable[_Union[VariableSuggestion, _Mapping]]] = ..., dropped: _Optional[_Iterable[_Union[DroppedSuggestion, _Mapping]]] = ..., usage: _Optional[_Union[CopilotUsage, _Mapping]] = ...) -> None: ...

class SuggestVariableDefinitionRequest(_message.Message):
    __slots__ = ("project_id", "description", "type")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    description: str
    type: _common_pb2.VariableType
    def __init__(self, project_id: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.VariableType, str]] = ...) -> None: ...

class SuggestVariableDefinitionResponse(_message.Message):
    __slots__ = ("suggestion", "dropped", "usage")
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    suggestion: VariableSuggestion
    dropped: _containers.RepeatedCompositeFieldContainer[DroppedSuggestion]
    usage: CopilotUsage
    def __init__(self, suggestion: _Optional[_Union[VariableSuggestion, _Mapping]] = ..., dropped: _Optional[_Iterable[_Union[DroppedSuggestion, _Mapping]]] = ..., usage: _Optional[_Union[CopilotUsage, _Mapping]] = ...) -> None: ...

class CreateVariableRequest(_message.Message):
    __slots__ = ("variable",)
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    variable: Variable
    def __init__(self, variable: _Optional[_Union[Variable, _Mapping]] = ...) -> None: ...

class CreateVariableResponse(_message.Message):
    __slots__ = ("variable",)
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    variable: Variable
    def __init__(self, variable: _Optional[_Union[Variable, _Mapping]] = ...) -> None: ...

class GetVariableRequest(_message.Message):
    __slots__ = ("variable_id",)
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    def __init__(self, variable_id: _Optional[str] = ...) -> None: ...

class GetVariableResponse(_message.Message):
    __slots__ = ("variable",)
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    variable: Variable
    def __init__(self, variable: _Optional[_Union[Variable, _Mapping]] = ...) -> None: ...

class ListVariablesRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class ListVariablesResponse(_message.Message):
    __slots__ = ("variables",)
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    variables: _containers.RepeatedCompositeFieldContainer[Variable]
    def __init__(self, variables: _Optional[_Iterable[_Union[Variable, _Mapping]]] = ...) -> None: ...

class UpdateVariableRequest(_message.Message):
    __slots__ = ("variable", "update_mask")
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    variable: Variable
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, variable: _Optional[_Union[Variable, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateVariableResponse(_message.Message):
    __slots__ = ("variable",)
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    variable: Variable
    def __init__(self, variable: _Optional[_Union[Variable, _Mapping]] = ...) -> None: ...

class DeleteVariableRequest(_message.Message):
    __slots__ = ("variable_id",)
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    def __init__(self, variable_id: _Optional[str] = ...) -> None: ...

class DeleteVariableResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReorderVariablesRequest(_message.Message):
    __slots__ = ("project_id", "variable_ids")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_IDS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    variable_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project_id: _Optional[str] = ..., variable_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReorderVariablesResponse(_message.Message):
    __slots__ = ("variables",)
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    variables: _containers.RepeatedCompositeFieldContainer[Variable]
    def __init__(self, variables: _Optional[_Iterable[_Union[Variable, _Mapping]]] = ...) -> None: ...

class PromptVersion(_message.Message):
    __slots__ = ("id", "variable_id", "version", "active", "system_prompt", "user_prompt_template", "response_schema", "provider", "model", "temperature", "max_tokens", "reason", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    USER_PROMPT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    variable_id: str
    version: int
    active: bool
    system_prompt: str
    user_prompt_template: str
    response_schema: _struct_pb2.Struct
    provider: str
    model: str
    temperature: float
    max_tokens: int
    reason: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., variable_id: _Optional[str] = ..., version: _Optional[int] = ..., active: _Optional[bool] = ..., system_prompt: _Optional[str] = ..., user_prompt_template: _Optional[str] = ..., response_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., temperature: _Optional[float] = ..., max_tokens: _Optional[int] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPromptVersionsRequest(_message.Message):
    __slots__ = ("variable_id",)
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    def __init__(self, variable_id: _Optional[str] = ...) -> None: ...

class ListPromptVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[PromptVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[PromptVersion, _Mapping]]] = ...) -> None: ...

class GetPromptVersionRequest(_message.Message):
    __slots__ = ("variable_id", "version")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    version: int
    def __init__(self, variable_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetPromptVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: PromptVersion
    def __init__(self, version: _Optional[_Union[PromptVersion, _Mapping]] = ...) -> None: ...

class RegeneratePromptsRequest(_message.Message):
    __slots__ = ("project_id", "variable_ids")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_IDS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    variable_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project_id: _Optional[str] = ..., variable_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RegeneratePromptsResponse(_message.Message):
    __slots__ = ("versions", "created_count")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[PromptVersion]
    created_count: int
    def __init__(self, versions: _Optional[_Iterable[_Union[PromptVersion, _Mapping]]] = ..., created_count: _Optional[int] = ...) -> None: ...

class ActivatePromptVersionRequest(_message.Message):
    __slots__ = ("variable_id", "version")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    version: int
    def __init__(self, variable_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ActivatePromptVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: PromptVersion
    def __init__(self, version: _Optional[_Union[PromptVersion, _Mapping]] = ...) -> None: ...

class PreviewPromptRequest(_message.Message):
    __slots__ = ("variable_id", "version", "document_id", "document_text", "entity", "known_values")
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    KNOWN_VALUES_FIELD_NUMBER: _ClassVar[int]
    variable_id: str
    version: int
    document_id: str
    document_text: str
    entity: str
    known_values: _struct_pb2.Struct
    def __init__(self, variable_id: _Optional[str] = ..., version: _Optional[int] = ..., document_id: _Optional[str] = ..., document_text: _Optional[str] = ..., entity: _Optional[str] = ..., known_values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class PreviewPromptResponse(_message.Message):
    __slots__ = ("version", "messages", "estimated_prompt_tokens", "estimated_max_cost_usd", "estimated_max_cost")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_MAX_COST_FIELD_NUMBER: _ClassVar[int]
    version: PromptVersion
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    estimated_prompt_tokens: int
    estimated_max_cost_usd: float
    estimated_max_cost: _money_pb2.Money
    def __init__(self, version: _Optional[_Union[PromptVersion, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., estimated_prompt_tokens: _Optional[int] = ..., estimated_max_cost_usd: _Optional[float] = ..., estimated_max_cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...
