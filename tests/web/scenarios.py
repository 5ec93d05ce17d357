"""Running a browser scenario of this folder (browser.mjs, results.mjs) from a test: node with
the scenario's options, its output, and the file it says it downloaded."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
NODE = shutil.which("node")
SCENARIO_TIMEOUT_SECONDS = 120

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or NODE is None,
    reason="needs Debian's chromium at /usr/bin/chromium and node (scripts/setup installs "
    "chromium where it runs as root with apt-get)",
)


async def run_scenario(script: str, **options: str | Path) -> str:
    """Runs tests/web/<script> with `--name value` per option (underscores become dashes);
    its output, printed. Fails the test when it fails or runs over its time."""
    assert NODE is not None
    arguments = [
        part
        for name, value in options.items()
        for part in (f"--{name.replace('_', '-')}", str(value))
    ]
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(Path(__file__).with_name(script)),
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), SCENARIO_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"{script} ran over {SCENARIO_TIMEOUT_SECONDS}s:\n{output.decode()}")
    text = output.decode()
    print(text)
    assert process.returncode == 0, text
    return text


def saved_download(output: str, directory: Path) -> Path:
    """The file a scenario says it saved ("downloaded: PATH"), checked to be in `directory`."""
    [line] = [line for line in output.splitlines() if line.startswith("downloaded: ")]
    path = Path(line.removeprefix("downloaded: "))
    assert path.parent == directory, path
    assert path.is_file(), path
    return path
