"""ProjectService servicer: converts messages, calls ProjectService (GetProject: the jobs
domain's ProjectOverview, which reads the project with its variables and processing status)."""

from __future__ import annotations

from coderai.v1 import common_pb2, project_pb2, project_pb2_grpc

from server.core.interceptors import RpcContext, current_user_id
from server.core.pagination import page_size
from server.core.proto import enum_from_proto, enum_to_proto, masked_fields, parse_id, timestamp
from server.documents.models import DocumentStatus
from server.jobs.status import ProcessingStatus, ProjectOverview
from server.projects.models import ExtractionMode, Project, UnitOfObservation
from server.projects.schemas import ProjectValues
from server.projects.service import PROJECT_FIELDS, ProjectService, validate_project
from server.schema.rpc import variable_message


def project_message(project: Project) -> project_pb2.Project:
    return project_pb2.Project(
        id=str(project.id),
        name=project.name,
        description=project.description,
        domain=project.domain,
        language=project.language,
        unit_of_observation=enum_to_proto(project.unit_of_observation, "UNIT_OF_OBSERVATION"),
        entity_identification_pattern=project.entity_identification_pattern,
        llm_config=project_pb2.LlmConfig(
            provider=project.llm_config.get("provider", ""),
            model=project.llm_config.get("model", ""),
        ),
        status=enum_to_proto(project.status, "PROJECT_STATUS"),
        extraction_mode=enum_to_proto(project.extraction_mode, "EXTRACTION_MODE"),
        create_time=timestamp(project.created_at),
        update_time=timestamp(project.updated_at),
    )


def processing_status_message(status: ProcessingStatus) -> project_pb2.ProcessingStatus:
    counts = status.documents_by_status
    return project_pb2.ProcessingStatus(
        document_count=sum(counts.values()),
        documents_uploaded=counts.get(DocumentStatus.UPLOADED, 0),
        documents_parsed=counts.get(DocumentStatus.PARSED, 0),
        documents_ready=counts.get(DocumentStatus.READY, 0),
        documents_failed=counts.get(DocumentStatus.FAILED, 0),
        active_job_id=str(status.active_job_id) if status.active_job_id else "",
        active_job_status=enum_to_proto(status.active_job_status, "JOB_STATUS"),
        extraction_count=status.extraction_count,
        results_stale=bool(status.stale_reason),
        stale_reason=status.stale_reason,
    )


def project_values(message: project_pb2.Project) -> ProjectValues:
    """The researcher-set fields of a Project message, in domain types."""
    return {
        "name": message.name,
        "description": message.description,
        "domain": message.domain,
        "language": message.language,
        "unit_of_observation": enum_from_proto(
            message.unit_of_observation,
            UnitOfObservation,
            common_pb2.UnitOfObservation,
            "UNIT_OF_OBSERVATION",
            "project.unit_of_observation",
        ),
        "entity_identification_pattern": message.entity_identification_pattern,
        "llm_config": {
            "provider": message.llm_config.provider,
            "model": message.llm_config.model,
        },
        "extraction_mode": enum_from_proto(
            message.extraction_mode,
            ExtractionMode,
            common_pb2.ExtractionMode,
            "EXTRACTION_MODE",
            "project.extraction_mode",
        )
        or ExtractionMode.PER_VARIABLE,
    }


class ProjectServicer(project_pb2_grpc.ProjectServiceServicer):
    def __init__(self, service: ProjectService, overview: ProjectOverview) -> None:
        self._service = service
        self._overview = overview

    async def CreateProject(  # noqa: N802 - gRPC method names are the proto's
        self, request: project_pb2.CreateProjectRequest, context: RpcContext
    ) -> project_pb2.CreateProjectResponse:
        data = validate_project(project_values(request.project))
        project = await self._service.create(current_user_id(), data)
        return project_pb2.CreateProjectResponse(project=project_message(project))

    async def GetProject(  # noqa: N802
        self, request: project_pb2.GetProjectRequest, context: RpcContext
    ) -> project_pb2.GetProjectResponse:
        details = await self._overview.get(
            current_user_id(), parse_id(request.project_id, "project_id")
        )
        return project_pb2.GetProjectResponse(
            project=project_message(details.project),
            variables=[variable_message(variable) for variable in details.variables],
            processing_status=processing_status_message(details.processing_status),
        )

    async def ListProjects(  # noqa: N802
        self, request: project_pb2.ListProjectsRequest, context: RpcContext
    ) -> project_pb2.ListProjectsResponse:
        projects, next_token = await self._service.list(
            current_user_id(), page_size(request.page_size), request.page_token
        )
        return project_pb2.ListProjectsResponse(
            projects=[project_message(project) for project in projects],
            next_page_token=next_token,
        )

    async def UpdateProject(  # noqa: N802
        self, request: project_pb2.UpdateProjectRequest, context: RpcContext
    ) -> project_pb2.UpdateProjectResponse:
        project_id = parse_id(request.project.id, "project.id")
        fields = masked_fields(request.update_mask, PROJECT_FIELDS, "project")
        project = await self._service.update(
            current_user_id(), project_id, project_values(request.project), fields
        )
        return project_pb2.UpdateProjectResponse(project=project_message(project))

    async def DeleteProject(  # noqa: N802
        self, request: project_pb2.DeleteProjectRequest, context: RpcContext
    ) -> project_pb2.DeleteProjectResponse:
        await self._service.delete(current_user_id(), parse_id(request.project_id, "project_id"))
        return project_pb2.DeleteProjectResponse()
