"""QualityService servicer: converts messages, calls the coding, assessment and refinement
services."""

from __future__ import annotations

from collections.abc import Sequence

from coderai.v1 import quality_pb2, quality_pb2_grpc

from server.core.errors import FieldViolation, InvalidArgument
from server.core.interceptors import RpcContext, current_user_id
from server.core.proto import (
    enum_from_proto,
    enum_to_proto,
    from_json_value,
    json_value,
    parse_id,
    timestamp,
    usd_fields,
)
from server.quality.agreement import Measure
from server.quality.assessment import DEFAULT_TARGET_PRECISION, AssessmentService
from server.quality.calibration import Calibration
from server.quality.coding import CodeInput, CodesFilter, CodingService
from server.quality.codings import Report
from server.quality.models import REVIEW, CodingSample, HumanCode, Refinement, RefinementMethod
from server.quality.refinement import DEFAULT_HELD_OUT_SHARE, RefinementService
from server.schema.guidance import Guidance
from server.schema.rpc import guidance_from_message, guidance_message

DEFAULT_HALF_WIDTH = 0.05
DEFAULT_EXPECTED_AGREEMENT = 0.8


def sample_message(sample: CodingSample) -> quality_pb2.CodingSample:
    return quality_pb2.CodingSample(
        id=str(sample.id),
        project_id=str(sample.project_id),
        name=sample.name,
        document_ids=[str(document_id) for document_id in sample.document_ids],
        population=sample.population,
        seed=sample.seed,
        create_time=timestamp(sample.created_at),
    )


def code_message(code: HumanCode) -> quality_pb2.HumanCode:
    return quality_pb2.HumanCode(
        id=str(code.id),
        variable_id=str(code.variable_id),
        document_id=str(code.document_id),
        entity_name=code.entity_name,
        coder=code.coder,
        value=json_value(code.value),
        note=code.note,
        sample_id=str(code.sample_id) if code.sample_id else "",
        update_time=timestamp(code.updated_at),
    )


def measure_message(measure: Measure) -> quality_pb2.AgreementMeasure:
    return quality_pb2.AgreementMeasure(
        name=measure.name,
        value=measure.value,
        ci_low=measure.low,
        ci_high=measure.high,
        units=measure.units,
        undefined_reason=measure.undefined or "",
    )


def calibration_message(calibration: Calibration) -> quality_pb2.Calibration:
    return quality_pb2.Calibration(
        units=calibration.units,
        bins=[
            quality_pb2.ReliabilityBin(
                confidence_low=b.low,
                confidence_high=b.high,
                units=b.units,
                mean_confidence=b.mean_confidence,
                accuracy=b.accuracy,
            )
            for b in calibration.bins
        ],
        expected_calibration_error=calibration.expected_calibration_error,
        target_precision=calibration.target_precision,
        proposed_threshold=calibration.proposed_threshold,
        precision_at_threshold=calibration.precision_at_threshold,
        coverage_at_threshold=calibration.coverage_at_threshold,
        to_review=calibration.to_review,
        current_threshold=calibration.current_threshold,
    )


def report_message(report: Report) -> quality_pb2.AgreementReport:
    return quality_pb2.AgreementReport(
        reference=report.reference,
        compared=report.compared,
        prompt_version=report.prompt_version,
        units=report.units,
        missing=report.missing,
        measures=[measure_message(measure) for measure in report.measures],
        confusion=[
            quality_pb2.ConfusionCell(reference=truth, compared=code, count=count)
            for truth, row in report.confusion.items()
            for code, count in row.items()
            if count
        ],
        categories=[
            quality_pb2.CategoryAgreement(
                category=score.category,
                reference_count=score.reference_count,
                compared_count=score.compared_count,
                agreed=score.agreed,
                precision=score.precision,
                recall=score.recall,
                p_value_against_chance=score.p_value_against_chance,
            )
            for score in report.categories
        ],
        calibration=calibration_message(report.calibration) if report.calibration else None,
        llm_model=report.llm_model,
        **usd_fields("cost", "cost_usd", report.cost_usd),
    )


def refinement_message(refinement: Refinement) -> quality_pb2.Refinement:
    return quality_pb2.Refinement(
        id=str(refinement.id),
        variable_id=str(refinement.variable_id),
        method=enum_to_proto(refinement.method, "REFINEMENT_METHOD"),
        status=enum_to_proto(refinement.status, "REFINEMENT_STATUS"),
        reference=refinement.reference,
        base_version=refinement.base_version,
        accepted_version=refinement.accepted_version or 0,
        job_id=str(refinement.job_id) if refinement.job_id else "",
        instructions=refinement.instructions,
        guidance=guidance_message(Guidance.of(refinement.guidance)),
        rationale=refinement.rationale,
        error=refinement.error or "",
        training_units=_units(refinement.training_units),
        held_out_units=_units(refinement.held_out_units),
        llm_model=refinement.llm_model or "",
        **usd_fields("cost", "cost_usd", refinement.cost_usd),
        create_time=timestamp(refinement.created_at),
        base_report=report_message(Report.from_json(refinement.base_report))
        if refinement.base_report
        else None,
    )


def _units(units: Sequence[Sequence[str]]) -> list[quality_pb2.Unit]:
    return [quality_pb2.Unit(document_id=document, entity_key=key) for document, key in units]


def _reference(name: str) -> str:
    return name.strip() or REVIEW


class QualityServicer(quality_pb2_grpc.QualityServiceServicer):
    def __init__(
        self, coding: CodingService, assessment: AssessmentService, refinement: RefinementService
    ) -> None:
        self._coding = coding
        self._assessment = assessment
        self._refinement = refinement

    async def CreateCodingSample(  # noqa: N802 - gRPC method names are the proto's
        self, request: quality_pb2.CreateCodingSampleRequest, context: RpcContext
    ) -> quality_pb2.CreateCodingSampleResponse:
        sample = await self._coding.draw_sample(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            request.name,
            request.size,
            request.seed,
        )
        return quality_pb2.CreateCodingSampleResponse(sample=sample_message(sample))

    async def ListCodingSamples(  # noqa: N802
        self, request: quality_pb2.ListCodingSamplesRequest, context: RpcContext
    ) -> quality_pb2.ListCodingSamplesResponse:
        samples = await self._coding.samples(
            current_user_id(), parse_id(request.project_id, "project_id")
        )
        return quality_pb2.ListCodingSamplesResponse(
            samples=[sample_message(sample) for sample in samples]
        )

    async def SuggestSampleSize(  # noqa: N802
        self, request: quality_pb2.SuggestSampleSizeRequest, context: RpcContext
    ) -> quality_pb2.SuggestSampleSizeResponse:
        size = await self._coding.suggest_size(
            current_user_id(),
            parse_id(request.variable_id, "variable_id"),
            request.target_half_width or DEFAULT_HALF_WIDTH,
            request.expected_agreement or DEFAULT_EXPECTED_AGREEMENT,
        )
        return quality_pb2.SuggestSampleSizeResponse(
            suggested_size=size.suggested,
            size_for_precision=size.for_precision,
            size_for_categories=size.for_categories,
            available=size.available,
            explanation=size.explanation,
        )

    async def SubmitCodes(  # noqa: N802
        self, request: quality_pb2.SubmitCodesRequest, context: RpcContext
    ) -> quality_pb2.SubmitCodesResponse:
        codes = [
            CodeInput(
                variable_id=parse_id(code.variable_id, f"codes[{index}].variable_id"),
                document_id=parse_id(code.document_id, f"codes[{index}].document_id"),
                entity_name=code.entity_name,
                value=from_json_value(code, "value"),
                note=code.note,
            )
            for index, code in enumerate(request.codes)
        ]
        stored = await self._coding.submit(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            request.coder,
            parse_id(request.sample_id, "sample_id") if request.sample_id else None,
            codes,
        )
        return quality_pb2.SubmitCodesResponse(stored=stored)

    async def ListCodes(  # noqa: N802
        self, request: quality_pb2.ListCodesRequest, context: RpcContext
    ) -> quality_pb2.ListCodesResponse:
        codes = await self._coding.codes(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            CodesFilter(
                coder=request.coder,
                sample_id=parse_id(request.sample_id, "sample_id") if request.sample_id else None,
                variable_id=parse_id(request.variable_id, "variable_id")
                if request.variable_id
                else None,
            ),
        )
        return quality_pb2.ListCodesResponse(codes=[code_message(code) for code in codes])

    async def GetAgreement(  # noqa: N802
        self, request: quality_pb2.GetAgreementRequest, context: RpcContext
    ) -> quality_pb2.GetAgreementResponse:
        if request.prompt_version < 0:
            raise InvalidArgument.from_violations(
                [FieldViolation("prompt_version", "must not be negative")]
            )
        result = await self._assessment.agreement(
            current_user_id(),
            parse_id(request.variable_id, "variable_id"),
            _reference(request.reference),
            request.prompt_version,
            request.target_precision or DEFAULT_TARGET_PRECISION,
        )
        return quality_pb2.GetAgreementResponse(
            model=[report_message(report) for report in result.model],
            coders=[report_message(report) for report in result.coders],
            unusable_verdicts=result.unusable_verdicts,
        )

    async def ProposeRefinement(  # noqa: N802
        self, request: quality_pb2.ProposeRefinementRequest, context: RpcContext
    ) -> quality_pb2.ProposeRefinementResponse:
        method = enum_from_proto(
            request.method,
            RefinementMethod,
            quality_pb2.RefinementMethod,
            "REFINEMENT_METHOD",
            "method",
        )
        if method is None:
            raise InvalidArgument.from_violations([FieldViolation("method", "required")])
        refinement = await self._refinement.propose(
            current_user_id(),
            parse_id(request.variable_id, "variable_id"),
            method,
            _reference(request.reference),
            request.held_out_share or DEFAULT_HELD_OUT_SHARE,
        )
        return quality_pb2.ProposeRefinementResponse(refinement=refinement_message(refinement))

    async def GetRefinement(  # noqa: N802
        self, request: quality_pb2.GetRefinementRequest, context: RpcContext
    ) -> quality_pb2.GetRefinementResponse:
        refinement = await self._refinement.get(
            current_user_id(), parse_id(request.refinement_id, "refinement_id")
        )
        return quality_pb2.GetRefinementResponse(refinement=refinement_message(refinement))

    async def ListRefinements(  # noqa: N802
        self, request: quality_pb2.ListRefinementsRequest, context: RpcContext
    ) -> quality_pb2.ListRefinementsResponse:
        refinements = await self._refinement.list(
            current_user_id(), parse_id(request.variable_id, "variable_id")
        )
        return quality_pb2.ListRefinementsResponse(
            refinements=[refinement_message(refinement) for refinement in refinements]
        )

    async def AcceptRefinement(  # noqa: N802
        self, request: quality_pb2.AcceptRefinementRequest, context: RpcContext
    ) -> quality_pb2.AcceptRefinementResponse:
        refinement, version = await self._refinement.accept(
            current_user_id(),
            parse_id(request.refinement_id, "refinement_id"),
            request.instructions if request.HasField("instructions") else None,
            guidance_from_message(request.guidance) if request.HasField("guidance") else None,
        )
        return quality_pb2.AcceptRefinementResponse(
            refinement=refinement_message(refinement), prompt_version=version
        )

    async def ComparePromptVersions(  # noqa: N802
        self, request: quality_pb2.ComparePromptVersionsRequest, context: RpcContext
    ) -> quality_pb2.ComparePromptVersionsResponse:
        comparison = await self._assessment.compare_versions(
            current_user_id(),
            parse_id(request.variable_id, "variable_id"),
            _reference(request.reference),
            request.base_version,
            request.new_version,
            parse_id(request.refinement_id, "refinement_id") if request.refinement_id else None,
        )
        return quality_pb2.ComparePromptVersionsResponse(
            base=report_message(comparison.base),
            new=report_message(comparison.new),
            paired_units=comparison.paired_units,
            agreement_change=comparison.change,
            change_ci_low=comparison.change_low,
            change_ci_high=comparison.change_high,
            changes=[
                quality_pb2.ChangedValue(
                    unit=quality_pb2.Unit(document_id=str(unit[0]), entity_key=unit[1]),
                    base_value=json_value(base),
                    new_value=json_value(new),
                    reference_value=json_value(reference),
                )
                for unit, base, new, reference in comparison.changes
            ],
        )
