"""Keeping prompt versions in step with their variables (FR-010, US2.4).

A variable's prompt depends on the variable, its project, the names of the variables it
depends on and the model choice. After a schema or project change every variable's prompt is
generated again, and where what it is generated from (its source fingerprint) differs from
the source of the newest version, a new version is stored and activated and the old one
deactivated, in the caller's transaction. Comparing with the newest version's source, rather
than with the active version's text, keeps a version the researcher chose (an older one made
active again, a refined one) until what its prompt is made from really changes. Regenerating
on request compares the texts, so that improvements of the generator reach existing
variables. The partial unique index on (variable_id) WHERE is_active makes "one active version" the
database's rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from server.llm.factory import ModelChoice
from server.projects.models import Project
from server.schema import repository
from server.schema.models import Prompt, Variable
from server.schema.prompts import GeneratedPrompt, generate_prompt

# Why a version exists (Prompt.reason).
CREATED = "created"
VARIABLE_UPDATED = "variable_updated"
PROJECT_UPDATED = "project_updated"
SCHEMA_UPDATED = "schema_updated"
REGENERATED = "regenerated"
REACTIVATED = "reactivated"
# An accepted refinement changed the variable's instructions or guidance.
REFINED = "refined"


@dataclass(frozen=True)
class SyncedPrompt:
    prompt: Prompt
    created: bool


async def sync_prompts(
    session: AsyncSession,
    project: Project,
    variables: Sequence[Variable],
    model: ModelChoice,
    reason: str,
    only: frozenset[uuid.UUID] | None = None,
) -> dict[uuid.UUID, SyncedPrompt]:
    """Regenerates the prompts of `variables` (all of the project's; `only` limits which are
    regenerated) and stores a new active version where the prompt changed."""
    names = {variable.id: variable.name for variable in variables}
    targets = [v for v in variables if only is None or v.id in only]
    ids = [v.id for v in targets]
    active = await repository.active_prompts(session, ids)
    newest = await repository.newest_prompts(session, ids)
    synced: dict[uuid.UUID, SyncedPrompt] = {}
    for variable in targets:
        generated = _generated(variable, project, model, names)
        current = active.get(variable.id)
        latest = newest.get(variable.id)
        if reason == REGENERATED:
            unchanged = current is not None and as_generated(current) == generated
        else:
            unchanged = (
                latest is not None and latest.source_fingerprint == generated.source_fingerprint
            )
        if current is not None and unchanged:
            synced[variable.id] = SyncedPrompt(current, created=False)
            continue
        prompt = await add_version(session, variable, generated, reason)
        synced[variable.id] = SyncedPrompt(prompt, created=True)
    return synced


async def add_version(
    session: AsyncSession, variable: Variable, generated: GeneratedPrompt, reason: str
) -> Prompt:
    """Stores `generated` as the variable's new active version."""
    version = await repository.next_prompt_version(session, variable.id)
    await repository.deactivate_prompts(session, variable.id)
    return await _store(session, variable, generated, version, reason)


async def add_first_version(
    session: AsyncSession,
    project: Project,
    variable: Variable,
    variables: Sequence[Variable],
    model: ModelChoice,
) -> Prompt:
    """A new variable's prompt, generated and stored as its active version 1: it has no
    version to compare with or to deactivate (sync_prompts would read both). `variables`:
    the project's, the new one among them, for the names it depends on."""
    names = {v.id: v.name for v in variables}
    generated = _generated(variable, project, model, names)
    return await _store(session, variable, generated, 1, CREATED)


def _generated(
    variable: Variable, project: Project, model: ModelChoice, names: dict[uuid.UUID, str]
) -> GeneratedPrompt:
    """The variable's prompt as generated now; names: the project's variables' names."""
    dependencies = [names[d] for d in variable.depends_on if d in names]
    return generate_prompt(variable, project, model, dependency_names=dependencies)


async def _store(
    session: AsyncSession,
    variable: Variable,
    generated: GeneratedPrompt,
    version: int,
    reason: str,
) -> Prompt:
    prompt = Prompt(
        user_id=variable.user_id,
        variable_id=variable.id,
        version=version,
        is_active=True,
        reason=reason,
        system_prompt=generated.system_prompt,
        user_prompt_template=generated.user_prompt_template,
        response_schema=generated.response_schema,
        provider=generated.provider,
        model=generated.model,
        temperature=generated.temperature,
        max_tokens=generated.max_tokens,
        source_fingerprint=generated.source_fingerprint,
    )
    session.add(prompt)
    await session.flush()
    return prompt


def as_generated(prompt: Prompt) -> GeneratedPrompt:
    return GeneratedPrompt(
        system_prompt=prompt.system_prompt,
        user_prompt_template=prompt.user_prompt_template,
        response_schema=prompt.response_schema,
        provider=prompt.provider,
        model=prompt.model,
        temperature=prompt.temperature,
        max_tokens=prompt.max_tokens,
        source_fingerprint=prompt.source_fingerprint,
    )
