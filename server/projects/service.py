"""Project use cases; each owns its transaction.

A project is the root that every other domain builds on (its schema, documents, jobs), so
this domain imports none of them. Where a project's change must reach them in its
transaction, it is handed what to call: whether the project has a running job (the jobs
domain answers) and what follows an update (the schema domain's prompts); server.main and the
worker pass them in."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core import quotas
from server.core.config import Settings
from server.core.db import Database
from server.core.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    invalid_from_pydantic,
)
from server.core.pagination import decode_cursor, page_with_token
from server.core.quotas import Quota, QuotaLimits
from server.llm.factory import available_providers
from server.projects import repository
from server.projects.models import Project
from server.projects.schemas import ProjectInput, ProjectValues

# The fields a researcher sets; everything else is the server's.
PROJECT_FIELDS = frozenset(ProjectInput.model_fields)

# Whether the project has a running job, asked in the caller's transaction before a change a
# running job must not meet (deleting the project or a document, parsing a document again).
HasRunningJob = Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]
# What follows a project's update in its transaction (the prompts built from its context).
FollowUpdate = Callable[[AsyncSession, Project], Awaitable[None]]


def project_not_found(project_id: uuid.UUID) -> NotFound:
    # Identical for a missing project and another tenant's: ids reveal nothing.
    return NotFound(f"project {project_id} not found")


def validate_project(values: Mapping[str, object]) -> ProjectInput:
    try:
        return ProjectInput(**values)
    except ValidationError as error:
        raise invalid_from_pydantic(error, "project") from None


class ProjectService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        has_running_job: HasRunningJob,
        follow_update: FollowUpdate,
    ) -> None:
        self._db = db
        self._settings = settings
        self._quotas = QuotaLimits.of(settings)
        self._has_running_job = has_running_job
        self._follow_update = follow_update

    async def create(self, user_id: uuid.UUID, data: ProjectInput) -> Project:
        """`data` is validated on its own (validate_project); here its model provider is
        checked against the providers this server has."""
        self._check_provider(data)
        async with self._db.transaction(user_id) as session:
            await quotas.room_for(
                session, user_id, Quota.PROJECTS, self._quotas.projects, repository.count_for_user
            )
            project = Project(user_id=user_id, **data.to_columns())
            session.add(project)
            await session.flush()
        return project

    async def list(
        self, user_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[Sequence[Project], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            rows = await repository.list_page(session, page_size + 1, after)
        return page_with_token(rows, page_size)

    async def update(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        values: ProjectValues,
        fields: frozenset[str],
    ) -> Project:
        """Takes the named fields (an update mask's) from `values`; keeps the others."""
        async with self._db.transaction(user_id) as session:
            project = await repository.get_for_update(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            current = {name: getattr(project, name) for name in PROJECT_FIELDS}
            changes = {name: value for name, value in values.items() if name in fields}
            data = self._validate({**current, **changes})
            for name, value in data.to_columns().items():
                setattr(project, name, value)
            await session.flush()
            await self._follow_update(session, project)
        return project

    def _validate(self, values: Mapping[str, object]) -> ProjectInput:
        data = validate_project(values)
        self._check_provider(data)
        return data

    def _check_provider(self, data: ProjectInput) -> None:
        provider = data.llm_config.provider
        allowed = available_providers(self._settings)
        if provider and provider not in allowed:
            description = f"must be one of {', '.join(sorted(allowed))} on this server"
            raise InvalidArgument(
                f"project.llm_config.provider {description}",
                [FieldViolation("project.llm_config.provider", description)],
            )

    async def delete(self, user_id: uuid.UUID, project_id: uuid.UUID) -> None:
        async with self._db.transaction(user_id) as session:
            project = await repository.get_for_update(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            if await self._has_running_job(session, project_id):
                raise FailedPrecondition("the project has a running job; cancel it first")
            await session.delete(project)
