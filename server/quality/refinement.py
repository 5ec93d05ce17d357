"""Prompt refinement (FR-031, FR-032, FR-048): from a variable's judged units, a proposal for
its instructions and guidance, which the researcher accepts (as proposed or edited) into a new
active prompt version.

The judged units — a reference code and a value of the active prompt version — are split at
random, per variable and reproducibly, into a training part the proposal is made from and a
held-out part it never sees: the improvement a new version claims is measured there
(ComparePromptVersions), so that fitting the examples shown is not mistaken for progress. The
active version's values on the judged units are kept when the proposal is made, because
re-running the sample overwrites them."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.core.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from server.core.quotas import QuotaLimits
from server.jobs import flows
from server.jobs.events import JobEvents
from server.jobs.flows import Stop
from server.jobs.models import JobStatus, JobType, ProcessingJob, StopReason
from server.llm.factory import OFFLINE, resolve_model
from server.projects import repository as projects
from server.quality import repository
from server.quality.assessment import VariableCodings, load_codings
from server.quality.codings import NOT_STATED, Coding, Report, Unit, compare
from server.quality.models import MODEL, Refinement, RefinementMethod, RefinementStatus
from server.schema import repository as schema
from server.schema.guidance import Example, Guidance
from server.schema.models import Variable
from server.schema.prompt_versions import REFINED, sync_prompts
from server.schema.service import existing_variable

DEFAULT_HELD_OUT_SHARE = 0.3
MAX_HELD_OUT_SHARE = 0.5
# Fewer judged units than this cannot be split into a part to learn from and one to measure.
MIN_JUDGED_UNITS = 5
MAX_INSTRUCTIONS_LENGTH = 10_000
# A confusion seen fewer times than this in the training units is noise, not a pattern.
_MIN_PATTERN = 2


@dataclass(frozen=True)
class JudgedUnits:
    """The units a proposal is made from and measured on."""

    base_version: int
    training: list[Unit]
    held_out: list[Unit]


class RefinementQueue(Protocol):
    async def refine_prompt(self, user_id: uuid.UUID, refinement_id: uuid.UUID) -> None:
        """Sends the prompt refinement job's task."""


class RefinementService:
    def __init__(
        self, db: Database, settings: Settings, queue: RefinementQueue, events: JobEvents
    ) -> None:
        self._db = db
        self._settings = settings
        self._queue = queue
        self._events = events
        self._quotas = QuotaLimits.of(settings)

    async def propose(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        method: RefinementMethod,
        reference: str,
        held_out_share: float,
    ) -> Refinement:
        if not 0 < held_out_share <= MAX_HELD_OUT_SHARE:
            raise InvalidArgument.from_violations(
                [FieldViolation("held_out_share", f"must be in (0, {MAX_HELD_OUT_SHARE}]")]
            )
        async with self._db.transaction(user_id) as session:
            variable = await existing_variable(session, variable_id)
            codings = await load_codings(session, variable)
            judged = await _judged_units(session, codings, reference, held_out_share)
            await _keep_values(session, codings, judged)
            refinement = Refinement(
                user_id=user_id,
                project_id=variable.project_id,
                variable_id=variable.id,
                method=method,
                status=RefinementStatus.PENDING,
                reference=reference,
                base_version=judged.base_version,
                instructions=variable.instructions,
                guidance=variable.guidance,
                training_units=[[str(d), key] for d, key in judged.training],
                held_out_units=[[str(d), key] for d, key in judged.held_out],
                base_report=_base_report(codings, reference, judged).as_json(),
            )
            if method is RefinementMethod.RULES:
                proposal, rationale = rules_proposal(codings, reference, judged)
                if not proposal:
                    raise FailedPrecondition(
                        f"the {len(judged.training)} training units agree with {reference!r} "
                        "and carry no note: there is nothing to learn from them"
                    )
                refinement.guidance = proposal.before(Guidance.of(variable.guidance)).as_json()
                refinement.rationale = rationale
                refinement.status = RefinementStatus.READY
                return await repository.add_refinement(session, refinement)
            refinement.job_id = await self._start_job(session, variable, judged)
            await repository.add_refinement(session, refinement)
        await self._queue_agent(user_id, refinement)
        return refinement

    async def _start_job(
        self, session: AsyncSession, variable: Variable, judged: JudgedUnits
    ) -> uuid.UUID:
        """The prompt refinement job the agent's work is watched through."""
        project = await projects.get_for_update(session, variable.project_id)
        assert project is not None  # a variable's project: deleted with it
        model = resolve_model(self._settings, project.llm_config)
        if model.provider == OFFLINE:
            raise FailedPrecondition(
                "the offline baseline cannot propose instructions: choose a language model "
                "for the project, or refine with RULES"
            )
        await flows.room_for_active_job(session, variable.user_id, self._quotas)
        job = ProcessingJob(
            user_id=variable.user_id,
            project_id=project.id,
            job_type=JobType.REFINEMENT,
            status=JobStatus.PENDING,
            document_ids=[],
            documents_total=0,
            llm_provider=model.provider,
            llm_model=model.model,
        )
        await flows.created(
            session,
            job,
            project,
            f"refinement of {variable.name}: the model proposes instructions from "
            f"{len(judged.training)} judged units",
            details={"variable_id": str(variable.id), "base_version": judged.base_version},
        )
        return job.id

    async def _queue_agent(self, user_id: uuid.UUID, refinement: Refinement) -> None:
        """Queues the agent's task; when the queue is down the job fails at once, visibly,
        rather than wait for a task that will not come."""
        try:
            await self._queue.refine_prompt(user_id, refinement.id)
        except (RedisError, OSError) as error:
            message = f"the task queue is unavailable ({error}); propose again"
            async with self._db.transaction(user_id) as session:
                stored = await repository.get_refinement(session, refinement.id, for_update=True)
                assert stored is not None
                assert stored.job_id is not None
                stored.status, stored.error = RefinementStatus.FAILED, message
                await flows.fail(
                    session, self._events, stored.job_id, Stop(StopReason.MODEL_ANSWER, message)
                )
            refinement.status, refinement.error = RefinementStatus.FAILED, message

    async def get(self, user_id: uuid.UUID, refinement_id: uuid.UUID) -> Refinement:
        async with self._db.transaction(user_id) as session:
            return _found(await repository.get_refinement(session, refinement_id), refinement_id)

    async def list(self, user_id: uuid.UUID, variable_id: uuid.UUID) -> Sequence[Refinement]:
        async with self._db.transaction(user_id) as session:
            await existing_variable(session, variable_id)
            return await repository.refinements(session, variable_id)

    async def accept(
        self,
        user_id: uuid.UUID,
        refinement_id: uuid.UUID,
        instructions: str | None,
        guidance: Guidance | None,
    ) -> tuple[Refinement, int]:
        """The variable takes the proposal's (or the researcher's edited) instructions and
        guidance; its prompt gets a new active version, and the previous one is deactivated."""
        if (
            instructions is not None
            and not 1 <= len(instructions.strip()) <= MAX_INSTRUCTIONS_LENGTH
        ):
            raise InvalidArgument.from_violations(
                [FieldViolation("instructions", f"1-{MAX_INSTRUCTIONS_LENGTH} characters")]
            )
        async with self._db.transaction(user_id) as session:
            refinement = _found(
                await repository.get_refinement(session, refinement_id, for_update=True),
                refinement_id,
            )
            if refinement.status is not RefinementStatus.READY:
                raise FailedPrecondition(
                    f"the refinement is {refinement.status.value}: only a READY one is accepted"
                )
            variable = await existing_variable(session, refinement.variable_id)
            # The project lock serialises schema changes, as the Schema service's do.
            project = await projects.get_for_update(session, variable.project_id)
            assert project is not None  # a variable's project: deleted with it
            active = (await schema.active_prompts(session, [variable.id]))[variable.id]
            if active.version != refinement.base_version:
                raise FailedPrecondition(
                    f"the variable's prompt is at version {active.version} now, not the "
                    f"version {refinement.base_version} the proposal was made from: propose again"
                )
            variable.instructions = (instructions or refinement.instructions).strip()
            variable.guidance = (guidance or Guidance.of(refinement.guidance)).bounded().as_json()
            synced = await sync_prompts(
                session,
                project,
                await schema.list_for_project(session, project.id),
                resolve_model(self._settings, project.llm_config),
                REFINED,
                only=frozenset({variable.id}),
            )
            prompt = synced[variable.id]
            if not prompt.created:
                raise FailedPrecondition("the proposal leaves the prompt as it is")
            refinement.status = RefinementStatus.ACCEPTED
            refinement.accepted_version = prompt.prompt.version
            await session.flush()
            return refinement, prompt.prompt.version


def rules_proposal(
    codings: VariableCodings, reference: str, judged: JudgedUnits
) -> tuple[Guidance, str]:
    """The deterministic proposal: the reference's corrections on the training units as
    worked examples, the notes given on them as rules, and each confusion seen at least twice
    as a rule naming it. Nothing from the held-out units enters it."""
    gold = codings.reference(reference)
    model = codings.model[judged.base_version]
    scale = codings.scale
    notes = codings.notes(reference)
    wrong = [u for u in judged.training if not scale.matches(gold[u].value, model[u].value)]
    confusions = Counter((scale.code(model[u].value), scale.code(gold[u].value)) for u in wrong)
    rules = [
        _confusion_rule(said, meant, count)
        for (said, meant), count in confusions.most_common()
        if count >= _MIN_PATTERN
    ]
    rules += [notes[u] for u in judged.training if u in notes]
    examples = [
        Example(
            excerpt=codings.quotes.get((judged.base_version, u), ""),
            value=gold[u].value,
            not_value=model[u].value,
            note=notes.get(u, ""),
        )
        for u in _diverse(wrong, scale.code, model, gold)
        if codings.quotes.get((judged.base_version, u)) or notes.get(u)
    ]
    rationale = (
        f"{len(wrong)} of the {len(judged.training)} training units disagree with "
        f"{reference!r}; {len(judged.held_out)} judged units are held out to measure the new "
        "version."
    )
    return Guidance(tuple(rules), tuple(examples)).bounded(), rationale


def split_units(units: Sequence[Unit], share: float, salt: str) -> tuple[list[Unit], list[Unit]]:
    """(training, held out): each unit is held out when its hash (with the variable's salt)
    falls below `share`, so that a unit keeps its side however many units are judged later —
    one held out in an earlier round never becomes a training unit — with at least one unit
    on each side."""

    def draw(unit: Unit) -> float:
        digest = hashlib.sha256(f"{salt}:{unit[0]}:{unit[1]}".encode()).digest()
        return int.from_bytes(digest[:8]) / 2**64

    ordered = sorted(units, key=draw)
    held = sum(1 for unit in ordered if draw(unit) < share)
    held = min(max(1, held), len(ordered) - 1)
    return sorted(ordered[held:]), sorted(ordered[:held])


async def _judged_units(
    session: AsyncSession, codings: VariableCodings, reference: str, share: float
) -> JudgedUnits:
    variable = codings.variable
    active = (await schema.active_prompts(session, [variable.id]))[variable.id]
    gold = codings.reference(reference)
    model = codings.model.get(active.version, {})
    units = sorted(set(gold) & set(model))
    if len(units) < MIN_JUDGED_UNITS:
        raise FailedPrecondition(
            f"{len(units)} units have both a {reference!r} code and a value of prompt version "
            f"{active.version}; a refinement needs at least {MIN_JUDGED_UNITS} (review or "
            "code more of the sample, or run the sample with the active version)"
        )
    training, held_out = split_units(units, share, salt=str(variable.id))
    return JudgedUnits(active.version, training, held_out)


async def _keep_values(
    session: AsyncSession, codings: VariableCodings, judged: JudgedUnits
) -> None:
    """The base version's values on the judged units, for the comparison after a re-run."""
    model: Coding = codings.model[judged.base_version]
    variable: Variable = codings.variable
    await repository.save_snapshots(
        session,
        [
            {
                "id": uuid.uuid4(),
                "user_id": variable.user_id,
                "project_id": variable.project_id,
                "variable_id": variable.id,
                "document_id": unit[0],
                "entity_key": unit[1],
                "prompt_version": judged.base_version,
                "value": model[unit].value,
                "confidence": model[unit].confidence,
                "llm_model": codings.models.get(judged.base_version),
                "cost_usd": model[unit].cost_usd,
            }
            for unit in (*judged.training, *judged.held_out)
        ],
    )


def _base_report(codings: VariableCodings, reference: str, judged: JudgedUnits) -> Report:
    """The base version against the reference on every judged unit: what the proposal starts
    from, kept with it."""
    return compare(
        codings.scale,
        codings.reference(reference),
        codings.model[judged.base_version],
        reference_name=reference,
        compared_name=MODEL,
        prompt_version=judged.base_version,
        units=sorted([*judged.training, *judged.held_out]),
        llm_model=codings.models.get(judged.base_version, ""),
    )


def _confusion_rule(said: str, meant: str, count: int) -> str:
    if meant == NOT_STATED:
        return (
            f"{count} times a value ({said}) was recorded where the document does not state "
            "one: record a value only when the text states it."
        )
    if said == NOT_STATED:
        return (
            f"{count} times nothing was recorded where the document states the value ({meant}): "
            "read the whole text before answering that it is not stated."
        )
    return (
        f'{count} passages coded "{said}" belong in "{meant}": check the definition of '
        f'"{meant}" before choosing "{said}".'
    )


def _diverse(
    wrong: Sequence[Unit], code: Callable[[Any], str], model: Coding, gold: Coding
) -> list[Unit]:
    """The wrong units, one per kind of mistake first, so that the few examples a prompt can
    hold cover as many confusions as they can."""
    seen: set[tuple[str, str]] = set()
    first: list[Unit] = []
    rest: list[Unit] = []
    for unit in wrong:
        kind = (code(model[unit].value), code(gold[unit].value))
        (rest if kind in seen else first).append(unit)
        seen.add(kind)
    return first + rest


def _found(refinement: Refinement | None, refinement_id: uuid.UUID) -> Refinement:
    if refinement is None:
        raise NotFound(f"refinement {refinement_id} not found")
    return refinement
