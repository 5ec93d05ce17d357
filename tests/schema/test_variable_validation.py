"""Acceptance scenarios for the validation of a variable (FR-002, NFR-015): the rules of
schema.proto, and the field paths a client sees in its INVALID_ARGUMENT."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
import pytest

from server.core.errors import FieldViolation, InvalidArgument, invalid_from_pydantic
from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType
from server.schema.schemas import (
    VariableInput,
    check_column_names,
    check_dependencies,
    dataset_columns,
)

# --- factories ------------------------------------------------------------------------------


def text_variable(**fields: Any) -> dict[str, Any]:
    """A valid TEXT variable as the service hands it over, with the given fields changed."""
    return {
        "name": "speaker",
        "type": "TEXT",
        "instructions": "The name of the member who speaks.",
        **fields,
    }


def category_variable(*labels: str, **fields: Any) -> dict[str, Any]:
    labels = labels or ("Government", "Opposition")
    rules = {"categories": [{"label": label} for label in labels]}
    return text_variable(**{"type": "CATEGORY", "classification_rules": rules, **fields})


def typed_variable(type_: str, rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    if type_ == "CATEGORY":
        return category_variable(validation_rules=rules, **fields)
    return text_variable(type=type_, validation_rules=rules, **fields)


def violations(data: dict[str, Any]) -> dict[str, str]:
    """The field violations a client gets for this variable: field path -> description."""
    with pytest.raises(pydantic.ValidationError) as caught:
        VariableInput.model_validate(data)
    error = invalid_from_pydantic(caught.value, prefix="variable")
    return {v.field: v.description for v in error.violations}


def only_violation(data: dict[str, Any]) -> tuple[str, str]:
    found = violations(data)
    assert len(found) == 1, found
    return next(iter(found.items()))


# --- a valid variable ---------------------------------------------------------------------


def test_given_only_name_type_and_instructions_the_documented_defaults_apply() -> None:
    variable = VariableInput.model_validate(text_variable())

    assert variable.display_name == ""
    assert variable.classification_rules is None
    assert variable.confidence_threshold == 0.7
    assert variable.if_uncertain is IfUncertain.FLAG_FOR_REVIEW
    assert variable.if_multiple_values is IfMultipleValues.FIRST
    assert variable.max_values == 1
    assert variable.default_value is None
    assert variable.validation_rules.set_fields() == []
    assert variable.depends_on == []


def test_given_unset_proto_fields_as_none_they_take_their_defaults() -> None:
    variable = VariableInput.model_validate(
        text_variable(
            confidence_threshold=None,
            if_uncertain=None,
            if_multiple_values=None,
            max_values=None,
            validation_rules=None,
            classification_rules=None,
            depends_on=None,
        )
    )

    assert variable.confidence_threshold == 0.7
    assert variable.if_uncertain is IfUncertain.FLAG_FOR_REVIEW
    assert variable.max_values == 1


def test_given_surrounding_whitespace_every_string_is_stripped() -> None:
    variable = VariableInput.model_validate(
        category_variable(
            name="  party ",
            display_name=" Party ",
            instructions="\n The speaker's party.\t",
            classification_rules={
                "categories": [
                    {"label": " Government ", "definition": " In office "},
                    {"label": "Opposition"},
                ],
                "selection_logic": "  the party at the time of the speech ",
            },
            default_value=" Government ",
        )
    )

    assert (variable.name, variable.display_name) == ("party", "Party")
    assert variable.instructions == "The speaker's party."
    assert variable.classification_rules is not None
    assert variable.classification_rules.categories[0].label == "Government"
    assert variable.classification_rules.categories[0].definition == "In office"
    assert variable.classification_rules.selection_logic == "the party at the time of the speech"
    assert variable.default_value == "Government"


def test_given_output_only_fields_they_are_ignored() -> None:
    variable = VariableInput.model_validate(
        text_variable(id=str(uuid.uuid4()), project_id=str(uuid.uuid4()), order=3)
    )

    assert "order" not in variable.to_columns()


# --- name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["speaker", "Speaker2", "party_id", "q_1", "wave_2", "x", "year", "date", "value", "count"],
)
def test_given_a_column_safe_name_it_is_accepted(name: str) -> None:
    assert VariableInput.model_validate(text_variable(name=name)).name == name


def test_given_a_63_character_name_it_is_accepted_and_64_is_refused() -> None:
    VariableInput.model_validate(text_variable(name="a" * 63))

    field, description = only_violation(text_variable(name="a" * 64))

    assert field == "variable.name"
    assert "63" in description


@pytest.mark.parametrize(
    "name", ["1st_speaker", "_speaker", "speaker-name", "speaker name", "sprecherin_ä", "a.b"]
)
def test_given_a_name_not_made_of_a_letter_then_letters_digits_underscores_it_is_refused(
    name: str,
) -> None:
    assert only_violation(text_variable(name=name)) == (
        "variable.name",
        "must start with a letter and contain only letters, digits and underscores",
    )


def test_given_a_name_ending_in_an_underscore_it_is_refused_for_spss() -> None:
    assert only_violation(text_variable(name="speaker_")) == (
        "variable.name",
        "must not end with an underscore",
    )


@pytest.mark.parametrize(
    "name",
    [
        "select",  # SQL
        "ORDER",  # SQL, any case
        "Group",
        "values",  # SQLite
        "key",  # MySQL, SQL Server
        "function",  # R
        "NA",
        "long",  # Stata
        "str80",
        "strL",
        "eq",  # SPSS
    ],
)
def test_given_a_reserved_word_as_name_it_is_refused(name: str) -> None:
    field, description = only_violation(text_variable(name=name))

    assert field == "variable.name"
    assert "reserved word" in description


def test_given_a_blank_name_it_is_refused_as_blank() -> None:
    assert only_violation(text_variable(name="   ")) == ("variable.name", "must not be blank")


def test_given_no_name_the_name_is_required() -> None:
    data = text_variable()
    del data["name"]

    assert only_violation(data) == ("variable.name", "required")


def test_given_all_values_the_name_leaves_room_for_the_export_suffix() -> None:
    VariableInput.model_validate(
        text_variable(name="a" * 60, if_multiple_values="ALL", max_values=20)
    )

    field, description = only_violation(
        text_variable(name="a" * 61, if_multiple_values="ALL", max_values=20)
    )

    assert field == "variable.name"
    assert "at most 60 characters" in description


# --- display name, instructions, type ---------------------------------------------------------


def test_given_a_display_name_over_200_characters_it_is_refused() -> None:
    VariableInput.model_validate(text_variable(display_name="d" * 200))

    field, _ = only_violation(text_variable(display_name="d" * 201))

    assert field == "variable.display_name"


@pytest.mark.parametrize("instructions", ["", "  \n "])
def test_given_blank_instructions_they_are_refused(instructions: str) -> None:
    assert only_violation(text_variable(instructions=instructions)) == (
        "variable.instructions",
        "must not be blank",
    )


def test_given_instructions_over_10000_characters_they_are_refused() -> None:
    VariableInput.model_validate(text_variable(instructions="i" * 10000))

    field, description = only_violation(text_variable(instructions="i" * 10001))

    assert field == "variable.instructions"
    assert "10000" in description


@pytest.mark.parametrize("type_", ["COLOUR", 7])
def test_given_an_unknown_type_the_type_is_refused(type_: Any) -> None:
    field, _ = only_violation(text_variable(type=type_))

    assert field == "variable.type"


def test_given_an_unspecified_type_the_type_is_required() -> None:
    # The servicer hands an UNSPECIFIED enum over as None.
    assert only_violation(text_variable(type=None)) == ("variable.type", "required")


def test_given_the_models_enum_members_they_are_accepted() -> None:
    variable = VariableInput.model_validate(
        text_variable(type=VariableType.TEXT, if_uncertain=IfUncertain.LEAVE_EMPTY)
    )

    assert variable.if_uncertain is IfUncertain.LEAVE_EMPTY


# --- classification rules -----------------------------------------------------------------


def test_given_a_category_variable_without_categories_validation_names_classification_rules() -> (
    None
):
    data = text_variable(type="CATEGORY")

    assert only_violation(data) == (
        "variable.classification_rules",
        "required for CATEGORY variables",
    )


@pytest.mark.parametrize("labels", [[], ["Government"]])
def test_given_a_category_variable_with_fewer_than_two_categories_it_is_refused(
    labels: list[str],
) -> None:
    data = text_variable(
        type="CATEGORY",
        classification_rules={"categories": [{"label": label} for label in labels]},
    )

    assert only_violation(data) == (
        "variable.classification_rules.categories",
        "a CATEGORY variable needs at least two categories",
    )


def test_given_a_blank_category_label_the_violation_names_that_label() -> None:
    data = category_variable("Government", "  ")

    assert only_violation(data) == (
        "variable.classification_rules.categories[1].label",
        "must not be blank",
    )


def test_given_a_category_label_over_200_characters_it_is_refused() -> None:
    VariableInput.model_validate(category_variable("g" * 200, "Opposition"))

    field, _ = only_violation(category_variable("g" * 201, "Opposition"))

    assert field == "variable.classification_rules.categories[0].label"


def test_given_labels_differing_only_in_case_the_later_one_is_refused() -> None:
    data = category_variable("Government", "Opposition", "government ")

    field, description = only_violation(data)

    assert field == "variable.classification_rules.categories[2].label"
    assert description.startswith("repeats the label of categories[0]")


def test_given_a_category_definition_over_2000_characters_it_is_refused() -> None:
    data = category_variable()
    data["classification_rules"]["categories"][1]["definition"] = "d" * 2001

    field, _ = only_violation(data)

    assert field == "variable.classification_rules.categories[1].definition"


def test_given_a_text_variable_with_categories_validation_names_classification_rules() -> None:
    data = category_variable(type="TEXT")

    assert only_violation(data) == (
        "variable.classification_rules",
        "must be empty for TEXT variables",
    )


def test_given_a_text_variable_with_empty_classification_rules_they_are_dropped() -> None:
    data = text_variable(classification_rules={"categories": [], "selection_logic": " "})

    assert VariableInput.model_validate(data).to_columns()["classification_rules"] is None


# --- confidence, uncertainty, multiple values ---------------------------------------------------


@pytest.mark.parametrize("threshold", [0, 0.5, 1])
def test_given_a_confidence_threshold_between_0_and_1_it_is_accepted(threshold: float) -> None:
    variable = VariableInput.model_validate(text_variable(confidence_threshold=threshold))

    assert variable.confidence_threshold == threshold


@pytest.mark.parametrize("threshold", [-0.01, 1.01, float("nan"), float("inf")])
def test_given_a_confidence_threshold_outside_0_to_1_it_is_refused(threshold: float) -> None:
    field, _ = only_violation(text_variable(confidence_threshold=threshold))

    assert field == "variable.confidence_threshold"


@pytest.mark.parametrize(
    ("if_multiple_values", "max_values", "accepted"),
    [
        ("FIRST", 1, True),
        ("FIRST", 2, False),
        ("MOST_CONFIDENT", 1, True),
        ("MOST_CONFIDENT", 3, False),
        ("ALL", 1, False),
        ("ALL", 2, True),
        ("ALL", 20, True),
        ("ALL", 21, False),
        ("CONCATENATE", 1, True),
        ("CONCATENATE", 20, True),
        ("CONCATENATE", 21, False),
        ("CONCATENATE", 0, False),
    ],
)
def test_given_if_multiple_values_max_values_must_be_in_its_range(
    if_multiple_values: str, max_values: int, accepted: bool
) -> None:
    data = text_variable(if_multiple_values=if_multiple_values, max_values=max_values)

    if accepted:
        assert VariableInput.model_validate(data).max_values == max_values
    else:
        assert list(violations(data)) == ["variable.max_values"]


@pytest.mark.parametrize("type_", ["NUMBER", "DATE", "BOOLEAN", "CATEGORY"])
def test_given_concatenate_on_a_non_text_variable_it_is_refused(type_: str) -> None:
    data = typed_variable(type_, {}, if_multiple_values="CONCATENATE", max_values=3)

    assert only_violation(data) == (
        "variable.if_multiple_values",
        "CONCATENATE applies to TEXT variables only",
    )


def test_given_use_default_without_a_default_value_validation_names_default_value() -> None:
    data = text_variable(if_uncertain="USE_DEFAULT")

    assert only_violation(data) == (
        "variable.default_value",
        "required when if_uncertain is USE_DEFAULT",
    )


def test_given_use_default_with_a_default_value_it_is_accepted() -> None:
    data = text_variable(if_uncertain="USE_DEFAULT", default_value="unknown")

    assert VariableInput.model_validate(data).default_value == "unknown"


# --- default value --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "rules", "default_value"),
    [
        ("TEXT", {}, "unknown"),
        ("TEXT", {"min_length": 2, "max_length": 7, "pattern": "[a-z]+"}, "unknown"),
        ("NUMBER", {}, 0),
        ("NUMBER", {}, -2.5),
        ("NUMBER", {"min_value": 0, "max_value": 10, "integer_only": True}, 10),
        ("NUMBER", {"integer_only": True}, 4.0),
        ("DATE", {}, "2024-02-29"),
        ("DATE", {"min_date": "2024-01-01", "max_date": "2024-12-31"}, "2024-01-01"),
        ("BOOLEAN", {}, False),
        ("CATEGORY", {}, "Opposition"),
    ],
)
def test_given_a_default_value_of_the_variables_type_it_is_accepted(
    type_: str, rules: dict[str, Any], default_value: Any
) -> None:
    variable = VariableInput.model_validate(
        typed_variable(type_, rules, default_value=default_value)
    )

    assert variable.default_value == default_value


@pytest.mark.parametrize(
    ("type_", "rules", "default_value"),
    [
        ("TEXT", {}, 3),
        ("TEXT", {}, "   "),
        ("TEXT", {"min_length": 8}, "unknown"),
        ("TEXT", {"max_length": 6}, "unknown"),
        ("TEXT", {"pattern": "[0-9]+"}, "unknown"),
        ("TEXT", {"pattern": "[a-z]"}, "unknown"),  # the whole value must match
        ("NUMBER", {}, "3"),
        ("NUMBER", {}, True),
        ("NUMBER", {}, float("nan")),
        ("NUMBER", {}, float("inf")),
        ("NUMBER", {}, 10**400),
        ("NUMBER", {"min_value": 1}, 0),
        ("NUMBER", {"max_value": 1}, 1.5),
        ("NUMBER", {"integer_only": True}, 1.5),
        ("DATE", {}, "2024-02-30"),
        ("DATE", {}, "20240105"),
        ("DATE", {}, "2024-01-05T00:00:00"),
        ("DATE", {}, 20240105),
        ("DATE", {"min_date": "2024-01-01"}, "2023-12-31"),
        ("DATE", {"max_date": "2024-01-01"}, "2024-01-02"),
        ("BOOLEAN", {}, "true"),
        ("BOOLEAN", {}, 1),
        ("CATEGORY", {}, "Independent"),
        ("CATEGORY", {}, ["Government"]),
    ],
)
def test_given_a_default_value_not_of_the_variables_type_validation_names_default_value(
    type_: str, rules: dict[str, Any], default_value: Any
) -> None:
    field, _ = only_violation(typed_variable(type_, rules, default_value=default_value))

    assert field == "variable.default_value"


def test_given_a_category_default_in_another_case_it_is_stored_as_the_label() -> None:
    variable = VariableInput.model_validate(category_variable(default_value="opposition"))

    assert variable.default_value == "Opposition"


# --- validation rules -------------------------------------------------------------------------

_RULE_EXAMPLES: dict[str, Any] = {
    "min_length": 1,
    "max_length": 100,
    "pattern": "[A-Z].*",
    "min_value": 0,
    "max_value": 100,
    "integer_only": True,
    "min_date": "2000-01-01",
    "max_date": "2030-12-31",
}
_RULES_OF = {
    "TEXT": {"min_length", "max_length", "pattern"},
    "NUMBER": {"min_value", "max_value", "integer_only"},
    "DATE": {"min_date", "max_date"},
    "BOOLEAN": set(),
    "CATEGORY": set(),
}


@pytest.mark.parametrize(
    ("type_", "rule"),
    [(type_, rule) for type_, rules in _RULES_OF.items() for rule in sorted(rules)],
)
def test_given_a_validation_rule_of_the_variables_type_it_is_accepted(
    type_: str, rule: str
) -> None:
    variable = VariableInput.model_validate(typed_variable(type_, {rule: _RULE_EXAMPLES[rule]}))

    assert variable.to_columns()["validation_rules"] == {rule: _RULE_EXAMPLES[rule]}


@pytest.mark.parametrize(
    ("type_", "rule"),
    [
        (type_, rule)
        for type_, rules in _RULES_OF.items()
        for rule in sorted(_RULE_EXAMPLES)
        if rule not in rules
    ],
)
def test_given_a_validation_rule_of_another_type_validation_names_that_rule(
    type_: str, rule: str
) -> None:
    field, description = only_violation(typed_variable(type_, {rule: _RULE_EXAMPLES[rule]}))

    assert field == f"variable.validation_rules.{rule}"
    assert description.startswith("applies to ")


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"min_length": -1}, "min_length"),
        ({"max_length": -1}, "max_length"),
        ({"min_length": 5, "max_length": 4}, "max_length"),
        ({"pattern": "[a-z"}, "pattern"),
        ({"pattern": "(" * 600 + ")" * 600}, "pattern"),
        ({"pattern": "a" * 1001}, "pattern"),
        # RE2 (linear time) cannot run these: refused when the variable is defined.
        ({"pattern": r"(a)\1"}, "pattern"),
        ({"pattern": r"a(?=b)"}, "pattern"),
    ],
)
def test_given_malformed_text_rules_validation_names_the_rule(
    rules: dict[str, Any], field: str
) -> None:
    assert list(violations(text_variable(validation_rules=rules))) == [
        f"variable.validation_rules.{field}"
    ]


def test_given_equal_length_bounds_and_a_1000_character_pattern_they_are_accepted() -> None:
    rules = {"min_length": 3, "max_length": 3, "pattern": "a" * 1000}

    VariableInput.model_validate(text_variable(validation_rules=rules))


def test_given_a_pattern_with_surrounding_spaces_they_are_kept_and_an_empty_one_is_none() -> None:
    spaced = VariableInput.model_validate(text_variable(validation_rules={"pattern": " x "}))
    empty = VariableInput.model_validate(text_variable(validation_rules={"pattern": ""}))

    assert spaced.validation_rules.pattern == " x "
    assert empty.validation_rules.pattern is None


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"min_value": float("nan")}, "min_value"),
        ({"max_value": float("inf")}, "max_value"),
        ({"min_value": 2, "max_value": 1}, "max_value"),
    ],
)
def test_given_malformed_number_rules_validation_names_the_rule(
    rules: dict[str, Any], field: str
) -> None:
    data = text_variable(type="NUMBER", validation_rules=rules)

    assert list(violations(data)) == [f"variable.validation_rules.{field}"]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"min_date": "2024-13-01"}, "min_date"),
        ({"max_date": "01/02/2024"}, "max_date"),
        ({"min_date": "2024-W01-1"}, "min_date"),
        ({"min_date": "2024-06-01", "max_date": "2024-05-31"}, "max_date"),
    ],
)
def test_given_malformed_date_rules_validation_names_the_rule(
    rules: dict[str, Any], field: str
) -> None:
    data = text_variable(type="DATE", validation_rules=rules)

    assert list(violations(data)) == [f"variable.validation_rules.{field}"]


# --- depends_on -------------------------------------------------------------------------------


def test_given_a_dependency_listed_twice_the_repetition_is_refused() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    data = text_variable(depends_on=[str(first), str(second), str(first)])

    assert only_violation(data) == ("variable.depends_on[2]", "repeats depends_on[0]")


def test_given_a_dependency_that_is_not_a_uuid_it_is_refused() -> None:
    data = text_variable(depends_on=[str(uuid.uuid4()), "speaker"])

    assert only_violation(data) == ("variable.depends_on[1]", "must be a UUID")


A, B, C, D = (uuid.UUID(int=n) for n in range(1, 5))


def dependency_violations(
    variable_id: uuid.UUID | None,
    depends_on: list[uuid.UUID],
    graph: dict[uuid.UUID, list[uuid.UUID]],
) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as caught:
        check_dependencies(variable_id, depends_on, graph, known_ids=set(graph))
    return caught.value.violations


def test_given_dependencies_on_the_projects_variables_they_are_accepted() -> None:
    graph: dict[uuid.UUID, list[uuid.UUID]] = {A: [], B: [A], C: [A, B]}

    check_dependencies(None, [B, C], graph, known_ids=set(graph))  # a new variable
    check_dependencies(D, [C], {**graph, D: []}, known_ids={A, B, C, D})


def test_given_a_dependency_outside_the_project_it_is_refused_like_a_missing_one() -> None:
    elsewhere = uuid.uuid4()

    found = dependency_violations(None, [A, elsewhere], {A: [], B: []})

    assert found == [
        FieldViolation("variable.depends_on", f"no variable {elsewhere} in this project")
    ]


def test_given_a_variable_depending_on_itself_it_is_refused() -> None:
    found = dependency_violations(A, [A], {A: [], B: []})

    assert found == [FieldViolation("variable.depends_on", "a variable cannot depend on itself")]


def test_given_a_dependency_that_closes_a_cycle_it_is_refused_with_the_cycle() -> None:
    # B depends on A, C on B; making A depend on C closes A -> C -> B -> A.
    found = dependency_violations(A, [C], {A: [], B: [A], C: [B]})

    assert found == [
        FieldViolation("variable.depends_on", f"would create a cycle: {A} -> {C} -> {B} -> {A}")
    ]


def test_given_a_diamond_of_dependencies_it_is_no_cycle() -> None:
    graph: dict[uuid.UUID, list[uuid.UUID]] = {A: [], B: [A], C: [A], D: [B]}

    check_dependencies(D, [B, C], graph, known_ids=set(graph))


def test_given_an_update_the_variables_old_dependencies_are_replaced_not_added() -> None:
    # A used to depend on B; it now depends on nothing, so B may depend on A.
    graph: dict[uuid.UUID, list[uuid.UUID]] = {A: [B], B: []}

    check_dependencies(B, [A], {A: [], B: []}, known_ids=set(graph))
    with pytest.raises(InvalidArgument):
        check_dependencies(B, [A], graph, known_ids=set(graph))


# --- dataset columns ----------------------------------------------------------------------------


def test_given_all_values_the_export_columns_are_numbered() -> None:
    assert dataset_columns("party", IfMultipleValues.ALL, 3) == ("party_1", "party_2", "party_3")
    assert dataset_columns("party", IfMultipleValues.CONCATENATE, 3) == ("party",)


def test_given_a_name_equal_to_another_variables_numbered_column_it_is_refused() -> None:
    project_columns = {A: dataset_columns("party", IfMultipleValues.ALL, 3)}

    with pytest.raises(InvalidArgument) as caught:
        check_column_names(None, ["Party_2"], project_columns)

    assert caught.value.violations == [
        FieldViolation("variable.name", "its column Party_2 clashes with the column party_2")
    ]


def test_given_distinct_columns_or_the_variables_own_they_are_accepted() -> None:
    project_columns = {A: ("party_1", "party_2"), B: ("speaker",)}

    check_column_names(None, ["party_3", "q_1"], project_columns)
    check_column_names(A, ["party_1", "party_2", "party_3"], project_columns)


# --- what the service stores ----------------------------------------------------------------


def test_to_columns_gives_the_variable_models_columns_with_plain_json() -> None:
    dependency = uuid.uuid4()
    variable = VariableInput.model_validate(
        category_variable(
            default_value="Government",
            if_uncertain="USE_DEFAULT",
            depends_on=[str(dependency)],
            validation_rules={},
        )
    )

    columns = variable.to_columns()

    assert set(columns) <= set(Variable.__table__.columns.keys())
    assert columns["type"] is VariableType.CATEGORY
    assert columns["classification_rules"] == {
        "categories": [
            {"label": "Government", "definition": ""},
            {"label": "Opposition", "definition": ""},
        ],
        "selection_logic": "",
    }
    assert columns["validation_rules"] == {}
    assert columns["default_value"] == "Government"
    assert columns["depends_on"] == [dependency]


def test_to_columns_keeps_only_the_validation_rules_that_are_set() -> None:
    data = text_variable(type="NUMBER", validation_rules={"min_value": 0, "max_value": None})

    assert VariableInput.model_validate(data).to_columns()["validation_rules"] == {"min_value": 0}


# --- the error a client sees ------------------------------------------------------------------


def test_given_several_bad_fields_each_is_a_violation_and_the_message_sums_them_up() -> None:
    data = text_variable(name="1x", instructions="", display_name="d" * 201, max_values=0)

    with pytest.raises(pydantic.ValidationError) as caught:
        VariableInput.model_validate(data)
    error = invalid_from_pydantic(caught.value, prefix="variable")

    assert [v.field for v in error.violations] == [
        "variable.name",
        "variable.display_name",
        "variable.instructions",
        "variable.max_values",
    ]
    assert error.message.startswith("invalid argument: variable.name: must start with a letter")
    assert error.message.endswith("(and 1 more)")


def test_given_a_plain_value_error_its_pydantic_boilerplate_is_dropped() -> None:
    class Probe(pydantic.BaseModel):
        size: int

        @pydantic.field_validator("size")
        @classmethod
        def _small(cls, size: int) -> int:
            raise ValueError("must be small")

    with pytest.raises(pydantic.ValidationError) as caught:
        Probe(size=3)

    assert invalid_from_pydantic(caught.value).violations == [
        FieldViolation("size", "must be small")
    ]


def test_given_input_that_is_no_object_the_violation_names_the_request_field() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        VariableInput.model_validate("speaker")

    assert [v.field for v in invalid_from_pydantic(caught.value, "variable").violations] == [
        "variable"
    ]


def test_a_catastrophic_pattern_checks_a_default_value_in_linear_time() -> None:
    """(a+)+b takes exponential time in a backtracking engine; RE2 answers at once."""
    rules = {"pattern": "(a+)+b"}

    found = violations(text_variable(validation_rules=rules, default_value="a" * 5000))

    assert list(found) == ["variable.default_value"]
