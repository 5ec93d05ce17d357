"""An upload's bytes on their way to storage: an unnamed file on disk, hashed as it is written."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import IO


class UploadSpool:
    """A file received from start to end, then read back to be detected and stored.

    Its SHA-256 and size are kept as it is written, piece by piece as the bytes arrive, so that
    storing it needs no second pass over them (a pass of the whole file on the event loop).
    The file has no name: the system frees it when it is closed or the process dies.
    """

    def __init__(self, directory: Path) -> None:
        # Closed by close(), which the service reaches through `with`.
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self.size = 0
        self._sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self._sha256.update(data)
        self.size += len(data)

    @property
    def content_hash(self) -> str:
        """The hex SHA-256 of the bytes written so far."""
        return self._sha256.hexdigest()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> UploadSpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
