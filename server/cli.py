"""The `coderai` command: the researcher's commands (coderai.cli: login, project, upload, run,
results, export, ...) and the operator's: up, serve, worker, migrate, create-user, llm-server,
demo, gateway, embedded."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coderai import cli as researcher_commands
from pydantic import ValidationError

from server.core.config import get_settings

if TYPE_CHECKING:
    from server.core.config import Settings

# The server's modules are imported by the commands that run them: a researcher's command
# (a client of a server) starts in a fraction of the time without them.


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coderai", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--port", type=int, help="port to listen on (default: GRPC_PORT)")
    worker = commands.add_parser("worker", help="run a Taskiq worker")
    worker.add_argument(
        "--processes", type=int, help="worker processes (default: WORKER_PROCESSES)"
    )
    commands.add_parser("migrate", help="create or upgrade the database schema and roles")
    create_user = commands.add_parser("create-user", help="create an account")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--display-name", default="")
    create_user.add_argument(
        "--password", help="the password (default: CODERAI_PASSWORD, else asked for)"
    )
    llm_server = commands.add_parser(
        "llm-server",
        help="run the local OpenAI-compatible server (tests and demos: schema-valid answers "
        "drawn from the document by the offline baseline, faults on request)",
    )
    llm_server.add_argument("--host", default="127.0.0.1")
    llm_server.add_argument("--port", type=int, default=8089)
    llm_server.add_argument(
        "--prefix-cache",
        action="store_true",
        help="report cached prompt tokens as a provider with a prompt cache does (OpenAI's "
        "rule: a repeated start of 1,024 tokens or more, in steps of 128)",
    )
    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline on sample documents through the API and write the "
        "dataset as CSV files",
    )
    demo.add_argument(
        "--output",
        type=Path,
        default=Path("coderai-demo-output"),
        help="folder for dataset.csv and extractions.csv (default: ./coderai-demo-output)",
    )
    demo.add_argument(
        "--port", type=int, default=0, help="API port on 127.0.0.1 (default: any free port)"
    )
    gateway = commands.add_parser(
        "gateway",
        help="run the grpc-web gateway that lets browsers call the gRPC server (where Envoy "
        "is absent)",
    )
    gateway.add_argument("--port", type=int, help="port to listen on (default: GATEWAY_PORT)")
    gateway.add_argument(
        "--backend", help="host:port of the gRPC server (default: GATEWAY_BACKEND)"
    )
    gateway.add_argument("--static", type=Path, help="a folder of web pages to serve at /")
    up = commands.add_parser(
        "up",
        help="run a worker, the gRPC server and the grpc-web gateway with the web page "
        "together (what ./scripts/run starts); Ctrl-C stops all three",
    )
    up.add_argument("--port", type=int, help="the gRPC server's port (default: GRPC_PORT)")
    up.add_argument("--gateway-port", type=int, help="the web page's port (default: GATEWAY_PORT)")
    up.add_argument(
        "--static", type=Path, default=Path("web/dist"), help="the web page (default: web/dist)"
    )
    researcher_commands.add_commands(commands)
    embedded = commands.add_parser(
        "embedded",
        help="the PostgreSQL and Redis started in DATA_DIR when DATABASE_URL/REDIS_URL are "
        "unset (they keep running after the server, so the next start is quick)",
    )
    embedded.add_argument(
        "action",
        choices=["status", "stop"],
        help="status: whether they run, and where; stop: stop both",
    )
    args = parser.parse_args(argv)
    if args.command in researcher_commands.COMMANDS:
        # A client of a server, perhaps elsewhere: the server's settings play no part.
        return researcher_commands.main(args)
    if args.command in ("gateway", "up") and args.static is not None and not args.static.is_dir():
        parser.error(f"--static {args.static}: no such folder")

    try:
        settings = get_settings()
    except ValidationError as error:
        print(f"coderai: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    if args.command == "serve":
        from server.core.transport import PlaintextRefused
        from server.main import serve as run_server

        try:
            asyncio.run(run_server(settings, args.port))
        except PlaintextRefused as error:
            print(f"coderai: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "up":
        from server.launcher import run as run_together

        return run_together(settings, args.port, args.gateway_port, args.static)
    if args.command == "worker":
        return run_worker(settings, args.processes or settings.worker_processes)
    if args.command == "llm-server":
        from server.llm.local_server import run as run_llm_server

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_llm_server(args.host, args.port, prefix_cache=args.prefix_cache))
        return 0
    if args.command == "demo":
        from server.demo.run import run as run_demo

        return run_demo(settings, args.output, args.port)
    if args.command == "gateway":
        from gateway.proxy import GatewayConfig
        from gateway.proxy import serve as run_gateway

        config = GatewayConfig(
            backend=args.backend or settings.gateway_backend,
            allowed_origins=settings.gateway_allowed_origins,
            max_message_bytes=settings.grpc_max_message_bytes,
            static_dir=args.static,
            backend_ca_file=settings.gateway_backend_tls_ca_file,
            backend_cert_file=settings.gateway_backend_tls_cert_file,
            backend_key_file=settings.gateway_backend_tls_key_file,
            tls_cert_file=settings.gateway_tls_cert_file,
            tls_key_file=settings.gateway_tls_key_file,
        )
        port = settings.gateway_port if args.port is None else args.port
        asyncio.run(
            run_gateway(config, settings.gateway_host, port, settings.grpc_shutdown_grace_seconds)
        )
        return 0
    if args.command == "embedded":
        from server.core.embedded import embedded_status, stop_embedded

        if args.action == "status":
            status = embedded_status(settings.data_dir)
            print(f"Embedded servers in {status.data_dir}:", *status.lines(), sep="\n  ")
            if not (settings.embedded_postgres and settings.embedded_redis):
                print("(DATABASE_URL or REDIS_URL is set: the server uses those instead)")
            return 0
        stop_embedded(settings.data_dir)
        print(f"coderai: the embedded PostgreSQL and Redis in {settings.data_dir} are stopped")
        return 0
    if args.command == "migrate":
        asyncio.run(run_migrations(settings))
        return 0
    password = args.password or os.environ.get("CODERAI_PASSWORD") or getpass.getpass()
    return asyncio.run(add_user(settings, args.email, password, args.display_name))


async def run_migrations(settings: Settings) -> None:
    from server.core.embedded import start_embedded_postgres
    from server.core.migrate import migrate

    owner_url = (
        start_embedded_postgres(settings.data_dir)
        if settings.embedded_postgres
        else settings.database_url
    )
    if owner_url is None:
        raise SystemExit("coderai migrate needs DATABASE_URL (the owner role's URL)")
    await migrate(settings, owner_url)
    print("database schema is up to date")


async def add_user(settings: Settings, email: str, password: str, display_name: str) -> int:
    from server.auth.schemas import RegisterInput
    from server.auth.service import AuthService
    from server.core.errors import DomainError
    from server.core.infrastructure import connect_database, connect_redis, prepare

    infrastructure = await prepare(settings)
    database = await connect_database(settings, infrastructure)
    redis = connect_redis(infrastructure.redis_url)
    try:
        data = RegisterInput(email=email, password=password, display_name=display_name)
        user = await AuthService(database, settings, redis).create_account(data)
    except ValidationError as error:
        print(f"coderai: {error}", file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"coderai: {error.message}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
        await database.dispose()
    print(f"created user {user.email} ({user.id})")
    return 0


def run_worker(settings: Settings, processes: int) -> int:
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker as run_taskiq_worker

    from server.core.infrastructure import prepare

    infrastructure = asyncio.run(prepare(settings))
    # The worker processes import workers.tasks, whose broker reads these.
    os.environ["REDIS_URL"] = infrastructure.redis_url
    os.environ["APP_DATABASE_URL"] = infrastructure.app_database_url
    get_settings.cache_clear()
    args = WorkerArgs(
        broker="workers.tasks:broker",
        modules=["workers.tasks"],
        workers=processes,
        max_async_tasks=settings.worker_concurrency,
    )
    return run_taskiq_worker(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
