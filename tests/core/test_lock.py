"""requirements.lock cannot drift from pyproject.toml: every dependency named there (the
product's and the dev extra's) is pinned in the lock, at a version its range allows."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.processes import ROOT


def pinned() -> dict[str, Version]:
    versions: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            versions[canonicalize_name(name)] = Version(version)
    return versions


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(text)
        for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]


def test_every_dependency_is_pinned_within_its_range() -> None:
    versions = pinned()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in versions, f"{requirement.name} is not in requirements.lock: run scripts/lock"
        assert requirement.specifier.contains(versions[name], prereleases=True), (
            f"requirements.lock pins {requirement.name} {versions[name]}, outside "
            f"{requirement.specifier} in pyproject.toml: run scripts/lock"
        )


def test_the_lock_pins_every_package_once_and_exactly() -> None:
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = [canonicalize_name(line.split("==")[0]) for line in lines]
    assert all(line.count("==") == 1 for line in lines), "exact pins only"
    assert len(names) == len(set(names))
    assert "coderai" not in names, "the project itself is installed from the tree"
