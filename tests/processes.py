"""Running the `coderai` command as a user does: a real process with its own environment."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where the processes of this test run write their output, one file each: the secret scan
# in tests/conftest.py reads them at the end of the run.
PROCESS_LOG_DIR = Path(tempfile.mkdtemp(prefix="coderai-test-processes-"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def coderai(*args: str, **environment: str) -> subprocess.Popen[bytes]:
    """Runs `coderai ARGS` with no CoderAI setting inherited, plus `environment`."""
    own = {
        "DATABASE_URL",
        "APP_DATABASE_URL",
        "REDIS_URL",
        "DATA_DIR",
        "GRPC_PORT",
        "TASK_QUEUE_NAME",
    }
    env = {key: value for key, value in os.environ.items() if key not in own}
    env.update(LOG_LEVEL="WARNING", **environment)
    log_file = PROCESS_LOG_DIR / f"{args[0] if args else 'coderai'}-{uuid.uuid4().hex[:8]}.log"
    with log_file.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


# How long an idle worker gets to exit on SIGTERM before it is killed: an idle `coderai worker`
# does not exit (taskiq 0.13's cancelled queue read; see bench/README.md). Tests that need a
# graceful stop of a busy worker wait for it themselves.
IDLE_WORKER_GRACE = 2.0


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int | None:
    """SIGTERM, then the exit status; None if it had to be killed after `timeout` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        # The whole process group: a worker's child processes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
