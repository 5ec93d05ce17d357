"""Builds and runs the asyncio gRPC server: services, health, reflection, interceptors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

import grpc
from coderai.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    document_pb2,
    document_pb2_grpc,
    export_pb2,
    export_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    project_pb2,
    project_pb2_grpc,
    quality_pb2,
    quality_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from redis.asyncio import Redis
from taskiq import AsyncBroker

# Every ORM model registered: flushing a row of one table needs the tables its foreign keys
# name to be known, whichever services this process happens to import.
import server.models  # noqa: F401
from server.auth.accounts import AccountService
from server.auth.authenticator import Authenticator
from server.auth.rpc import PUBLIC_METHODS, AuthServicer
from server.auth.service import AuthService
from server.copilot.service import CopilotService
from server.core.config import Settings
from server.core.db import Database
from server.core.infrastructure import connect_database, connect_redis, prepare
from server.core.interceptors import (
    AccessLogInterceptor,
    AuthenticationInterceptor,
    ErrorMappingInterceptor,
)
from server.core.periodic import run_periodically
from server.core.quotas import open_streams
from server.core.startup import freeze_what_startup_built
from server.core.transport import describe as describe_transport
from server.core.transport import server_credentials
from server.core.validation import ValidationInterceptor
from server.documents.rpc import DocumentServicer
from server.documents.service import DocumentService
from server.exports.rpc import ExportServicer
from server.exports.service import ExportService
from server.feedback.service import FeedbackService
from server.jobs.events import JobEvents
from server.jobs.feed import EventFeed
from server.jobs.rpc import JobServicer
from server.jobs.service import JobService
from server.jobs.status import ProjectOverview, has_running_job
from server.llm.factory import OFFLINE, OFFLINE_MODEL
from server.llm.factory import describe as describe_llm
from server.llm.gateway import LLMGateway
from server.llm.ledger import DatabaseLedger
from server.projects.rpc import ProjectServicer
from server.projects.service import ProjectService
from server.quality.assessment import AssessmentService
from server.quality.coding import CodingService
from server.quality.refinement import RefinementService
from server.quality.rpc import QualityServicer
from server.quotas.service import QuotaService
from server.schema.rpc import SchemaServicer
from server.schema.service import SchemaService
from workers.broker import build_broker
from workers.queue import TaskiqQueue

log = logging.getLogger("coderai.server")

SERVICE_NAMES = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    project_pb2.DESCRIPTOR.services_by_name["ProjectService"].full_name,
    schema_pb2.DESCRIPTOR.services_by_name["SchemaService"].full_name,
    document_pb2.DESCRIPTOR.services_by_name["DocumentService"].full_name,
    job_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    export_pb2.DESCRIPTOR.services_by_name["ExportService"].full_name,
    quality_pb2.DESCRIPTOR.services_by_name["QualityService"].full_name,
)
HEALTH_CHECK_INTERVAL_SECONDS = 5.0


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    database: Database
    redis: Redis
    broker: AsyncBroker
    _background: list[asyncio.Task[None]]

    async def stop(self, grace: float | None) -> None:
        """Stops taking calls, lets those in flight finish for `grace` seconds, closes pools."""
        await self.health.enter_graceful_shutdown()
        for task in self._background:
            task.cancel()
        await self.server.stop(grace)
        await self.broker.shutdown()
        await self.database.dispose()
        await self.redis.aclose()


def server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        # Keep long-lived streams alive through proxies and notice dead clients.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


async def start_server(
    settings: Settings, database: Database, redis: Redis, redis_url: str, port: int
) -> RunningServer:
    """Serves on port (0: any free port); tasks go to the Taskiq stream at redis_url."""
    credentials = server_credentials(settings)
    broker = build_broker(redis_url, settings.task_queue_name)
    await broker.startup()
    server = grpc.aio.server(
        interceptors=[
            AccessLogInterceptor(),
            ErrorMappingInterceptor(),
            AuthenticationInterceptor(Authenticator(database, settings), PUBLIC_METHODS),
            ValidationInterceptor(),
        ],
        options=server_options(settings),
    )
    # WatchJob, WatchProject and DownloadExport hold one for the life of their stream.
    streams = open_streams(redis, settings)
    auth = AuthService(database, settings, redis)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(
        AuthServicer(
            auth,
            AccountService(database, auth),
            QuotaService(database, settings, streams),
            settings.trusted_proxies,
        ),
        server,
    )
    schema = SchemaService(database, settings)
    projects = ProjectService(
        database,
        settings,
        has_running_job=has_running_job,
        follow_update=schema.follow_project_update,
    )
    project_pb2_grpc.add_ProjectServiceServicer_to_server(
        ProjectServicer(projects, ProjectOverview(database)), server
    )
    # The co-pilot answers in the call: the server asks the model itself, through the one
    # gateway every model call takes (ledger, retries, breaker, rate limit).
    gateway = LLMGateway(settings, redis, ledger=DatabaseLedger(database))
    schema_pb2_grpc.add_SchemaServiceServicer_to_server(
        SchemaServicer(
            schema,
            CopilotService(database, settings, gateway),
            streams,
        ),
        server,
    )
    documents = DocumentService(
        database, settings, TaskiqQueue(broker), redis, has_running_job=has_running_job
    )
    document_pb2_grpc.add_DocumentServiceServicer_to_server(DocumentServicer(documents), server)
    job_events = JobEvents(
        redis,
        max_length=settings.job_events_max_length,
        ttl_seconds=settings.job_events_ttl_seconds,
    )
    job_pb2_grpc.add_JobServiceServicer_to_server(
        JobServicer(
            JobService(database, settings, TaskiqQueue(broker), job_events, EventFeed(job_events)),
            FeedbackService(database),
            streams,
        ),
        server,
    )
    exports = ExportService(database, settings, TaskiqQueue(broker))
    export_pb2_grpc.add_ExportServiceServicer_to_server(ExportServicer(exports, streams), server)
    quality_pb2_grpc.add_QualityServiceServicer_to_server(
        QualityServicer(
            CodingService(database),
            AssessmentService(database),
            RefinementService(database, settings, TaskiqQueue(broker), job_events),
        ),
        server,
    )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", *SERVICE_NAMES):
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        (
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    try:
        address = f"{settings.grpc_listen_addr}:{port}"
        bound_port = (
            server.add_insecure_port(address)
            if credentials is None
            else server.add_secure_port(address, credentials)
        )
        await server.start()
    except RuntimeError:
        await broker.shutdown()
        raise
    background = [
        asyncio.create_task(_watch_dependencies(health, database, redis)),
        asyncio.create_task(
            run_periodically(
                "deleted expired exports", settings.export_sweep_interval_seconds, exports.sweep
            )
        ),
        asyncio.create_task(
            run_periodically(
                "deleted expired resumable uploads",
                settings.upload_sweep_interval_seconds,
                documents.sweep_uploads,
            )
        ),
    ]
    log.info(
        "gRPC server listening on %s:%d (%s)",
        settings.grpc_listen_addr,
        bound_port,
        describe_transport(settings),
    )
    _announce_model(settings)
    return RunningServer(server, bound_port, health, database, redis, broker, background)


def _announce_model(settings: Settings) -> None:
    """Which model answers; a warning when none is configured, so that nobody takes the
    baseline's values for a model's."""
    if settings.default_llm_provider != OFFLINE:
        log.info(describe_llm(settings))
        return
    log.warning(
        "NO LANGUAGE MODEL IS CONFIGURED: the offline baseline (rule/keyword based, not a "
        "language model) answers every extraction, and jobs, extractions and exports name it "
        "(provider %s, model %s). Set LLM_API_KEY or LLM_BASE_URL to use a model; "
        "LLM_ALLOW_OFFLINE_BASELINE=false refuses to start without one.",
        OFFLINE,
        OFFLINE_MODEL,
    )


async def _watch_dependencies(health: HealthServicer, database: Database, redis: Redis) -> None:
    """SERVING while PostgreSQL and Redis both answer; NOT_SERVING otherwise."""
    serving: bool | None = None
    while True:
        try:
            await asyncio.wait_for(database.ping(), timeout=3)
            await asyncio.wait_for(redis.ping(), timeout=3)
            now_serving = True
        except Exception as error:  # noqa: BLE001 - any failure means a dependency is down
            if serving is not False:
                log.warning("dependency check failed: %s", error)
            now_serving = False
        if now_serving != serving:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if now_serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ("", *SERVICE_NAMES):
                await health.set(name, status)
            serving = now_serving
        await asyncio.sleep(HEALTH_CHECK_INTERVAL_SECONDS if now_serving else 0.5)


async def serve(settings: Settings, port: int | None = None) -> None:
    """Runs until SIGINT/SIGTERM, then shuts down gracefully."""
    server_credentials(settings)  # a refused transport fails before the databases start
    infrastructure = await prepare(settings)
    database = await connect_database(settings, infrastructure)
    redis = connect_redis(infrastructure.redis_url)
    running = await start_server(
        settings,
        database,
        redis,
        infrastructure.redis_url,
        settings.grpc_port if port is None else port,
    )
    freeze_what_startup_built()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down (grace %.0fs)", settings.grpc_shutdown_grace_seconds)
    await running.stop(settings.grpc_shutdown_grace_seconds)
    if settings.embedded_postgres or settings.embedded_redis:
        log.info(
            "the embedded PostgreSQL and Redis in %s keep running (the next start is quick); "
            "`coderai embedded stop` stops them",
            settings.data_dir,
        )
