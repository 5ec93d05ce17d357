"""Every ORM model, imported in one place so that the metadata is complete (Alembic, tests)."""

from server.auth.models import ApiKey, RefreshToken, User
from server.core.db import Base
from server.core.processing_log import ProcessingLog
from server.documents.models import (
    Document,
    DocumentBlob,
    DocumentChunk,
    UploadPart,
    UploadSession,
)
from server.exports.models import Export, ExportPart
from server.jobs.models import Extraction, ExtractionFeedback, JobDocument, ProcessingJob
from server.llm.ledger import LLMCall
from server.projects.models import Project
from server.quality.models import CodingSample, HumanCode, Refinement, ValueSnapshot
from server.schema.models import Prompt, Variable

__all__ = [
    "ApiKey",
    "Base",
    "CodingSample",
    "Document",
    "DocumentBlob",
    "DocumentChunk",
    "Export",
    "ExportPart",
    "Extraction",
    "ExtractionFeedback",
    "HumanCode",
    "JobDocument",
    "LLMCall",
    "ProcessingJob",
    "ProcessingLog",
    "Project",
    "Prompt",
    "Refinement",
    "RefreshToken",
    "UploadPart",
    "UploadSession",
    "User",
    "ValueSnapshot",
    "Variable",
]
