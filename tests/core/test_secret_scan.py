"""The log scan that fails a test run when a secret reaches a log (tests/conftest.py runs it
over every line of the run) finds what it looks for, and only that. These records go to a
scanner of their own, never to the session's."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core.security import new_api_key, new_refresh_token
from tests.secrets_scan import ScanningHandler, SecretScanner

A_FAKE_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
A_FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.fixture
def scanner() -> Iterator[tuple[SecretScanner, logging.Logger]]:
    """A scanner with a logger that reaches it alone (not the root logger)."""
    found = SecretScanner(frozenset({"correct horse battery staple"}))
    logger = logging.getLogger(f"tests.secret_scan.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = ScanningHandler(found)
    logger.addHandler(handler)
    yield found, logger
    logger.removeHandler(handler)


def test_a_password_hash_logged_as_an_argument_is_reported(
    scanner: tuple[SecretScanner, logging.Logger],
) -> None:
    found, logger = scanner

    logger.error("insert failed [parameters: (%r, %r)]", "ada@example.org", A_FAKE_HASH)

    assert len(found.findings) == 1
    assert "an argon2 password hash" in found.findings[0]


def test_tokens_keys_and_test_passwords_in_exception_text_are_reported(
    scanner: tuple[SecretScanner, logging.Logger],
) -> None:
    found, logger = scanner
    leaks = [
        A_FAKE_JWT,
        new_refresh_token(),
        new_api_key(uuid.uuid4()),
        "correct horse battery staple",
    ]

    for leak in leaks:
        try:
            raise ValueError(f"bad credential {leak}")
        except ValueError:
            logger.exception("call failed")

    reported = "\n".join(found.findings)
    assert len(found.findings) == 4
    for kind in ("a JWT", "a refresh token", "an API key", "the test secret"):
        assert kind in reported


def test_ordinary_lines_ids_and_content_hashes_are_not_reported(
    scanner: tuple[SecretScanner, logging.Logger],
) -> None:
    found, logger = scanner

    logger.info("rpc /coderai.v1.AuthService/Login OK 3.1ms peer=ipv4:127.0.0.1:5555")
    logger.info("document %s hash %s", uuid.uuid4(), secrets.token_hex(32))
    logger.warning("database unavailable during %s: [parameters hidden]", "GetJob")

    assert found.findings == []


def test_the_output_files_of_started_processes_are_scanned(tmp_path: Path) -> None:
    found = SecretScanner()
    log_file = tmp_path / "worker.log"
    log_file.write_text(f"ok\nERROR something {A_FAKE_HASH}\nok\n")

    with log_file.open() as lines:
        found.scan(str(log_file), lines)

    assert len(found.findings) == 1
    assert str(log_file) in found.findings[0]
