"""Finds secrets in log lines: password hashes, access tokens, refresh tokens, API keys and
the passwords and keys the tests themselves use. tests/conftest.py runs it over every log
line of a test run, the test process's and those of the processes it starts."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_PATTERNS = {
    "an argon2 password hash": re.compile(r"\$argon2(?:id|i|d)\$"),
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "an API key": re.compile(r"cak_[A-Za-z0-9_-]{16,}"),
    # A refresh token is secrets.token_urlsafe(48): 64 base64url characters. A SHA-256 in hex
    # has as many, so a run of hex digits alone is not one.
    "a refresh token": re.compile(
        r"(?<![A-Za-z0-9_-])(?![0-9a-fA-F]{64}(?![A-Za-z0-9_-]))[A-Za-z0-9_-]{64}"
        r"(?![A-Za-z0-9_-])"
    ),
}
# What a line is cut to in a report: enough to find it, not a whole document.
_SHOWN_CHARS = 300


@dataclass
class SecretScanner:
    """Reports each line that holds a secret, with where it came from and what it holds;
    `known` are literal secrets (the tests' passwords, the LLM API key they configure)."""

    known: frozenset[str] = frozenset()
    findings: list[str] = field(default_factory=list)

    def scan(self, source: str, lines: Iterable[str]) -> None:
        for line in lines:
            kinds = [kind for kind, pattern in _PATTERNS.items() if pattern.search(line)]
            kinds += [f"the test secret {secret!r}" for secret in self.known if secret in line]
            if kinds:
                self.findings.append(
                    f"{source}: {', '.join(kinds)} in {line.strip()[:_SHOWN_CHARS]!r}"
                )


class ScanningHandler(logging.Handler):
    """Scans every log record it receives as it is emitted: the message with its arguments,
    the exception text and the stack."""

    def __init__(self, scanner: SecretScanner) -> None:
        super().__init__(logging.NOTSET)
        self.scanner = scanner
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging reports a record it cannot format itself
            self.handleError(record)
            return
        self.scanner.scan(f"log record of {record.name}", line.splitlines())
