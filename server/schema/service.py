"""Schema use cases: a project's variables; each use case owns its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import Database
from server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    invalid_from_pydantic,
)
from server.projects import repository as projects
from server.projects.service import project_not_found
from server.schema import repository
from server.schema.models import Variable
from server.schema.schemas import (
    VariableInput,
    check_column_names,
    check_dependencies,
    dataset_columns,
)

# The fields a researcher sets; order changes only through ReorderVariables.
VARIABLE_FIELDS = frozenset(VariableInput.model_fields)


def variable_not_found(variable_id: uuid.UUID) -> NotFound:
    return NotFound(f"variable {variable_id} not found")


def validate_variable(values: Mapping[str, Any]) -> VariableInput:
    try:
        return VariableInput(**values)
    except ValidationError as error:
        raise invalid_from_pydantic(error, "variable") from None


class SchemaService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, user_id: uuid.UUID, project_id: uuid.UUID, values: Mapping[str, Any]
    ) -> Variable:
        data = validate_variable(values)
        async with self._db.transaction(user_id) as session:
            # Locking the project serialises schema changes: order and names stay consistent.
            if await projects.get_for_update(session, project_id) is None:
                raise project_not_found(project_id)
            await self._check_against_siblings(session, project_id, None, data)
            variable = Variable(
                user_id=user_id,
                project_id=project_id,
                order=await repository.next_order(session, project_id),
                **data.to_columns(),
            )
            session.add(variable)
            await self._flush_unique_name(session, data.name)
        return variable

    async def get(self, user_id: uuid.UUID, variable_id: uuid.UUID) -> Variable:
        async with self._db.transaction(user_id) as session:
            variable = await repository.get(session, variable_id)
        if variable is None:
            raise variable_not_found(variable_id)
        return variable

    async def list(self, user_id: uuid.UUID, project_id: uuid.UUID) -> Sequence[Variable]:
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            return await repository.list_for_project(session, project_id)

    async def update(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        changes: Mapping[str, Any],
        reset: frozenset[str] = frozenset(),
    ) -> Variable:
        """Applies changes, returns the fields in reset to their defaults, keeps the rest."""
        async with self._db.transaction(user_id) as session:
            variable = await self._lock_variable(session, variable_id)
            kept_fields = VARIABLE_FIELDS - changes.keys() - reset
            kept = {name: getattr(variable, name) for name in kept_fields}
            data = validate_variable({**kept, **changes})
            await self._check_against_siblings(session, variable.project_id, variable.id, data)
            for column, value in data.to_columns().items():
                setattr(variable, column, value)
            await self._flush_unique_name(session, data.name)
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

    async def _lock_variable(self, session: AsyncSession, variable_id: uuid.UUID) -> Variable:
        variable = await repository.get(session, variable_id)
        if variable is None:
            raise variable_not_found(variable_id)
        # The project lock serialises schema changes, as in create.
        await projects.get_for_update(session, variable.project_id)
        return variable

    async def _check_against_siblings(
        self,
        session: AsyncSession,
        project_id: uuid.UUID,
        variable_id: uuid.UUID | None,
        data: VariableInput,
    ) -> None:
        """Rules that need the project's other variables: dataset columns that do not clash,
        and dependencies that exist in the project and form no cycle."""
        siblings = await repository.list_for_project(session, project_id)
        if any(
            sibling.id != variable_id and sibling.name.casefold() == data.name.casefold()
            for sibling in siblings
        ):
            raise _name_taken(data.name)
        check_column_names(
            variable_id,
            dataset_columns(data.name, data.if_multiple_values, data.max_values),
            {
                sibling.id: dataset_columns(
                    sibling.name, sibling.if_multiple_values, sibling.max_values
                )
                for sibling in siblings
            },
        )
        graph = {sibling.id: list(sibling.depends_on) for sibling in siblings}
        check_dependencies(variable_id, list(data.depends_on), graph, set(graph))

    async def _flush_unique_name(self, session: AsyncSession, name: str) -> None:
        try:
            await session.flush()
        except IntegrityError as error:
            if "uq_variables_project_id_name_lower" in str(error.orig):
                raise _name_taken(name) from error
            raise


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"the project already has a variable named {name!r}")
