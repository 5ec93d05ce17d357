"""The validated input of a research project (NFR-015): what CreateProject and UpdateProject may
store. For an update the service validates the merged project (current values overlaid with
the masked new ones), so one model serves both."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

from server.core.errors import RuleViolations, rule_error
from server.projects.models import ExtractionMode, UnitOfObservation

# RFC 5646 "langtag": language (2-3 letters, up to three extlangs), script, region, variants,
# extensions, private use. Refused although the grammar allows them: primary subtags of 4-8
# letters (none is registered, and they would let "English" or "German" through) and
# grandfathered and private-use-only tags (i-klingon, x-whatever), which name no language a
# corpus is written in.
# ASCII: with IGNORECASE alone, [a-z] would also match the Kelvin sign and the long s.
_LANGUAGE_TAG = re.compile(
    r"""
    [a-z]{2,3}(?:-[a-z]{3}){0,3}
    (?:-[a-z]{4})?
    (?:-(?:[a-z]{2}|[0-9]{3}))?
    (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*
    (?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*
    (?:-x(?:-[a-z0-9]{1,8})+)?
    """,
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
# RFC 5646 asks implementations to support tags of at least 35 characters; the column holds 35.
LANGUAGE_TAG_MAX_LENGTH = 35


def canonical_language_tag(tag: str) -> str:
    """The tag in RFC 5646's canonical case: "PT-br" -> "pt-BR", "zh-hant" -> "zh-Hant"."""
    if not _LANGUAGE_TAG.fullmatch(tag):
        raise rule_error("must be a BCP 47 language tag such as en, de, pt-BR or zh-Hant")
    language, *subtags = tag.split("-")
    parts = [language.lower()]
    in_extension = False  # after a singleton (extension or x-) every subtag is lower case
    for subtag in subtags:
        in_extension = in_extension or len(subtag) == 1
        if not in_extension and len(subtag) == 2:
            parts.append(subtag.upper())  # region
        elif not in_extension and len(subtag) == 4 and subtag.isalpha():
            parts.append(subtag.title())  # script
        else:
            parts.append(subtag.lower())
    return "-".join(parts)


def _text(max_length: int, *, required: bool) -> StringConstraints:
    # Stripped before the length checks, so a required field of blanks is too short.
    return StringConstraints(
        strip_whitespace=True, min_length=1 if required else None, max_length=max_length
    )


# Model names as providers spell them: "gpt-4o-mini", "meta-llama/Llama-3.1-8B", "llama3:8b".
_MODEL_NAME = r"^(?:[A-Za-z0-9][A-Za-z0-9._:/@-]*)?$"


class LlmConfigInput(BaseModel):
    """A project's choice of provider and model; empty strings take the server's defaults.
    Which providers are allowed depends on the server's configuration, checked by the
    service."""

    model_config = ConfigDict(extra="forbid")

    provider: Annotated[str, _text(100, required=False)] = ""
    model: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=200, pattern=_MODEL_NAME)
    ] = ""


class ProjectValues(TypedDict):
    """A Project message's researcher-set fields in domain types, as the servicer reads them
    (ProjectInput validates them)."""

    name: str
    description: str
    domain: str
    language: str
    unit_of_observation: UnitOfObservation | None
    entity_identification_pattern: str
    llm_config: dict[str, str]
    extraction_mode: ExtractionMode


class ProjectInput(BaseModel):
    """A project's researcher-editable fields, keyed by their proto (and ORM column) names."""

    # The servicer passes the whole Project message's fields; output-only ones (id, status,
    # times) are ignored, as the contract says, rather than refused.
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, _text(200, required=True)]
    description: Annotated[str, _text(5000, required=False)] = ""
    domain: Annotated[str, _text(500, required=True)]
    language: Annotated[
        str, _text(LANGUAGE_TAG_MAX_LENGTH, required=True), AfterValidator(canonical_language_tag)
    ]
    unit_of_observation: UnitOfObservation
    entity_identification_pattern: Annotated[str, _text(2000, required=False)] = ""
    llm_config: LlmConfigInput = LlmConfigInput()
    extraction_mode: ExtractionMode = ExtractionMode.PER_VARIABLE

    @model_validator(mode="after")
    def _entity_pattern_goes_with_entity_unit(self) -> ProjectInput:
        if self.unit_of_observation is UnitOfObservation.ENTITY:
            violations = RuleViolations()
            if not self.entity_identification_pattern:
                violations.add(
                    ("entity_identification_pattern",),
                    "required when unit_of_observation is ENTITY",
                )
            violations.raise_if_any(type(self).__name__)
        else:
            # A pattern means nothing for one row per document; switching a project back to
            # DOCUMENT drops it rather than keeping a stale one around.
            self.entity_identification_pattern = ""
        return self

    def to_columns(self) -> dict[str, Any]:
        """The values keyed by the columns of server.projects.models.Project; llm_config keeps
        only the choices made."""
        columns = self.model_dump()
        columns["llm_config"] = {k: v for k, v in columns["llm_config"].items() if v}
        return columns
