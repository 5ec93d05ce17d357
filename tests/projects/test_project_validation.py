"""Acceptance scenarios for the validation of a research project (FR-001, NFR-015): the rules of
project.proto, and the field paths a client sees in its INVALID_ARGUMENT."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
import pytest

from server.core.errors import invalid_from_pydantic
from server.projects.models import Project, UnitOfObservation
from server.projects.schemas import ProjectInput


def document_project(**fields: Any) -> dict[str, Any]:
    """A valid one-row-per-document project, with the given fields changed."""
    return {
        "name": "Bundestag debates 2021",
        "domain": "parliamentary debates",
        "language": "de",
        "unit_of_observation": "DOCUMENT",
        **fields,
    }


def entity_project(**fields: Any) -> dict[str, Any]:
    return document_project(
        **{
            "unit_of_observation": "ENTITY",
            "entity_identification_pattern": "each member of parliament who speaks",
            **fields,
        }
    )


def violations(data: dict[str, Any]) -> dict[str, str]:
    """The field violations a client gets for this project: field path -> description."""
    with pytest.raises(pydantic.ValidationError) as caught:
        ProjectInput.model_validate(data)
    error = invalid_from_pydantic(caught.value, prefix="project")
    return {v.field: v.description for v in error.violations}


def only_violation(data: dict[str, Any]) -> tuple[str, str]:
    found = violations(data)
    assert len(found) == 1, found
    return next(iter(found.items()))


# --- a valid project ------------------------------------------------------------------------


def test_given_name_domain_language_and_unit_the_project_is_valid() -> None:
    project = ProjectInput.model_validate(document_project())

    assert project.description == ""
    assert project.unit_of_observation is UnitOfObservation.DOCUMENT
    assert project.entity_identification_pattern == ""


def test_given_surrounding_whitespace_every_string_is_stripped() -> None:
    project = ProjectInput.model_validate(
        entity_project(
            name="  Debates ",
            description=" Who said what. \n",
            domain="\tparliamentary debates ",
            language=" de ",
            entity_identification_pattern=" each speaker ",
        )
    )

    assert project.name == "Debates"
    assert project.description == "Who said what."
    assert project.domain == "parliamentary debates"
    assert project.language == "de"
    assert project.entity_identification_pattern == "each speaker"


def test_given_output_only_fields_they_are_ignored() -> None:
    project = ProjectInput.model_validate(
        document_project(id=str(uuid.uuid4()), status="COMPLETE", create_time=None)
    )

    assert set(project.to_columns()) == {
        "name",
        "description",
        "domain",
        "language",
        "unit_of_observation",
        "entity_identification_pattern",
        "llm_config",
        "extraction_mode",
    }


def test_to_columns_gives_the_project_models_columns() -> None:
    columns = ProjectInput.model_validate(entity_project()).to_columns()

    assert set(columns) <= set(Project.__table__.columns.keys())
    assert columns["unit_of_observation"] is UnitOfObservation.ENTITY


# --- name, description, domain ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_given_a_blank_name_it_is_refused(name: str) -> None:
    assert only_violation(document_project(name=name)) == ("project.name", "must not be blank")


def test_given_no_name_the_name_is_required() -> None:
    data = document_project()
    del data["name"]

    assert only_violation(data) == ("project.name", "required")


def test_given_a_name_of_200_characters_it_is_accepted_and_201_refused() -> None:
    ProjectInput.model_validate(document_project(name="n" * 200))

    field, description = only_violation(document_project(name="n" * 201))

    assert field == "project.name"
    assert "200" in description


def test_given_a_description_over_5000_characters_it_is_refused() -> None:
    ProjectInput.model_validate(document_project(description="d" * 5000))

    field, _ = only_violation(document_project(description="d" * 5001))

    assert field == "project.description"


@pytest.mark.parametrize("domain", ["", "  "])
def test_given_a_blank_domain_it_is_refused(domain: str) -> None:
    assert only_violation(document_project(domain=domain)) == (
        "project.domain",
        "must not be blank",
    )


def test_given_a_domain_over_500_characters_it_is_refused() -> None:
    ProjectInput.model_validate(document_project(domain="d" * 500))

    field, _ = only_violation(document_project(domain="d" * 501))

    assert field == "project.domain"


# --- language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("de", "de"),
        ("pt-BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("PT-BR", "pt-BR"),
        ("zh-Hant", "zh-Hant"),
        ("zh-hant", "zh-Hant"),
        ("zh-HANT-tw", "zh-Hant-TW"),
        ("sr-latn-rs", "sr-Latn-RS"),
        ("es-419", "es-419"),
        ("de-ch-1996", "de-CH-1996"),
        ("yue", "yue"),
        ("zh-yue", "zh-yue"),
        ("en-US-u-ca-GREGORY", "en-US-u-ca-gregory"),
        ("de-DE-x-Berlin", "de-DE-x-berlin"),
    ],
)
def test_given_a_bcp47_tag_it_is_stored_in_canonical_case(tag: str, canonical: str) -> None:
    assert ProjectInput.model_validate(document_project(language=tag)).language == canonical


@pytest.mark.parametrize(
    "tag",
    [
        "english",
        "German",
        "pt_BR",
        "e",
        "en-",
        "-en",
        "en--US",
        "en-U",
        "de-Latn-Latn",
        "x-private",
        "i-klingon",
        "12",
        "en US",
        "\u212aa",  # the Kelvin sign folds to "k" under a non-ASCII IGNORECASE match
    ],
)
def test_given_something_that_is_no_language_tag_the_language_is_refused(tag: str) -> None:
    assert only_violation(document_project(language=tag)) == (
        "project.language",
        "must be a BCP 47 language tag such as en, de, pt-BR or zh-Hant",
    )


def test_given_a_blank_or_overlong_language_it_is_refused() -> None:
    assert only_violation(document_project(language=" ")) == (
        "project.language",
        "must not be blank",
    )
    field, _ = only_violation(document_project(language="en-" + "-".join(["abcdefgh"] * 4)))
    assert field == "project.language"


# --- unit of observation and entity pattern -------------------------------------------------------


@pytest.mark.parametrize("unit", ["ROW", 0])
def test_given_an_unknown_unit_of_observation_it_is_refused(unit: Any) -> None:
    field, _ = only_violation(document_project(unit_of_observation=unit))

    assert field == "project.unit_of_observation"


def test_given_an_unspecified_unit_of_observation_it_is_required() -> None:
    # The servicer hands an UNSPECIFIED enum over as None.
    assert only_violation(document_project(unit_of_observation=None)) == (
        "project.unit_of_observation",
        "required",
    )


def test_given_the_models_enum_member_it_is_accepted() -> None:
    project = ProjectInput.model_validate(
        document_project(unit_of_observation=UnitOfObservation.DOCUMENT)
    )

    assert project.unit_of_observation is UnitOfObservation.DOCUMENT


@pytest.mark.parametrize("pattern", [None, "", "   "])
def test_given_an_entity_project_without_a_pattern_validation_names_the_pattern(
    pattern: str | None,
) -> None:
    data = entity_project(entity_identification_pattern=pattern)
    if pattern is None:
        del data["entity_identification_pattern"]

    assert only_violation(data) == (
        "project.entity_identification_pattern",
        "required when unit_of_observation is ENTITY",
    )


def test_given_an_entity_project_with_a_pattern_it_is_kept() -> None:
    project = ProjectInput.model_validate(entity_project())

    assert project.entity_identification_pattern == "each member of parliament who speaks"


def test_given_an_entity_pattern_over_2000_characters_it_is_refused() -> None:
    ProjectInput.model_validate(entity_project(entity_identification_pattern="p" * 2000))

    field, _ = only_violation(entity_project(entity_identification_pattern="p" * 2001))

    assert field == "project.entity_identification_pattern"


def test_given_a_document_project_with_a_pattern_the_pattern_is_cleared() -> None:
    project = ProjectInput.model_validate(
        document_project(entity_identification_pattern="each speaker")
    )

    assert project.entity_identification_pattern == ""


# --- update with a field mask: the service validates the merged project --------------------------


def merged(current: ProjectInput, changes: dict[str, Any], mask: list[str]) -> dict[str, Any]:
    """What the service validates for UpdateProject: current values overlaid with masked ones."""
    return {**current.to_columns(), **{path: changes[path] for path in mask}}


def test_given_an_update_to_entity_unit_without_a_pattern_the_pattern_is_named() -> None:
    current = ProjectInput.model_validate(document_project())

    data = merged(current, {"unit_of_observation": "ENTITY"}, ["unit_of_observation"])

    assert list(violations(data)) == ["project.entity_identification_pattern"]


def test_given_an_update_to_entity_unit_with_a_pattern_in_the_mask_it_is_valid() -> None:
    current = ProjectInput.model_validate(document_project())
    changes = {"unit_of_observation": "ENTITY", "entity_identification_pattern": "each speaker"}

    project = ProjectInput.model_validate(merged(current, changes, list(changes)))

    assert project.entity_identification_pattern == "each speaker"


def test_given_an_update_back_to_document_unit_the_old_pattern_is_dropped() -> None:
    current = ProjectInput.model_validate(entity_project())

    data = merged(current, {"unit_of_observation": "DOCUMENT"}, ["unit_of_observation"])

    assert ProjectInput.model_validate(data).entity_identification_pattern == ""


def test_given_an_update_of_the_name_only_the_other_fields_stay() -> None:
    current = ProjectInput.model_validate(entity_project(description="Who said what."))

    project = ProjectInput.model_validate(merged(current, {"name": " Renamed "}, ["name"]))

    assert project.name == "Renamed"
    assert project.to_columns() == {**current.to_columns(), "name": "Renamed"}
