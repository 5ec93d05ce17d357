"""Messages <-> domain for the feedback RPCs (CreateFeedback, ListFeedback), which the
JobService servicer serves."""

from __future__ import annotations

from datetime import UTC

from coderai.v1 import common_pb2, job_pb2

from server.core.errors import FieldViolation, InvalidArgument
from server.core.proto import (
    enum_from_proto,
    enum_to_proto,
    enums_from_proto,
    from_json_value,
    json_value,
    parse_id,
    timestamp,
)
from server.feedback.service import FeedbackFilter, FeedbackInput, StoredFeedback
from server.jobs.models import FeedbackType


def feedback_message(stored: StoredFeedback) -> job_pb2.Feedback:
    feedback = stored.feedback
    return job_pb2.Feedback(
        id=str(feedback.id),
        extraction_id=str(feedback.extraction_id) if feedback.extraction_id else "",
        feedback_type=enum_to_proto(feedback.feedback_type, "FEEDBACK_TYPE"),
        corrected_value=json_value(feedback.corrected_value),
        user_note=feedback.user_note,
        project_id=str(feedback.project_id),
        document_id=str(feedback.document_id),
        variable_id=str(feedback.variable_id),
        job_id=str(feedback.job_id) if feedback.job_id else "",
        prompt_id=str(feedback.prompt_id) if feedback.prompt_id else "",
        prompt_version=feedback.prompt_version or 0,
        entity_key=feedback.entity_key,
        entity_name=feedback.entity_name,
        judged_value=json_value(feedback.judged_value),
        judged_status=enum_to_proto(feedback.judged_status, "EXTRACTION_STATUS"),
        judged_source_text=feedback.judged_source_text or "",
        superseded=stored.superseded,
        create_time=timestamp(feedback.created_at),
        update_time=timestamp(feedback.updated_at),
    )


def feedback_input(request: job_pb2.CreateFeedbackRequest) -> FeedbackInput:
    feedback_type = enum_from_proto(
        request.feedback_type,
        FeedbackType,
        common_pb2.FeedbackType,
        "FEEDBACK_TYPE",
        "feedback_type",
    )
    if feedback_type is None:
        raise InvalidArgument(
            "feedback_type is required", [FieldViolation("feedback_type", "required")]
        )
    return FeedbackInput(
        extraction_id=parse_id(request.extraction_id, "extraction_id"),
        feedback_type=feedback_type,
        corrected_value=from_json_value(request, "corrected_value"),
        user_note=request.user_note,
        seen_update_time=request.extraction_update_time.ToDatetime(tzinfo=UTC)
        if request.HasField("extraction_update_time")
        else None,
    )


def feedback_filter(request: job_pb2.ListFeedbackRequest) -> FeedbackFilter:
    return FeedbackFilter(
        variable_id=parse_id(request.variable_id, "variable_id") if request.variable_id else None,
        job_id=parse_id(request.job_id, "job_id") if request.job_id else None,
        feedback_types=enums_from_proto(
            request.feedback_types,
            FeedbackType,
            common_pb2.FeedbackType,
            "FEEDBACK_TYPE",
            "feedback_types",
        ),
    )
