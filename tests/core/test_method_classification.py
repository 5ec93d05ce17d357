"""Every method of every service is classified as reading or changing data, the way a
read-only API key is let through or refused: a new method fails here until it is added to one
of the two lists below, and its name agrees with the rule (server.core.methods)."""

from __future__ import annotations

import importlib
import pkgutil

import coderai.v1

from server.core.methods import changes_data

# Methods that change nothing: a read-only API key may call them.
READS = {
    "AuthService": {"GetMe", "GetUsage", "ListApiKeys"},
    "ProjectService": {"GetProject", "ListProjects"},
    "SchemaService": {
        "GetVariable",
        "ListVariables",
        "ListPromptVersions",
        "GetPromptVersion",
        "PreviewPrompt",
        "SuggestVariables",
        "SuggestVariablesStream",
        "SuggestVariableDefinition",
    },
    "DocumentService": {"GetDocument", "GetDocumentText", "ListDocuments"},
    "JobService": {
        "EstimateJob",
        "GetJob",
        "ListJobs",
        "ListJobLogs",
        "ListJobDocuments",
        "ListExtractions",
        "ListFeedback",
        "WatchJob",
        "WatchProject",
    },
    "ExportService": {"ListResults", "GetExport", "ListExports", "DownloadExport"},
    "QualityService": {
        "ListCodingSamples",
        "SuggestSampleSize",
        "ListCodes",
        "GetAgreement",
        "GetRefinement",
        "ListRefinements",
        "ComparePromptVersions",
    },
}
# Methods that change data (or credentials): refused to a read-only API key.
WRITES = {
    "AuthService": {
        "Register",
        "Login",
        "Refresh",
        "Logout",
        "DeleteAccount",
        "CreateApiKey",
        "RevokeApiKey",
    },
    "ProjectService": {"CreateProject", "UpdateProject", "DeleteProject"},
    "SchemaService": {
        "CreateVariable",
        "UpdateVariable",
        "DeleteVariable",
        "ReorderVariables",
        "RegeneratePrompts",
        "ActivatePromptVersion",
    },
    "DocumentService": {
        "UploadDocument",
        "UploadDocuments",
        "BeginUpload",
        "AppendUpload",
        "FinishUpload",
        "AbortUpload",
        "DeleteDocument",
        "ReparseDocument",
    },
    "JobService": {"CreateJob", "PauseJob", "ResumeJob", "CancelJob", "CreateFeedback"},
    "ExportService": {"CreateExport"},
    "QualityService": {
        "CreateCodingSample",
        "SubmitCodes",
        "ProposeRefinement",
        "AcceptRefinement",
    },
}


def every_method() -> dict[str, set[str]]:
    """Each service of coderai.v1 with its methods, from the generated descriptors."""
    services: dict[str, set[str]] = {}
    for module in pkgutil.iter_modules(coderai.v1.__path__):
        if not module.name.endswith("_pb2"):
            continue
        descriptor = importlib.import_module(f"coderai.v1.{module.name}").DESCRIPTOR
        for service in descriptor.services_by_name.values():
            services[service.name] = {method.name for method in service.methods}
    return services


def test_every_method_of_every_service_is_classified_once() -> None:
    methods = every_method()
    classified = {
        service: READS.get(service, set()) | WRITES.get(service, set())
        for service in READS.keys() | WRITES.keys()
    }

    assert classified == methods
    assert all(not READS[s] & WRITES[s] for s in READS)


def test_the_rule_lets_a_read_only_key_call_the_reads_and_nothing_else() -> None:
    for service, names in every_method().items():
        for name in names:
            path = f"/coderai.v1.{service}/{name}"
            assert changes_data(path) == (name in WRITES[service]), path
