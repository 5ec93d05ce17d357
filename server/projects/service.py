"""Project use cases; each owns its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

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
from server.llm.factory import available_providers, resolve_model
from server.projects import repository
from server.projects.models import Project
from server.projects.repository import ProcessingStatus
from server.projects.schemas import ProjectInput
from server.schema import repository as variables
from server.schema.models import Variable
from server.schema.prompt_versions import PROJECT_UPDATED, sync_prompts

# The fields a researcher sets; everything else is the server's.
PROJECT_FIELDS = frozenset(ProjectInput.model_fields)


@dataclass(frozen=True)
class ProjectDetails:
    project: Project
    variables: Sequence[Variable]
    processing_status: ProcessingStatus


def project_not_found(project_id: uuid.UUID) -> NotFound:
    # Identical for a missing project and another tenant's: ids reveal nothing.
    return NotFound(f"project {project_id} not found")


def validate_project(values: Mapping[str, Any]) -> ProjectInput:
    try:
        return ProjectInput(**values)
    except ValidationError as error:
        raise invalid_from_pydantic(error, "project") from None


class ProjectService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._quotas = QuotaLimits.of(settings)

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

    async def get(self, user_id: uuid.UUID, project_id: uuid.UUID) -> ProjectDetails:
        async with self._db.transaction(user_id) as session:
            project = await repository.get(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            return ProjectDetails(
                project=project,
                variables=await variables.list_for_project(session, project_id),
                processing_status=await repository.processing_status(session, project_id),
            )

    async def list(
        self, user_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[Sequence[Project], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            rows = await repository.list_page(session, page_size + 1, after)
        return page_with_token(rows, page_size)

    async def update(
        self, user_id: uuid.UUID, project_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> Project:
        async with self._db.transaction(user_id) as session:
            project = await repository.get_for_update(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            current = {name: getattr(project, name) for name in PROJECT_FIELDS}
            data = self._validate({**current, **changes})
            for name, value in data.to_columns().items():
                setattr(project, name, value)
            await session.flush()
            # The project's context and model are part of every variable's prompt.
            await sync_prompts(
                session,
                project,
                await variables.list_for_project(session, project_id),
                resolve_model(self._settings, project.llm_config),
                PROJECT_UPDATED,
            )
        return project

    def _validate(self, values: Mapping[str, Any]) -> ProjectInput:
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
            if await repository.has_running_job(session, project_id):
                raise FailedPrecondition("the project has a running job; cancel it first")
            await session.delete(project)
