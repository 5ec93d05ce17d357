"""Schema use cases: a project's variables; each use case owns its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    invalid_from_pydantic,
)
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.llm.factory import resolve_model
from server.llm.pricing import cost_usd
from server.llm.tokens import count_message_tokens
from server.projects import repository as projects
from server.projects.models import Project
from server.projects.service import project_not_found
from server.schema import repository
from server.schema.models import Prompt, Variable
from server.schema.prompt_versions import (
    PROJECT_UPDATED,
    REGENERATED,
    SCHEMA_UPDATED,
    VARIABLE_UPDATED,
    SyncedPrompt,
    add_first_version,
    sync_prompts,
)
from server.schema.prompts import CallContext, RenderedMessages, render_messages
from server.schema.schemas import (
    VariableInput,
    VariableValues,
    check_column_names,
    check_dependencies,
    dataset_columns,
)

# The fields a researcher sets; order changes only through ReorderVariables.
VARIABLE_FIELDS = frozenset(VariableInput.model_fields)


def variable_not_found(variable_id: uuid.UUID) -> NotFound:
    return NotFound(f"variable {variable_id} not found")


async def existing_variable(session: AsyncSession, variable_id: uuid.UUID) -> Variable:
    """The variable; NOT_FOUND when it does not exist or is another tenant's."""
    variable = await repository.get(session, variable_id)
    if variable is None:
        raise variable_not_found(variable_id)
    return variable


def validate_variable(values: Mapping[str, object]) -> VariableInput:
    try:
        return VariableInput(**values)
    except ValidationError as error:
        raise invalid_from_pydantic(error, "variable") from None


@dataclass(frozen=True)
class PromptPreview:
    prompt: Prompt
    messages: RenderedMessages
    estimated_prompt_tokens: int
    estimated_max_cost_usd: float | None


@dataclass(frozen=True)
class PreviewSource:
    """The text a preview renders: a document of the project, or text given directly."""

    document_id: uuid.UUID | None = None
    document_text: str | None = None


class SchemaService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def create(
        self, user_id: uuid.UUID, project_id: uuid.UUID, data: VariableInput
    ) -> Variable:
        """A new variable at the end of the project's schema, with its prompt as version 1.
        `data` is validated on its own (validate_variable); here it is checked against the
        project's other variables (names, dependencies)."""
        async with self._db.transaction(user_id) as session:
            # Locking the project serialises schema changes: order and names stay consistent.
            project = await projects.get_for_update(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            siblings = await repository.list_for_project(session, project_id)
            _check_against_siblings(siblings, None, data)
            variable = Variable(
                user_id=user_id,
                project_id=project_id,
                order=max((sibling.order for sibling in siblings), default=-1) + 1,
                **data.to_columns(),
            )
            session.add(variable)
            await self._flush_unique_name(session, data.name)
            model = resolve_model(self._settings, project.llm_config)
            await add_first_version(session, project, variable, [*siblings, variable], model)
        return variable

    async def get(self, user_id: uuid.UUID, variable_id: uuid.UUID) -> Variable:
        async with self._db.transaction(user_id) as session:
            return await existing_variable(session, variable_id)

    async def list(self, user_id: uuid.UUID, project_id: uuid.UUID) -> Sequence[Variable]:
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            return await repository.list_for_project(session, project_id)

    async def update(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        values: VariableValues,
        fields: frozenset[str],
    ) -> Variable:
        """Takes the named fields (an update mask's) from `values`, returns those named but
        absent from them to their defaults, keeps the others."""
        changes = {name: value for name, value in values.items() if name in fields}
        async with self._db.transaction(user_id) as session:
            variable = await self._lock_variable(session, variable_id)
            kept_fields = VARIABLE_FIELDS - fields
            kept = {name: getattr(variable, name) for name in kept_fields}
            data = validate_variable({**kept, **changes})
            siblings = await repository.list_for_project(session, variable.project_id)
            _check_against_siblings(siblings, variable.id, data)
            for column, value in data.to_columns().items():
                setattr(variable, column, value)
            await self._flush_unique_name(session, data.name)
            project = await projects.get(session, variable.project_id)
            assert project is not None  # locked by _lock_variable
            # The siblings as read above, this variable among them as it is now.
            await self._sync_prompts(
                session, project, siblings, VARIABLE_UPDATED, only={variable.id}
            )
            # Variables that depend on this one name it in their prompts.
            others = {sibling.id for sibling in siblings} - {variable.id}
            await self._sync_prompts(session, project, siblings, SCHEMA_UPDATED, only=others)
        return variable

    async def delete(self, user_id: uuid.UUID, variable_id: uuid.UUID) -> None:
        async with self._db.transaction(user_id) as session:
            variable = await self._lock_variable(session, variable_id)
            dependants = await repository.dependants(session, variable_id)
            if dependants:
                names = ", ".join(sorted(d.name for d in dependants))
                raise FailedPrecondition(f"variables {names} depend on {variable.name}")
            await session.delete(variable)
            await session.flush()
            # Close the gap so that orders stay 0..n-1.
            await session.execute(
                update(Variable)
                .where(Variable.project_id == variable.project_id, Variable.order > variable.order)
                .values(order=Variable.order - 1)
            )

    async def reorder(
        self, user_id: uuid.UUID, project_id: uuid.UUID, variable_ids: Sequence[uuid.UUID]
    ) -> Sequence[Variable]:
        async with self._db.transaction(user_id) as session:
            if await projects.get_for_update(session, project_id) is None:
                raise project_not_found(project_id)
            current = await repository.list_for_project(session, project_id)
            by_id = {variable.id: variable for variable in current}
            if len(variable_ids) != len(set(variable_ids)) or set(variable_ids) != set(by_id):
                raise InvalidArgument(
                    "variable_ids must list every variable of the project exactly once",
                    [
                        FieldViolation(
                            "variable_ids", "must be a permutation of the project's variable ids"
                        )
                    ],
                )
            for position, variable_id in enumerate(variable_ids):
                by_id[variable_id].order = position
            await session.flush()
            # The flush expired the server-set update times; reading the rows again loads them
            # while the session is open (the servicer converts them after it has closed).
            return await repository.list_for_project(session, project_id)

    # --- prompt versions -------------------------------------------------------------------

    async def list_prompt_versions(
        self, user_id: uuid.UUID, variable_id: uuid.UUID
    ) -> Sequence[Prompt]:
        async with self._db.transaction(user_id) as session:
            if await repository.get(session, variable_id) is None:
                raise variable_not_found(variable_id)
            return await repository.prompt_versions(session, variable_id)

    async def get_prompt_version(
        self, user_id: uuid.UUID, variable_id: uuid.UUID, version: int | None
    ) -> Prompt:
        """A version of the variable's prompt; the active one when version is None."""
        async with self._db.transaction(user_id) as session:
            return await self._prompt_version(session, variable_id, version)

    async def regenerate_prompts(
        self, user_id: uuid.UUID, project_id: uuid.UUID, variable_ids: Sequence[uuid.UUID]
    ) -> Sequence[SyncedPrompt]:
        """New versions for the variables (all of the project's when none are named) whose
        generated prompt differs from the active one; the result is in schema order."""
        async with self._db.transaction(user_id) as session:
            project = await projects.get_for_update(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            variables = await repository.list_for_project(session, project_id)
            known = {variable.id for variable in variables}
            unknown = [str(v) for v in variable_ids if v not in known]
            if unknown:
                raise NotFound(f"variables {', '.join(unknown)} not found in project {project_id}")
            synced = await self._sync_prompts(
                session, project, variables, REGENERATED, only=set(variable_ids) or None
            )
            return [synced[v.id] for v in variables if v.id in synced]

    async def activate_prompt_version(
        self, user_id: uuid.UUID, variable_id: uuid.UUID, version: int
    ) -> Prompt:
        async with self._db.transaction(user_id) as session:
            await self._lock_variable(session, variable_id)
            prompt = await self._prompt_version(session, variable_id, version)
            if not prompt.is_active:
                await repository.deactivate_prompts(session, variable_id)
                # The partial unique index sees the old version deactivated first.
                await session.flush()
                prompt.is_active = True
                await session.flush()
            return prompt

    async def preview_prompt(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        version: int | None,
        source: PreviewSource,
        context: CallContext,
    ) -> PromptPreview:
        async with self._db.transaction(user_id) as session:
            prompt = await self._prompt_version(session, variable_id, version)
            text = source.document_text
            if source.document_id is not None:
                variable = await repository.get(session, variable_id)
                assert variable is not None  # the prompt was found through it
                text = await self._document_text(session, variable.project_id, source.document_id)
        messages = render_messages(
            prompt.system_prompt, prompt.user_prompt_template, text or "", context
        )
        prompt_tokens = count_message_tokens([messages.system, messages.user])
        return PromptPreview(
            prompt=prompt,
            messages=messages,
            estimated_prompt_tokens=prompt_tokens,
            estimated_max_cost_usd=cost_usd(
                self._settings.llm_prices, prompt.model, prompt_tokens, prompt.max_tokens
            ),
        )

    async def _prompt_version(
        self, session: AsyncSession, variable_id: uuid.UUID, version: int | None
    ) -> Prompt:
        if await repository.get(session, variable_id) is None:
            raise variable_not_found(variable_id)
        if version is None:
            active = await repository.active_prompts(session, [variable_id])
            prompt = active.get(variable_id)
        else:
            prompt = await repository.prompt_version(session, variable_id, version)
        if prompt is None:
            raise NotFound(f"variable {variable_id} has no prompt version {version or 'active'}")
        return prompt

    async def _document_text(
        self, session: AsyncSession, project_id: uuid.UUID, document_id: uuid.UUID
    ) -> str:
        document = await documents.get(session, document_id)
        if document is None or document.project_id != project_id:
            raise NotFound(f"document {document_id} not found in the variable's project")
        if document.status not in (DocumentStatus.PARSED, DocumentStatus.READY):
            raise FailedPrecondition(
                f"document {document_id} has no text yet (status {document.status.value})"
            )
        return document.text_content or ""

    async def _sync_prompts(
        self,
        session: AsyncSession,
        project: Project,
        variables: Sequence[Variable],
        reason: str,
        only: set[uuid.UUID] | None = None,
    ) -> dict[uuid.UUID, SyncedPrompt]:
        """sync_prompts for the project's variables (all of them, as read in this
        transaction: each prompt names the others)."""
        return await sync_prompts(
            session,
            project,
            variables,
            resolve_model(self._settings, project.llm_config),
            reason,
            only=frozenset(only) if only is not None else None,
        )

    async def follow_project_update(self, session: AsyncSession, project: Project) -> None:
        """In the transaction that updated the project: its context and model are part of
        every variable's prompt (ProjectService's follow_update)."""
        variables = await repository.list_for_project(session, project.id)
        await self._sync_prompts(session, project, variables, PROJECT_UPDATED)

    async def _lock_variable(self, session: AsyncSession, variable_id: uuid.UUID) -> Variable:
        variable = await existing_variable(session, variable_id)
        # The project lock serialises schema changes, as in create.
        await projects.get_for_update(session, variable.project_id)
        return variable

    async def _flush_unique_name(self, session: AsyncSession, name: str) -> None:
        try:
            await session.flush()
        except IntegrityError as error:
            if "uq_variables_project_id_name_lower" in str(error.orig):
                raise _name_taken(name) from error
            raise


def _check_against_siblings(
    siblings: Sequence[Variable], variable_id: uuid.UUID | None, data: VariableInput
) -> None:
    """Rules that need the project's variables (`siblings`, the changed one among them if it
    exists): dataset columns that do not clash, and dependencies that exist in the project
    and form no cycle."""
    if any(
        sibling.id != variable_id and sibling.name.casefold() == data.name.casefold()
        for sibling in siblings
    ):
        raise _name_taken(data.name)
    columns = {
        sibling.id: dataset_columns(sibling.name, sibling.if_multiple_values, sibling.max_values)
        for sibling in siblings
    }
    check_column_names(
        variable_id, dataset_columns(data.name, data.if_multiple_values, data.max_values), columns
    )
    graph = {sibling.id: list(sibling.depends_on) for sibling in siblings}
    check_dependencies(variable_id, list(data.depends_on), graph, set(graph))


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"the project already has a variable named {name!r}")
