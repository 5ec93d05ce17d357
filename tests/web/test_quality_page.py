"""The co-pilot, review, blind coding, agreement and refinement in headless Chromium through
the grpc-web gateway (tests/web/quality.mjs), over a project whose sample job ran on real
workers against the local OpenAI-compatible server; what the page did is then read back over
gRPC. A screenshot of each step is kept in test-artifacts/quality/ (TEST_ARTIFACTS_DIR
elsewhere)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from coderai.v1 import common_pb2, job_pb2, quality_pb2, schema_pb2

from gateway.proxy import RunningGateway
from server.copilot.service import SUGGESTIONS_SCHEMA_NAME
from server.llm.local_server import ScriptedAnswer
from tests.factories import PASSWORD, Caller
from tests.feedback.test_feedback import python as value_of
from tests.feedback.test_feedback import run_job
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import project_with_schema, ready_documents
from tests.processes import ROOT
from tests.quality.test_quality_rpc import STANCE, minutes, misreading_model
from tests.web.scenarios import needs_chromium, run_scenario

pytestmark = needs_chromium

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
SPEAKER = {
    "name": "speaker",
    "type": common_pb2.VARIABLE_TYPE_TEXT,
    "instructions": "Who states the stance.",
}
DOCUMENTS = 10
STANCE_SUGGESTION = {
    "display_name": "Stance",
    "type": "CATEGORY",
    "instructions": "The stance.",
    "categories": [
        {"label": "support", "definition": "for"},
        {"label": "oppose", "definition": "against"},
    ],
    "selection_logic": "",
    "several_values": False,
    "if_uncertain": "FLAG_FOR_REVIEW",
    "rationale": "",
    "example_quote": "",
    "example_excerpt": 0,
}


@pytest.mark.timeout(240)
async def test_review_blind_coding_agreement_and_refinement_in_the_browser(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    web_gateway: RunningGateway,
    tmp_path: Path,
) -> None:
    misreading_model(stack)
    stack.llm.answer_schema(
        SUGGESTIONS_SCHEMA_NAME,
        {
            "suggestions": [
                {
                    "name": "letter_sender",
                    "display_name": "Letter sender",
                    "type": "TEXT",
                    "instructions": "Who wrote the letter to the council.",
                    "categories": [],
                    "selection_logic": "",
                    "several_values": False,
                    "if_uncertain": "LEAVE_EMPTY",
                    "rationale": "Says who takes a stance.",
                    "example_quote": "The residents' association",
                    "example_excerpt": 1,
                },
                # The codebook has it: left out, with the reason.
                {**STANCE_SUGGESTION, "name": "stance"},
            ]
        },
    )
    # The speaker's quote lies inside the stance's: the page marks the overlap once.
    stack.llm.answer_variable(
        "speaker", ScriptedAnswer("The residents' association", "The residents' association")
    )
    project = await project_with_schema(researcher, [STANCE, SPEAKER], name="Harbour stances")
    texts, _ = minutes(DOCUMENTS)
    documents = await ready_documents(researcher, project.id, texts)
    await run_job(researcher, project.id, documents, common_pb2.JOB_TYPE_SAMPLE)
    shots = ARTIFACTS / "quality"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)

    output = await run_scenario(
        "quality.mjs",
        url=f"http://127.0.0.1:{web_gateway.port}/",
        email=researcher.email,
        password=PASSWORD,
        project=project.name,
        document="doc-1.txt",
        documents=str(DOCUMENTS),
        screenshot=shots / "final.png",
        screenshot_dir=shots,
        download_dir=tmp_path,
    )

    # What the page did, read back over gRPC.
    feedback = (
        await researcher.jobs.ListFeedback(
            job_pb2.ListFeedbackRequest(project_id=project.id), metadata=researcher.metadata
        )
    ).feedback
    verdicts = {value_of(f.judged_value): f for f in feedback}
    assert len(feedback) == 2
    assert verdicts["support"].feedback_type == common_pb2.FEEDBACK_TYPE_INCORRECT
    assert value_of(verdicts["support"].corrected_value) == "oppose"
    assert verdicts["The residents' association"].feedback_type == common_pb2.FEEDBACK_TYPE_CORRECT
    codes = (
        await researcher.quality.ListCodes(
            quality_pb2.ListCodesRequest(project_id=project.id, coder="Ada"),
            metadata=researcher.metadata,
        )
    ).codes
    assert len(codes) == 2 * DOCUMENTS
    variables = (
        await researcher.schema.ListVariables(
            schema_pb2.ListVariablesRequest(project_id=project.id), metadata=researcher.metadata
        )
    ).variables
    stance = next(v for v in variables if v.name == "stance")
    active = await researcher.schema.GetPromptVersion(
        schema_pb2.GetPromptVersionRequest(variable_id=stance.id), metadata=researcher.metadata
    )
    assert active.version.version == 2
    assert active.version.reason == "refined"
    [refinement] = (
        await researcher.quality.ListRefinements(
            quality_pb2.ListRefinementsRequest(variable_id=stance.id), metadata=researcher.metadata
        )
    ).refinements
    assert refinement.status == quality_pb2.REFINEMENT_STATUS_ACCEPTED
    [shown] = [line for line in output.splitlines() if line.startswith("proposal rules: ")]
    assert json.loads(shown.removeprefix("proposal rules: ")) == list(refinement.guidance.rules)
    assert "letter_sender" in [v.name for v in variables]
    assert sorted(p.name for p in shots.iterdir()) == [
        "01-copilot-suggestions.png",
        "02-review-document.png",
        "03-review-verdicts.png",
        "04-blind-coding.png",
        "05-agreement.png",
        "06-refinement-proposal.png",
        "07-refinement-accepted.png",
        "08-versions-compared.png",
        "final.png",
    ]
