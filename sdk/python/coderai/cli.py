"""The researcher's commands of `coderai`, on coderai.Client: the workflow from a shell.

    coderai register --email ada@example.org          # or: coderai login --email ...
    coderai project create "Speeches" --domain "parliamentary debates"
    coderai codebook apply codebook.yaml
    coderai upload speeches/
    coderai run --sample 10                            # then: coderai run --full
    coderai results --output dataset.csv
    coderai sample reliability --size 50               # blind coding: code them yourself,
    coderai codes import ada.csv --coder Ada --sample reliability   # or import a coder's table
    coderai agreement stance --reference Ada
    coderai refine stance --reference Ada --accept     # then: coderai run --sample 10 again
    coderai export xlsx --output speeches.xlsx

The server is CODERAI_SERVER (or --server; default 127.0.0.1:50051). Signing in keeps a
refresh token, never the password, in the user's config folder (mode 0600) with the server's
address and the project in use; CODERAI_API_KEY signs every call with an API key instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import platformdirs

from coderai.client import Client, CoderAIError
from coderai.money import dollars
from coderai.v1 import common_pb2, job_pb2, quality_pb2

# How a project asks the model: a request per variable, or a document's variables in one.
MODES = ("per-variable", "grouped")
MODE_HELP = (
    "per-variable: a request per variable, the most accurate (default); grouped: a "
    "document's variables in one request, several times cheaper, a little less accurate"
)

COMMANDS = (
    "register",
    "login",
    "logout",
    "project",
    "codebook",
    "variable",
    "upload",
    "documents",
    "estimate",
    "run",
    "watch",
    "pause",
    "resume",
    "cancel",
    "jobs",
    "results",
    "sample",
    "codes",
    "agreement",
    "refine",
    "export",
)
DEFAULT_SERVER = "127.0.0.1:50051"


@dataclass
class Session:
    """What is kept between commands (credentials.json)."""

    server: str = DEFAULT_SERVER
    email: str = ""
    refresh_token: str = ""
    project: str = ""
    path: Path = field(default_factory=lambda: Session.location())

    @staticmethod
    def location() -> Path:
        return Path(platformdirs.user_config_dir("coderai")) / "credentials.json"

    @classmethod
    def load(cls) -> Session:
        path = cls.location()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(path=path)
        return cls(
            server=str(data.get("server") or DEFAULT_SERVER),
            email=str(data.get("email") or ""),
            refresh_token=str(data.get("refresh_token") or ""),
            project=str(data.get("project") or ""),
            path=path,
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {k: getattr(self, k) for k in ("server", "email", "refresh_token", "project")}
        # Written private from the start: the refresh token signs in as the researcher.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(data, out, indent=2)
        self.path.chmod(0o600)


def add_commands(commands: Any) -> None:
    """The researcher's subcommands, on the `coderai` parser's subparsers."""

    def command(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
        parser.add_argument(
            "--server",
            help=f"host:port (default: CODERAI_SERVER, the one "
            f"signed in to, else {DEFAULT_SERVER})",
        )
        return parser

    for name, text in (("register", "create an account and sign in"), ("login", "sign in")):
        parser = command(name, text)
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", help="default: CODERAI_PASSWORD, else asked for")
        if name == "register":
            parser.add_argument("--display-name", default="")
    command("logout", "sign out and forget the kept sign-in")

    project = command("project", "create, list, show or choose the project to work in")
    actions = project.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a project and work in it")
    create.add_argument("name")
    create.add_argument("--domain", default="")
    create.add_argument("--language", default="en")
    create.add_argument("--unit", default="document", choices=["document", "entity"])
    create.add_argument("--description", default="")
    create.add_argument("--entity-pattern", default="", help="what an entity is (unit entity)")
    create.add_argument("--mode", default="per-variable", choices=MODES, help=MODE_HELP)
    actions.add_parser("list", help="your projects (* marks the one in use)")
    use = actions.add_parser("use", help="work in this project (its id or name)")
    use.add_argument("project")
    actions.add_parser("show", help="the project in use")
    mode = actions.add_parser("mode", help="how the project in use asks the model")
    mode.add_argument("mode", choices=MODES, help=MODE_HELP)

    codebook = command("codebook", "define the project's variables from a YAML codebook")
    codebook.add_argument("action", choices=["apply"])
    codebook.add_argument("file", type=Path)
    variable = command("variable", "the project's variables")
    variable.add_argument("action", choices=["list"])

    upload = command("upload", "upload files and folders, and wait until they are parsed")
    upload.add_argument("paths", nargs="+", type=Path)
    command("documents", "the project's documents and their status")

    estimate = command("estimate", "what a job would cost")
    estimate.add_argument("--sample", type=int, help="documents drawn for a sample job")
    run = command("run", "start a job and watch it to its end")
    size = run.add_mutually_exclusive_group(required=True)
    size.add_argument("--sample", type=int, help="a sample job of N documents")
    size.add_argument("--full", action="store_true", help="a job of every READY document")
    run.add_argument("--retry-failed", action="store_true")
    run.add_argument(
        "--cost-budget",
        type=Decimal,
        metavar="USD",
        help="pause the job before it would spend more than this many US dollars",
    )
    run.add_argument(
        "--token-budget",
        type=int,
        metavar="TOKENS",
        help="pause the job before it would use more than this many tokens",
    )
    run.add_argument("--detach", action="store_true", help="start it, do not watch")
    for name, text in (
        ("watch", "watch a job live to its end"),
        ("pause", "pause a job"),
        ("resume", "resume a paused job"),
        ("cancel", "cancel a job"),
    ):
        command(name, text).add_argument("job", help="the job's id")
    command("jobs", "the project's jobs, newest first")
    results = command("results", "the dataset: a table on screen or a CSV file")
    results.add_argument("--output", "-o", type=Path)
    sample = command("sample", "draw documents at random for blind coding")
    sample.add_argument("name")
    sample.add_argument("--size", type=int, required=True)
    codes = command("codes", "import a coder's codes from a CSV table")
    codes.add_argument("action", choices=["import"])
    codes.add_argument(
        "file", type=Path, help="a row per document: filename, then a column per variable"
    )
    codes.add_argument("--coder", required=True)
    codes.add_argument("--sample", dest="sample_name", help="the coding sample coded")
    agreement = command("agreement", "how well a variable is coded, with 95%% intervals")
    agreement.add_argument("variable")
    agreement.add_argument("--reference", default="review", help="review (default) or a coder")
    refine = command("refine", "propose a better prompt for a variable from its judged values")
    refine.add_argument("variable")
    refine.add_argument("--reference", default="review", help="review (default) or a coder")
    refine.add_argument("--agent", action="store_true", help="the model proposes instructions")
    refine.add_argument("--accept", action="store_true", help="make it the active version")
    export = command("export", "download the dataset in a format")
    export.add_argument(
        "format",
        choices=["csv_wide", "csv_long", "xlsx", "codebook", "stata", "spss", "data_package"],
    )
    export.add_argument("--output", "-o", type=Path, required=True)
    export.add_argument("--metadata", action="store_true", help="confidence, source, prompt")
    for parser in (
        project,
        codebook,
        variable,
        upload,
        estimate,
        run,
        results,
        sample,
        codes,
        agreement,
        refine,
        export,
    ):
        parser.add_argument("--project", dest="project_option", help="id or name (default: in use)")


def main(args: argparse.Namespace) -> int:
    """Runs a researcher's command; the exit status (1: the server refused, 2: usage)."""
    session = Session.load()
    if args.server:
        session.server = args.server
    elif os.environ.get("CODERAI_SERVER"):
        session.server = os.environ["CODERAI_SERVER"]
    try:
        with _client(session, args) as client:
            return COMMAND_HANDLERS[args.command](client, session, args)
    except CoderAIError as error:
        print(f"coderai: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


@contextlib.contextmanager
def _client(session: Session, args: argparse.Namespace) -> Iterator[Client]:
    api_key = os.environ.get("CODERAI_API_KEY")
    client = Client(session.server, api_key=api_key, progress=sys.stderr.isatty())
    try:
        if args.command not in ("register", "login") and api_key is None:
            if not session.refresh_token:
                raise CoderAIError(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "not signed in: run `coderai login --email ...` first",
                )
            client.resume_session(session.refresh_token)
        yield client
    finally:
        # The refresh token is single-use: keep the one the client holds now.
        if client.refresh_token and args.command != "logout":
            session.refresh_token = client.refresh_token
            session.save()
        client.close()


def _password(args: argparse.Namespace) -> str:
    return args.password or os.environ.get("CODERAI_PASSWORD") or getpass.getpass()


def _sign_in(client: Client, session: Session, args: argparse.Namespace) -> int:
    if args.command == "register":
        user = client.register(args.email, _password(args), args.display_name)
    else:
        user = client.login(args.email, _password(args))
    session.email = user.email
    print(f"signed in to {session.server} as {user.email}")
    return 0


def _logout(client: Client, session: Session, args: argparse.Namespace) -> int:
    client.logout()
    session.refresh_token = ""
    session.save()
    print("signed out")
    return 0


def _project_id(client: Client, session: Session, args: argparse.Namespace) -> str:
    chosen = getattr(args, "project_option", None) or session.project
    if not chosen:
        raise CoderAIError(
            grpc.StatusCode.FAILED_PRECONDITION,
            "no project in use: `coderai project create NAME` or `coderai project use ID`",
        )
    return client.project(chosen).id


def _project(client: Client, session: Session, args: argparse.Namespace) -> int:
    if args.action == "create":
        created = client.create_project(
            args.name,
            domain=args.domain,
            language=args.language,
            unit=args.unit,
            description=args.description,
            entity_identification_pattern=args.entity_pattern,
            extraction_mode=args.mode,
        )
        session.project = created.id
        print(f"created project {created.name} ({created.id}); working in it")
    elif args.action == "use":
        chosen = client.project(args.project)
        session.project = chosen.id
        print(f"working in {chosen.name} ({chosen.id})")
    elif args.action == "mode":
        changed = client.update_project(
            _project_id(client, session, args), extraction_mode=args.mode
        )
        print(f"{changed.name} asks the model {_mode_words(changed.extraction_mode)}")
    elif args.action == "list":
        for project in client.list_projects():
            mark = "*" if project.id == session.project else " "
            print(f"{mark} {project.id}  {project.name}")
    else:
        shown = client.project(_project_id(client, session, args))
        unit = common_pb2.UnitOfObservation.Name(shown.unit_of_observation)
        print(
            f"{shown.name} ({shown.id})\n  domain: {shown.domain}\n  language: "
            f"{shown.language}\n  unit: {unit.removeprefix('UNIT_OF_OBSERVATION_').lower()}"
            f"\n  mode: {_mode_words(shown.extraction_mode)}"
        )
    return 0


def _codebook(client: Client, session: Session, args: argparse.Namespace) -> int:
    changes = client.apply_codebook(_project_id(client, session, args), args.file)
    for what in ("created", "updated", "unchanged"):
        names = getattr(changes, what)
        if names:
            print(f"{what}: {', '.join(names)}")
    return 0


def _variables(client: Client, session: Session, args: argparse.Namespace) -> int:
    for variable in client.list_variables(_project_id(client, session, args)):
        kind = common_pb2.VariableType.Name(variable.type).removeprefix("VARIABLE_TYPE_").lower()
        print(f"{variable.name:<24} {kind:<9} {variable.instructions[:60]}")
    return 0


def _upload(client: Client, session: Session, args: argparse.Namespace) -> int:
    outcomes = client.upload(_project_id(client, session, args), *args.paths)
    failed = [outcome for outcome in outcomes if outcome.error]
    for outcome in outcomes:
        state = "failed: " + outcome.error if outcome.error else "ready"
        if outcome.duplicate:
            state += " (already uploaded)"
        print(f"{outcome.path}: {state}")
    print(f"{len(outcomes) - len(failed)} ready, {len(failed)} failed")
    return 1 if failed and len(failed) == len(outcomes) else 0


def _documents(client: Client, session: Session, args: argparse.Namespace) -> int:
    for document in client.list_documents(_project_id(client, session, args)):
        status = common_pb2.DocumentStatus.Name(document.status).removeprefix("DOCUMENT_STATUS_")
        error = f"  {document.error_message}" if document.error_message else ""
        print(f"{status:<10} {document.filename}{error}")
    return 0


def _estimate(client: Client, session: Session, args: argparse.Namespace) -> int:
    estimate = client.estimate(_project_id(client, session, args), sample=args.sample)
    print(
        f"{estimate.documents} documents ({estimate.documents_already_done} already done) x "
        f"{estimate.variables} variables: {estimate.llm_calls} model calls, "
        f"{estimate.prompt_tokens:,} prompt tokens, {_at_most(estimate, 'max_cost')}; "
        f"model {estimate.llm_provider}/{estimate.llm_model}, "
        f"{_mode_words(estimate.extraction_mode)}"
    )
    # Both modes' cost, so that the choice between them is made knowingly.
    for mode, figures in (
        (common_pb2.EXTRACTION_MODE_PER_VARIABLE, estimate.per_variable),
        (common_pb2.EXTRACTION_MODE_GROUPED, estimate.grouped),
    ):
        if not figures.llm_calls:
            continue
        chosen = " (this project)" if mode == _effective_mode(estimate.extraction_mode) else ""
        print(
            f"  {_mode_words(mode)}{chosen}: {figures.llm_calls} calls, "
            f"{figures.prompt_tokens:,} prompt tokens ({figures.cacheable_prompt_tokens:,} "
            f"cacheable), {_at_most(figures, 'max_cost')}, "
            f"{_at_most(figures, 'max_cost_cached')} with a prompt cache"
        )
    for warning in estimate.warnings:
        print(f"warning: {warning}")
    return 0


def _at_most(figures: Any, field: str) -> str:
    """An estimate's upper bound in US dollars, or why there is none."""
    if figures.HasField(field):
        return f"at most ${dollars(getattr(figures, field)):.4f}"
    return "cost unknown (the model has no price)"


def _effective_mode(mode: int) -> int:
    """The mode a project or job extracts in: unset is per variable."""
    return mode or common_pb2.EXTRACTION_MODE_PER_VARIABLE


def _mode_words(mode: int) -> str:
    """How a project or job asks the model, in a researcher's words."""
    if _effective_mode(mode) == common_pb2.EXTRACTION_MODE_GROUPED:
        return "all variables in one request"
    return "one request per variable"


def _run(client: Client, session: Session, args: argparse.Namespace) -> int:
    project_id = _project_id(client, session, args)
    job = client.run(
        project_id,
        sample=None if args.full else args.sample,
        retry_failed=args.retry_failed,
        cost_budget=args.cost_budget,
        token_budget=args.token_budget,
        watch=not args.detach,
    )
    return _report(client, job)


def _watch(client: Client, session: Session, args: argparse.Namespace) -> int:
    return _report(client, client.watch(args.job))


def _report(client: Client, job: job_pb2.ProcessingJob) -> int:
    status = common_pb2.JobStatus.Name(job.status).removeprefix("JOB_STATUS_")
    print(
        f"job {job.id}: {status}, {job.documents_processed} of {job.documents_total} documents "
        f"done, {job.documents_failed} failed, {job.tokens_used:,} tokens, ${dollars(job.cost):.4f}"
        + (f" ({job.status_reason})" if job.status_reason else "")
    )
    if job.status in (common_pb2.JOB_STATUS_PENDING, common_pb2.JOB_STATUS_RUNNING):
        print(f"watch it with: coderai watch {job.id}")
        return 0
    if job.status == common_pb2.JOB_STATUS_PAUSED:
        print(f"resume it with: coderai resume {job.id} (or end it: coderai cancel {job.id})")
    for document in client.job_documents(job.id):
        if document.status == job_pb2.JOB_DOCUMENT_STATUS_FAILED:
            print(f"  failed: {document.filename}: {document.error}")
    return 0 if job.status == common_pb2.JOB_STATUS_COMPLETED else 1


def _job_action(client: Client, session: Session, args: argparse.Namespace) -> int:
    action: Callable[[str], job_pb2.ProcessingJob] = getattr(client, args.command)
    return (
        _report(client, action(args.job)) if args.command == "cancel" else _state(action(args.job))
    )


def _state(job: job_pb2.ProcessingJob) -> int:
    print(f"job {job.id}: {common_pb2.JobStatus.Name(job.status).removeprefix('JOB_STATUS_')}")
    return 0


def _jobs(client: Client, session: Session, args: argparse.Namespace) -> int:
    for job in client.list_jobs(_project_id(client, session, args)):
        kind = common_pb2.JobType.Name(job.type).removeprefix("JOB_TYPE_")
        status = common_pb2.JobStatus.Name(job.status).removeprefix("JOB_STATUS_")
        print(f"{job.id}  {kind:<6} {status:<10} {job.documents_processed}/{job.documents_total}")
    return 0


def _results(client: Client, session: Session, args: argparse.Namespace) -> int:
    frame = client.results(_project_id(client, session, args))
    if args.output is None:
        with _wide_screen():
            print(frame.to_string(index=False))
        return 0
    frame.to_csv(args.output, index=False, quoting=csv.QUOTE_MINIMAL, encoding="utf-8-sig")
    print(f"{len(frame)} rows written to {args.output}")
    return 0


@contextlib.contextmanager
def _wide_screen() -> Iterator[None]:
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200):
        yield


def _export(client: Client, session: Session, args: argparse.Namespace) -> int:
    path = client.export(
        _project_id(client, session, args),
        args.format,
        args.output,
        include_metadata=args.metadata,
    )
    print(f"written {path} ({path.stat().st_size:,} bytes)")
    return 0


def _sample(client: Client, session: Session, args: argparse.Namespace) -> int:
    sample = client.coding_sample(_project_id(client, session, args), args.name, args.size)
    print(
        f"{sample.name}: {len(sample.document_ids)} documents drawn at random from "
        f"{sample.population} (seed {sample.seed})"
    )
    return 0


def _codes(client: Client, session: Session, args: argparse.Namespace) -> int:
    project_id = _project_id(client, session, args)
    sample = None
    if args.sample_name:
        request = quality_pb2.ListCodingSamplesRequest(project_id=project_id)
        samples = client.call(client.quality.ListCodingSamples, request).samples
        sample = next((s for s in samples if s.name == args.sample_name), None)
        if sample is None:
            print(f"coderai: no coding sample named {args.sample_name!r}", file=sys.stderr)
            return 2
    try:
        stored = client.import_codes(project_id, args.coder, args.file, sample=sample)
    except (ValueError, OSError) as error:
        print(f"coderai: {error}", file=sys.stderr)
        return 2
    print(f"{stored} codes of {args.coder} stored")
    return 0


def _agreement(client: Client, session: Session, args: argparse.Namespace) -> int:
    table = client.agreement(
        _project_id(client, session, args), args.variable, reference=args.reference
    )
    if table.empty:
        print(f"nothing to compare: no {args.reference} codes of {args.variable} yet")
        return 0
    with _wide_screen():
        print(table.to_string(index=False, na_rep="", float_format="{:.3f}".format))
    return 0


def _refine(client: Client, session: Session, args: argparse.Namespace) -> int:
    project_id = _project_id(client, session, args)
    refinement = client.refine(
        project_id,
        args.variable,
        method="agent" if args.agent else "rules",
        reference=args.reference,
    )
    if refinement.status == quality_pb2.REFINEMENT_STATUS_FAILED:
        print(f"coderai: {refinement.error}", file=sys.stderr)
        return 1
    print(refinement.rationale)
    print(f"instructions: {refinement.instructions}")
    for rule in refinement.guidance.rules:
        print(f"- {rule}")
    if args.accept:
        version = client.accept_refinement(refinement)
        print(f"prompt version {version} is active; run the sample again to measure it")
    else:
        print(f"proposal {refinement.id} is READY: accept it in the web page, or use --accept")
    return 0


Handler = Callable[[Client, Session, argparse.Namespace], int]
COMMAND_HANDLERS: dict[str, Handler] = {
    "register": _sign_in,
    "login": _sign_in,
    "logout": _logout,
    "project": _project,
    "codebook": _codebook,
    "variable": _variables,
    "upload": _upload,
    "documents": _documents,
    "estimate": _estimate,
    "run": _run,
    "watch": _watch,
    "pause": _job_action,
    "resume": _job_action,
    "cancel": _job_action,
    "jobs": _jobs,
    "results": _results,
    "sample": _sample,
    "codes": _codes,
    "agreement": _agreement,
    "refine": _refine,
    "export": _export,
}
