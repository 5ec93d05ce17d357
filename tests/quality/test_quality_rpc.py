"""Quality through the real server, workers and the local OpenAI-compatible server: a blind
coding sample, two coders' codes, the model's agreement with them and theirs with each other,
a refinement made from the training units and accepted into a new prompt version, the sample
re-run with it, and the comparison of the two versions on the held-out units."""

from __future__ import annotations

import subprocess
from typing import Any

import grpc
import pytest
from coderai.v1 import common_pb2, export_pb2, quality_pb2, schema_pb2

from server.llm.local_server import ScriptedAnswer
from tests.factories import Caller, bad_request_fields, rpc_error, signed_in
from tests.feedback.test_feedback import (
    CORRECT,
    INCORRECT,
    PARTIALLY_CORRECT,
    as_value,
    judge,
    run_job,
)
from tests.feedback.test_feedback import python as value_of
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import project_with_schema, ready_documents

SAMPLE = common_pb2.JOB_TYPE_SAMPLE
READY = quality_pb2.REFINEMENT_STATUS_READY
ACCEPTED = quality_pb2.REFINEMENT_STATUS_ACCEPTED
RULES = quality_pb2.REFINEMENT_METHOD_RULES
SUPPORTS = "The residents' association supports the harbour plan"
OPPOSES = "The residents' association opposes the harbour plan"
STANCE = {
    "name": "stance",
    "type": common_pb2.VARIABLE_TYPE_CATEGORY,
    "instructions": "The residents' association's stance on the harbour plan.",
    "classification_rules": schema_pb2.ClassificationRules(
        categories=[
            schema_pb2.Category(label="support", definition="the association is for the plan"),
            schema_pb2.Category(label="oppose", definition="the association is against it"),
        ]
    ),
}


def minutes(count: int) -> tuple[list[str], list[str]]:
    """Council minutes alternating between support and opposition, and the true stances."""
    texts, stances = [], []
    for index in range(count):
        quote, stance = (SUPPORTS, "support") if index % 2 == 0 else (OPPOSES, "oppose")
        texts.append(
            f"Minutes of the council of Town {index}.\n\n{quote} and says so in a letter "
            "to the council."
        )
        stances.append(stance)
    return texts, stances


def misreading_model(stack: Stack) -> None:
    """A model that reads every stance as support, until its prompt carries the guidance
    review taught; then it reads opposition right."""
    stack.llm.answer_variable(
        "stance",
        ScriptedAnswer("support", SUPPORTS),
        ScriptedAnswer("support", OPPOSES, confidence=0.9),
        guided=[ScriptedAnswer("support", SUPPORTS), ScriptedAnswer("oppose", OPPOSES)],
    )


def code(variable_id: str, document_id: str, value: Any, note: str = "") -> quality_pb2.CodeInput:
    given = quality_pb2.CodeInput(variable_id=variable_id, document_id=document_id, note=note)
    if value is not None:
        given.value.CopyFrom(as_value(value))
    return given


async def submit(
    caller: Caller, project_id: str, coder: str, codes: list[quality_pb2.CodeInput], **more: Any
) -> quality_pb2.SubmitCodesResponse:
    return await caller.quality.SubmitCodes(
        quality_pb2.SubmitCodesRequest(project_id=project_id, coder=coder, codes=codes, **more),
        metadata=caller.metadata,
    )


async def agreement(caller: Caller, variable_id: str, **request: Any) -> Any:
    return await caller.quality.GetAgreement(
        quality_pb2.GetAgreementRequest(variable_id=variable_id, **request),
        metadata=caller.metadata,
    )


def measure(report: quality_pb2.AgreementReport, name: str) -> quality_pb2.AgreementMeasure:
    [found] = [m for m in report.measures if m.name == name]
    return found


async def test_blind_codes_measure_the_model_and_a_refinement_improves_it_on_held_out_units(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    misreading_model(stack)
    project = await project_with_schema(researcher, [STANCE])
    [variable] = (
        await researcher.schema.ListVariables(
            schema_pb2.ListVariablesRequest(project_id=project.id), metadata=researcher.metadata
        )
    ).variables
    texts, stances = minutes(10)
    documents = await ready_documents(researcher, project.id, texts)
    truth = dict(zip(documents, stances, strict=True))
    await run_job(researcher, project.id, documents, SAMPLE)

    # The sample to code blind: drawn from the READY documents, reproducibly.
    suggestion = await researcher.quality.SuggestSampleSize(
        quality_pb2.SuggestSampleSizeRequest(variable_id=variable.id), metadata=researcher.metadata
    )
    assert (suggestion.size_for_precision, suggestion.size_for_categories) == (246, 30)
    assert suggestion.suggested_size == suggestion.available == 10
    assert "falls short" in suggestion.explanation
    drawn = await researcher.quality.CreateCodingSample(
        quality_pb2.CreateCodingSampleRequest(
            project_id=project.id, name="reliability", size=10, seed=7
        ),
        metadata=researcher.metadata,
    )
    sample = drawn.sample
    assert sorted(sample.document_ids) == sorted(documents)
    assert sample.population == 10
    assert sample.seed == 7
    too_many = await rpc_error(
        researcher.quality.CreateCodingSample(
            quality_pb2.CreateCodingSampleRequest(project_id=project.id, name="more", size=11),
            metadata=researcher.metadata,
        )
    )
    assert too_many.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(too_many) == ["size"]
    again = await rpc_error(
        researcher.quality.CreateCodingSample(
            quality_pb2.CreateCodingSampleRequest(
                project_id=project.id, name="reliability", size=2
            ),
            metadata=researcher.metadata,
        )
    )
    assert again.code() == grpc.StatusCode.ALREADY_EXISTS

    # Two coders code it; Bob disagrees once and once finds nothing stated.
    alice = [code(variable.id, d, truth[d], note="") for d in sample.document_ids]
    stored = await submit(researcher, project.id, "Alice", alice, sample_id=sample.id)
    assert stored.stored == 10
    bob_values: dict[str, str | None] = {d: truth[d] for d in sample.document_ids}
    first, second = sample.document_ids[:2]
    bob_values[first] = "oppose" if truth[first] == "support" else "support"
    bob_values[second] = None
    await submit(
        researcher, project.id, "Bob", [code(variable.id, d, v) for d, v in bob_values.items()]
    )
    bad = await rpc_error(
        submit(researcher, project.id, "model", [code(variable.id, documents[0], "maybe")])
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(bad) == ["coder"]
    bad = await rpc_error(
        submit(researcher, project.id, "Carol", [code(variable.id, documents[0], "maybe")])
    )
    assert bad_request_fields(bad) == ["codes[0].value"]
    listed = await researcher.quality.ListCodes(
        quality_pb2.ListCodesRequest(project_id=project.id, coder="Bob"),
        metadata=researcher.metadata,
    )
    assert len(listed.codes) == 10
    assert sum(1 for c in listed.codes if not c.HasField("value")) == 1

    # The model (prompt version 1) against Alice: every opposition misread as support.
    measured = await agreement(researcher, variable.id, reference="Alice")
    [model] = measured.model
    assert (model.prompt_version, model.units, model.missing) == (1, 10, 0)
    assert model.llm_model == "openai/gpt-4o-mini"
    assert model.cost_usd > 0
    percent = measure(model, "percent agreement")
    assert percent.value == 0.5
    assert percent.units == 10
    assert percent.ci_low < 0.5 < percent.ci_high
    assert measure(model, "Cohen's kappa").value == 0.0
    confusion = {(c.reference, c.compared): c.count for c in model.confusion}
    assert confusion == {("support", "support"): 5, ("oppose", "support"): 5}
    oppose = next(c for c in model.categories if c.category == "oppose")
    assert (oppose.reference_count, oppose.agreed, oppose.recall) == (5, 0, 0.0)
    calibration = model.calibration
    assert calibration.units == 10
    assert abs(calibration.expected_calibration_error - 0.425) < 1e-9
    assert not calibration.HasField("proposed_threshold")
    [pair] = measured.coders
    assert (pair.reference, pair.compared, pair.units) == ("Alice", "Bob", 10)
    assert measure(pair, "percent agreement").value == 0.8

    # A refinement from the training units; the held-out ones stay out of it.
    proposed = await researcher.quality.ProposeRefinement(
        quality_pb2.ProposeRefinementRequest(
            variable_id=variable.id, method=RULES, reference="Alice", held_out_share=0.2
        ),
        metadata=researcher.metadata,
    )
    refinement = proposed.refinement
    assert refinement.status == READY
    assert refinement.base_version == 1
    assert len(refinement.training_units) + len(refinement.held_out_units) == 10
    # Where it starts from, kept with it: version 1 on every judged unit.
    assert refinement.base_report.units == 10
    assert measure(refinement.base_report, "percent agreement").value == 0.5
    held_out = {unit.document_id for unit in refinement.held_out_units}
    training = {unit.document_id for unit in refinement.training_units}
    assert not held_out & training
    # The split is random: what is learnt is what the training units show.
    misread_in_training = sum(1 for d in training if truth[d] == "oppose")
    pattern = f'{misread_in_training} passages coded "support" belong in "oppose"'
    assert any(rule.startswith(pattern) for rule in refinement.guidance.rules) == (
        misread_in_training >= 2
    )
    examples = refinement.guidance.examples
    assert len(examples) == min(misread_in_training, 8)
    assert all(example.excerpt == OPPOSES for example in examples)
    assert all(value_of(example.value) == "oppose" for example in examples)
    assert all(value_of(example.not_value) == "support" for example in examples)
    accepted = await researcher.quality.AcceptRefinement(
        quality_pb2.AcceptRefinementRequest(refinement_id=refinement.id),
        metadata=researcher.metadata,
    )
    assert accepted.prompt_version == 2
    assert accepted.refinement.status == ACCEPTED
    active = await researcher.schema.GetPromptVersion(
        schema_pb2.GetPromptVersionRequest(variable_id=variable.id), metadata=researcher.metadata
    )
    assert active.version.version == 2
    assert "GUIDANCE" in active.version.user_prompt_template
    assert active.version.reason == "refined"
    twice = await rpc_error(
        researcher.quality.AcceptRefinement(
            quality_pb2.AcceptRefinementRequest(refinement_id=refinement.id),
            metadata=researcher.metadata,
        )
    )
    assert twice.code() == grpc.StatusCode.FAILED_PRECONDITION

    # The sample again, with the new version: the comparison counts the held-out units only.
    await run_job(researcher, project.id, documents, SAMPLE)
    compared = await researcher.quality.ComparePromptVersions(
        quality_pb2.ComparePromptVersionsRequest(
            variable_id=variable.id, reference="Alice", base_version=1, refinement_id=refinement.id
        ),
        metadata=researcher.metadata,
    )
    assert compared.paired_units == len(held_out)
    assert (compared.base.prompt_version, compared.new.prompt_version) == (1, 2)
    assert measure(compared.new, "percent agreement").value == 1.0
    misread = sum(1 for d in held_out if truth[d] == "oppose")
    assert compared.agreement_change == pytest.approx(misread / len(held_out))
    assert compared.change_ci_low <= compared.agreement_change <= compared.change_ci_high
    assert {change.unit.document_id for change in compared.changes} == {
        d for d in held_out if truth[d] == "oppose"
    }
    for change in compared.changes:
        assert value_of(change.base_value) == "support"
        assert value_of(change.new_value) == value_of(change.reference_value) == "oppose"
    # Both versions stay measurable: version 1's values were kept when it was refined.
    both = await agreement(researcher, variable.id, reference="Alice")
    assert [report.prompt_version for report in both.model] == [2, 1]
    assert measure(both.model[0], "percent agreement").value == 1.0
    assert measure(both.model[1], "percent agreement").value == 0.5

    # The codebook reports it as a methods section would.
    export = await researcher.export(project.id, export_pb2.EXPORT_FORMAT_CODEBOOK)
    _, data = await researcher.download(export.id)
    codebook = data.decode()
    assert "| model (prompt version 2) | Alice | percent agreement | 1.000 |" in codebook
    assert "| Bob | Alice | percent agreement | 0.800 |" in codebook

    # Another researcher sees none of it.
    other = await signed_in(
        grpc.aio.insecure_channel(stack.target), f"other-{project.id[:8]}@example.org"
    )
    for call in (
        agreement(other, variable.id, reference="Alice"),
        other.quality.ListCodes(
            quality_pb2.ListCodesRequest(project_id=project.id), metadata=other.metadata
        ),
        other.quality.GetRefinement(
            quality_pb2.GetRefinementRequest(refinement_id=refinement.id), metadata=other.metadata
        ),
        submit(other, project.id, "Mallory", [code(variable.id, documents[0], "oppose")]),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND


async def test_review_verdicts_are_a_reference_and_too_few_refuse_a_refinement(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    misreading_model(stack)
    project = await project_with_schema(researcher, [STANCE])
    texts, stances = minutes(6)
    documents = await ready_documents(researcher, project.id, texts)
    truth = dict(zip(documents, stances, strict=True))
    await run_job(researcher, project.id, documents, SAMPLE)
    extractions = {e.document_id: e for e in await researcher.extractions(project.id)}
    variable_id = extractions[documents[0]].variable_id
    # Right where it says support; corrected where it misread; one verdict gives no code.
    for document in documents[:4]:
        if truth[document] == "support":
            await judge(researcher, extractions[document], CORRECT)
        else:
            await judge(researcher, extractions[document], INCORRECT, "oppose", user_note="against")
    await judge(researcher, extractions[documents[4]], PARTIALLY_CORRECT)

    measured = await agreement(researcher, variable_id)
    assert measured.unusable_verdicts == 1
    [model] = measured.model
    assert model.reference == "review"
    assert model.units == 4
    assert measure(model, "percent agreement").value == 0.5
    assert not measured.coders

    refused = await rpc_error(
        researcher.quality.ProposeRefinement(
            quality_pb2.ProposeRefinementRequest(variable_id=variable_id, method=RULES),
            metadata=researcher.metadata,
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "at least 5" in (refused.details() or "")
    unknown = await rpc_error(agreement(researcher, variable_id, reference="Nobody"))
    assert bad_request_fields(unknown) == ["reference"]


async def test_review_feedback_refines_the_prompt_and_the_rerun_is_measured_on_held_out_units(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    misreading_model(stack)
    project = await project_with_schema(researcher, [STANCE])
    texts, stances = minutes(10)
    documents = await ready_documents(researcher, project.id, texts)
    truth = dict(zip(documents, stances, strict=True))
    await run_job(researcher, project.id, documents, SAMPLE)
    extractions = {e.document_id: e for e in await researcher.extractions(project.id)}
    variable_id = extractions[documents[0]].variable_id
    note = "Opposing the plan is oppose, whatever else the letter says."
    for document, extraction in extractions.items():
        if truth[document] == "support":
            await judge(researcher, extraction, CORRECT)
        else:
            await judge(researcher, extraction, INCORRECT, "oppose", user_note=note)

    proposed = await researcher.quality.ProposeRefinement(
        quality_pb2.ProposeRefinementRequest(
            variable_id=variable_id, method=RULES, held_out_share=0.2
        ),
        metadata=researcher.metadata,
    )
    refinement = proposed.refinement
    assert refinement.reference == "review"
    assert note in refinement.guidance.rules
    await researcher.quality.AcceptRefinement(
        quality_pb2.AcceptRefinementRequest(refinement_id=refinement.id),
        metadata=researcher.metadata,
    )
    await run_job(researcher, project.id, documents, SAMPLE)

    compared = await researcher.quality.ComparePromptVersions(
        quality_pb2.ComparePromptVersionsRequest(
            variable_id=variable_id, base_version=1, refinement_id=refinement.id
        ),
        metadata=researcher.metadata,
    )
    held_out = {unit.document_id for unit in refinement.held_out_units}
    assert compared.paired_units == len(held_out)
    assert measure(compared.new, "percent agreement").value == 1.0
    fixed = sum(1 for d in held_out if truth[d] == "oppose")
    assert compared.agreement_change == pytest.approx(fixed / len(held_out))
    # Without the refinement, every judged unit counts.
    everything = await researcher.quality.ComparePromptVersions(
        quality_pb2.ComparePromptVersionsRequest(variable_id=variable_id, base_version=1),
        metadata=researcher.metadata,
    )
    assert everything.paired_units == 10
    assert everything.agreement_change == pytest.approx(0.5)
