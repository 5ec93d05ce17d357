"""What a project's documents are extracted with: its variables in dependency order with
their active prompts, and its entity prompt (ExtractionPlan); built once per worker process and
project, and reused while nothing it is made of changes (PlanCache)."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.jobs.pipeline import VariableWork
from server.jobs.postprocess import VariableRules
from server.llm.factory import resolve_model
from server.llm.tokens import estimate_message_tokens
from server.projects import repository as projects
from server.projects.models import Project, UnitOfObservation
from server.schema import repository as schema
from server.schema.models import Prompt, Variable
from server.schema.prompt_versions import as_generated
from server.schema.prompts import GeneratedPrompt, entity_prompt

# Plans kept per worker process (one per project recently worked on).
_PLANS_KEPT = 64


@dataclass(frozen=True)
class ExtractionPlan:
    """What every document of a project is extracted with, built once and reused while its
    fingerprint (see plan_fingerprint) stays the same."""

    fingerprint: tuple[Any, ...]
    # In dependency order.
    variables: tuple[VariableWork, ...]
    entity_prompt: GeneratedPrompt | None

    @property
    def prompt_ids(self) -> list[uuid.UUID]:
        return [variable.prompt_id for variable in self.variables]

    def max_tokens(self, text: str) -> tuple[int, int]:
        """Prompt and output tokens a document of this text may use at most, one request per
        variable (a grouped request uses fewer)."""
        prompt_tokens = output_tokens = 0
        for variable in self.variables:
            prompt = variable.prompt
            prompt_tokens += estimate_message_tokens(
                [prompt.system_prompt, prompt.user_prompt_template, text]
            )
            output_tokens += prompt.max_tokens
        return prompt_tokens, output_tokens


class PlanCache:
    """The plans of the projects this worker process recently worked on."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._plans: OrderedDict[uuid.UUID, ExtractionPlan] = OrderedDict()

    async def plan(self, session: AsyncSession, project_id: uuid.UUID) -> ExtractionPlan:
        """The project's plan as of now: the one built before while nothing it is made of
        changed (one small query), else built again."""
        fingerprint = await plan_fingerprint(session, project_id)
        plan = self._plans.get(project_id)
        if plan is not None and plan.fingerprint == fingerprint:
            self._plans.move_to_end(project_id)
            return plan
        plan = await self._build(session, project_id, fingerprint)
        self._plans[project_id] = plan
        if len(self._plans) > _PLANS_KEPT:
            self._plans.popitem(last=False)
        return plan

    async def _build(
        self, session: AsyncSession, project_id: uuid.UUID, fingerprint: tuple[Any, ...]
    ) -> ExtractionPlan:
        project = await projects.get(session, project_id)
        assert project is not None  # the job's foreign key
        variables = dependency_order(await schema.list_for_project(session, project.id))
        prompts = await schema.active_prompts(session, [v.id for v in variables])
        return ExtractionPlan(
            fingerprint=fingerprint,
            variables=tuple(
                VariableWork(
                    id=variable.id,
                    name=variable.name,
                    rules=VariableRules.of(variable),
                    depends_on=tuple(variable.depends_on),
                    prompt_id=prompts[variable.id].id,
                    prompt_version=prompts[variable.id].version,
                    prompt=as_generated(prompts[variable.id]),
                )
                for variable in variables
                if variable.id in prompts
            ),
            entity_prompt=(
                entity_prompt(project, resolve_model(self._settings, project.llm_config))
                if project.unit_of_observation is UnitOfObservation.ENTITY
                else None
            ),
        )


def dependency_order(variables: Sequence[Variable]) -> list[Variable]:
    """Schema order, except that a variable comes after those it depends on."""
    by_id = {variable.id: variable for variable in variables}
    ordered: list[Variable] = []
    placed: set[uuid.UUID] = set()

    def place(variable: Variable, seen: frozenset[uuid.UUID]) -> None:
        if variable.id in placed or variable.id in seen:
            return
        for dependency in variable.depends_on:
            if dependency in by_id:
                place(by_id[dependency], seen | {variable.id})
        placed.add(variable.id)
        ordered.append(variable)

    for variable in variables:
        place(variable, frozenset())
    return ordered


_PLAN_FINGERPRINT = (
    select(Project.updated_at, Variable.id, Variable.updated_at, Variable.order, Prompt.id)
    .select_from(Project)
    .outerjoin(Variable, Variable.project_id == Project.id)
    .outerjoin(Prompt, and_(Prompt.variable_id == Variable.id, Prompt.is_active))
    .where(Project.id == bindparam("project_id"))
    .order_by(Variable.order)
)


async def plan_fingerprint(session: AsyncSession, project_id: uuid.UUID) -> tuple[Any, ...]:
    """What a project's extraction plan is made of, in one small query: the project's and
    every variable's last change, the variables' order and their active prompts. Equal
    fingerprints mean an equal plan, so a worker may reuse the one it built."""
    rows = await session.execute(_PLAN_FINGERPRINT, {"project_id": project_id})
    return tuple(tuple(row) for row in rows.all())
