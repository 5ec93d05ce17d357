"""The validated input of a variable (FR-002, NFR-015): what CreateVariable and UpdateVariable
may store. For an update the service validates the merged variable (current values overlaid
with the masked new ones), so one model serves both; the checks that need the rest of the
project (unique names, dependencies) are pure functions the service calls with that data."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, TypedDict

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from server.core.errors import FieldViolation, InvalidArgument, RuleViolations, rule_error
from server.core.patterns import compile_pattern
from server.schema.models import IfMultipleValues, IfUncertain, VariableType

NAME_MAX_LENGTH = 63  # PostgreSQL truncates longer identifiers
MAX_VALUES_LIMIT = 20
PATTERN_MAX_LENGTH = 1000


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words a column may not be called because some tool a researcher opens the dataset with
# reserves it. Compared case-insensitively: names are unique case-insensitively and SQL and
# SPSS ignore case, so one rule for all is simpler than per-tool case rules.
_SQL_RESERVED = _words(
    # PostgreSQL's reserved key words, including those reserved "(can be function or type)".
    "all analyse analyze and any array as asc asymmetric authorization binary both case cast "
    "check collate collation column concurrently constraint create cross current_catalog "
    "current_date current_role current_schema current_time current_timestamp current_user "
    "default deferrable desc distinct do else end except false fetch for foreign freeze from "
    "full grant group having ilike in initially inner intersect into is isnull join lateral "
    "leading left like limit localtime localtimestamp natural not notnull null offset on only "
    "or order outer overlaps placing primary references returning right select session_user "
    "similar some symmetric system_user table tablesample then to trailing true union unique "
    "user using variadic verbose when where window with "
    # The other words SQLite refuses as a column name (checked with SQLite 3.40) ...
    "add alter autoincrement between commit delete drop escape exists index insert nothing set "
    "transaction update values "
    # ... and two that MySQL and SQL Server reserve.
    "by key"
)
# R's reserved words (?Reserved).
_R_RESERVED = _words(
    "if else repeat while function for next break true false null inf nan na na_integer_ "
    "na_real_ na_character_ na_complex_ in"
)
# Stata's reserved names without the ones starting with "_" (refused anyway); str1..str2045
# are reserved too, see _is_stata_string_type.
_STATA_RESERVED = _words("byte double float if in int long strl using with")
# SPSS's reserved keywords.
_SPSS_RESERVED = _words("all and by eq ge gt le lt ne not or to with")
_RESERVED_NAMES = _SQL_RESERVED | _R_RESERVED | _STATA_RESERVED | _SPSS_RESERVED

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_STATA_STRING_TYPE = re.compile(r"str([1-9][0-9]{0,3})", re.IGNORECASE)
# Python's date.fromisoformat also takes 20240105 and 2024-W01-1; the contract says YYYY-MM-DD.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _is_stata_string_type(name: str) -> bool:
    match = _STATA_STRING_TYPE.fullmatch(name)
    return match is not None and int(match.group(1)) <= 2045


def _check_column_name(name: str) -> str:
    """A dataset column name that CSV, Excel, SQL, R, Stata and SPSS all take unquoted.

    Names ending in _<digits> (q_1, wave_2) are allowed: they are common in survey data, and
    the only clash they risk, with another variable's generated name_1..name_N columns, is
    between variables of one project, which check_column_names finds.
    """
    if not _NAME.fullmatch(name):
        raise rule_error(
            "must start with a letter and contain only letters, digits and underscores"
        )
    if name.endswith("_"):
        # SPSS creates variables ending in "_" itself and advises against such names.
        raise rule_error("must not end with an underscore")
    if name.lower() in _RESERVED_NAMES or _is_stata_string_type(name):
        raise rule_error(f"{name!r} is a reserved word in SQL, R, Stata or SPSS")
    return name


def _parse_iso_date(value: str) -> dt.date | None:
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _check_iso_date(value: str) -> str:
    if _parse_iso_date(value) is None:
        raise rule_error("must be a date written YYYY-MM-DD")
    return value


_IsoDate = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_iso_date)]


def _repeats(keys: Iterable[Hashable]) -> Iterator[tuple[int, int]]:
    """(index, index of its first occurrence) for each key that occurred before."""
    first_index: dict[Hashable, int] = {}
    for index, key in enumerate(keys):
        first = first_index.setdefault(key, index)
        if first != index:
            yield index, first


def _text(max_length: int, *, required: bool = False) -> StringConstraints:
    # Stripped before the length checks, so a required field of blanks is too short.
    return StringConstraints(
        strip_whitespace=True, min_length=1 if required else None, max_length=max_length
    )


class CategoryInput(BaseModel):
    """One category of a CATEGORY variable."""

    label: Annotated[str, _text(200, required=True)]
    definition: Annotated[str, _text(2000)] = ""


class ClassificationRulesInput(BaseModel):
    """The categories of a CATEGORY variable; how many are needed is the variable's rule."""

    categories: list[CategoryInput] = Field(default_factory=list)
    # The contract sets no limit; this is the project description's.
    selection_logic: Annotated[str, _text(5000)] = ""

    @model_validator(mode="after")
    def _labels_are_unique(self) -> ClassificationRulesInput:
        violations = RuleViolations()
        for index, first in _repeats(c.label.casefold() for c in self.categories):
            violations.add(
                ("categories", index, "label"),
                f"repeats the label of categories[{first}] (labels are compared ignoring case)",
                self.categories[index].label,
            )
        violations.raise_if_any(type(self).__name__)
        return self

    def is_empty(self) -> bool:
        return not self.categories and not self.selection_logic


class ValidationRulesInput(BaseModel):
    """Constraints on an extracted value; which fields a type may use is the variable's rule."""

    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    # Not stripped: whitespace is part of what a regular expression matches.
    pattern: Annotated[str, StringConstraints(max_length=PATTERN_MAX_LENGTH)] | None = None
    min_value: float | None = Field(default=None, allow_inf_nan=False)
    max_value: float | None = Field(default=None, allow_inf_nan=False)
    integer_only: bool | None = None
    min_date: _IsoDate | None = None
    max_date: _IsoDate | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if not pattern:
            return None  # an empty pattern would only admit the empty string: read it as none
        # Patterns run on model output with RE2 (linear time: no ReDoS), so they are checked
        # with it too: backreferences and lookaround are refused here, not at extraction.
        try:
            compile_pattern(pattern)
        except ValueError as error:
            raise rule_error(str(error)) from None
        return pattern

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> ValidationRulesInput:
        violations = RuleViolations()
        for low, high in (
            ("min_length", "max_length"),
            ("min_value", "max_value"),
            ("min_date", "max_date"),
        ):
            low_value, high_value = getattr(self, low), getattr(self, high)
            # ISO dates order like the dates they name.
            if low_value is not None and high_value is not None and low_value > high_value:
                violations.add((high,), f"must not be less than {low} ({low_value})", high_value)
        violations.raise_if_any(type(self).__name__)
        return self

    def set_fields(self) -> list[str]:
        """The names of the rules given (not None)."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


# Which validation rules each type may carry.
_RULES_BY_TYPE: Mapping[VariableType, frozenset[str]] = {
    VariableType.TEXT: frozenset({"min_length", "max_length", "pattern"}),
    VariableType.NUMBER: frozenset({"min_value", "max_value", "integer_only"}),
    VariableType.DATE: frozenset({"min_date", "max_date"}),
    VariableType.BOOLEAN: frozenset(),
    VariableType.CATEGORY: frozenset(),
}
# The type whose variables may carry each validation rule.
_RULE_TYPE = {rule: type_ for type_, rules in _RULES_BY_TYPE.items() for rule in rules}
# The allowed max_values for each if_multiple_values.
_MAX_VALUES_RANGE: Mapping[IfMultipleValues, tuple[int, int]] = {
    IfMultipleValues.FIRST: (1, 1),
    IfMultipleValues.MOST_CONFIDENT: (1, 1),
    IfMultipleValues.ALL: (2, MAX_VALUES_LIMIT),
    IfMultipleValues.CONCATENATE: (1, MAX_VALUES_LIMIT),
}


class VariableValues(TypedDict, total=False):
    """A Variable message's researcher-set fields in domain types, as the servicer reads them
    (VariableInput validates them): a field the message leaves unset is absent, so that its
    default applies."""

    name: str
    display_name: str
    instructions: str
    type: VariableType | None
    depends_on: list[uuid.UUID]
    default_value: Any
    classification_rules: dict[str, Any]
    validation_rules: dict[str, Any]
    confidence_threshold: float
    max_values: int
    if_uncertain: IfUncertain
    if_multiple_values: IfMultipleValues


class VariableInput(BaseModel):
    """A variable's researcher-editable fields, keyed by their proto (and ORM column) names."""

    # The servicer may pass the whole Variable message's fields; output-only ones (id,
    # project_id, order, times) are ignored, as the contract says, rather than refused.
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, _text(NAME_MAX_LENGTH, required=True), AfterValidator(_check_column_name)]
    display_name: Annotated[str, _text(200)] = ""
    type: VariableType
    instructions: Annotated[str, _text(10000, required=True)]
    classification_rules: ClassificationRulesInput | None = None
    confidence_threshold: float = Field(default=0.7, ge=0, le=1, allow_inf_nan=False)
    if_uncertain: IfUncertain = IfUncertain.FLAG_FOR_REVIEW
    if_multiple_values: IfMultipleValues = IfMultipleValues.FIRST
    max_values: int = Field(default=1, ge=1, le=MAX_VALUES_LIMIT)
    # Any JSON value; its type is checked against the variable's below. None: no default.
    default_value: Any = None
    validation_rules: ValidationRulesInput = Field(default_factory=ValidationRulesInput)
    depends_on: list[uuid.UUID] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _none_means_default(cls, data: Any) -> Any:
        # The servicer turns unset proto3 optionals and UNSPECIFIED enums into None; the
        # contract gives them their documented defaults (and a missing required field
        # reads "required" rather than a type error).
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @field_validator("default_value", mode="before")
    @classmethod
    def _strip_default_text(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("depends_on")
    @classmethod
    def _no_repeated_dependencies(cls, depends_on: list[uuid.UUID]) -> list[uuid.UUID]:
        violations = RuleViolations()
        for index, first in _repeats(depends_on):
            violations.add((index,), f"repeats depends_on[{first}]", str(depends_on[index]))
        violations.raise_if_any("depends_on")
        return depends_on

    @model_validator(mode="after")
    def _fields_agree(self) -> VariableInput:
        violations = RuleViolations()
        self._check_classification_rules(violations)
        self._check_multiple_values(violations)
        self._check_validation_rules(violations)
        self._check_default_value(violations)
        violations.raise_if_any(type(self).__name__)
        return self

    def _check_classification_rules(self, violations: RuleViolations) -> None:
        rules = self.classification_rules
        if self.type is not VariableType.CATEGORY:
            if rules is not None and not rules.is_empty():
                violations.add(
                    ("classification_rules",), f"must be empty for {self.type.value} variables"
                )
            self.classification_rules = None
        elif rules is None:
            violations.add(("classification_rules",), "required for CATEGORY variables")
        elif len(rules.categories) < 2:
            violations.add(
                ("classification_rules", "categories"),
                "a CATEGORY variable needs at least two categories",
                len(rules.categories),
            )

    def _check_multiple_values(self, violations: RuleViolations) -> None:
        mode = self.if_multiple_values
        if mode is IfMultipleValues.CONCATENATE and self.type is not VariableType.TEXT:
            violations.add(("if_multiple_values",), "CONCATENATE applies to TEXT variables only")
        low, high = _MAX_VALUES_RANGE[mode]
        if not low <= self.max_values <= high:
            allowed = str(low) if low == high else f"between {low} and {high}"
            violations.add(
                ("max_values",), f"must be {allowed} when if_multiple_values is {mode.value}"
            )
        elif mode is IfMultipleValues.ALL:
            # The wide export's name_1..name_N columns must fit the column name limit too.
            limit = NAME_MAX_LENGTH - len(f"_{self.max_values}")
            if len(self.name) > limit:
                violations.add(
                    ("name",),
                    f"must be at most {limit} characters for {self.max_values} values: the "
                    f"export adds _1.._{self.max_values} to it",
                )

    def _check_validation_rules(self, violations: RuleViolations) -> None:
        for rule in self.validation_rules.set_fields():
            if _RULE_TYPE[rule] is not self.type:
                violations.add(
                    ("validation_rules", rule),
                    f"applies to {_RULE_TYPE[rule].value} variables only",
                )

    def _check_default_value(self, violations: RuleViolations) -> None:
        if self.default_value is None:
            if self.if_uncertain is IfUncertain.USE_DEFAULT:
                violations.add(("default_value",), "required when if_uncertain is USE_DEFAULT")
            return
        problem = _DEFAULT_VALUE_CHECKS[self.type](self)
        if problem is not None:
            violations.add(("default_value",), problem, self.default_value)
        elif self.type is VariableType.CATEGORY:
            # Stored in the label's own spelling: the dataset shows one spelling per category.
            self.default_value = _category_label(self)

    def to_columns(self) -> dict[str, Any]:
        """The values keyed by the columns of server.schema.models.Variable: JSON columns as
        plain dicts (validation rules without the unset ones), enums as the models' enums."""
        columns = self.model_dump(exclude={"classification_rules", "validation_rules"})
        columns["classification_rules"] = (
            None if self.classification_rules is None else self.classification_rules.model_dump()
        )
        columns["validation_rules"] = self.validation_rules.model_dump(exclude_none=True)
        return columns


# Each returns what is wrong with the variable's default_value (known not to be None), or None.


def _text_default_problem(variable: VariableInput) -> str | None:
    value, rules = variable.default_value, variable.validation_rules
    if not isinstance(value, str):
        return "must be a string for a TEXT variable"
    if not value:
        return "must not be blank (leave it unset for no default)"
    if rules.min_length is not None and len(value) < rules.min_length:
        return f"must have at least {rules.min_length} characters (validation_rules.min_length)"
    if rules.max_length is not None and len(value) > rules.max_length:
        return f"must have at most {rules.max_length} characters (validation_rules.max_length)"
    if rules.pattern is not None and not compile_pattern(rules.pattern).fullmatch(value):
        return "must match validation_rules.pattern"
    return None


def _number_default_problem(variable: VariableInput) -> str | None:
    value, rules = variable.default_value, variable.validation_rules
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number for a NUMBER variable"
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond any double
        return "must be a finite number"
    if not math.isfinite(as_float):
        return "must be a finite number"
    if rules.min_value is not None and as_float < rules.min_value:
        return f"must be at least {rules.min_value:g} (validation_rules.min_value)"
    if rules.max_value is not None and as_float > rules.max_value:
        return f"must be at most {rules.max_value:g} (validation_rules.max_value)"
    if rules.integer_only and not as_float.is_integer():
        return "must be a whole number (validation_rules.integer_only)"
    return None


def _date_default_problem(variable: VariableInput) -> str | None:
    value, rules = variable.default_value, variable.validation_rules
    date = _parse_iso_date(value) if isinstance(value, str) else None
    if date is None:
        return "must be a date written YYYY-MM-DD for a DATE variable"
    if rules.min_date is not None and value < rules.min_date:
        return f"must not be before {rules.min_date} (validation_rules.min_date)"
    if rules.max_date is not None and value > rules.max_date:
        return f"must not be after {rules.max_date} (validation_rules.max_date)"
    return None


def _boolean_default_problem(variable: VariableInput) -> str | None:
    if not isinstance(variable.default_value, bool):
        return "must be true or false for a BOOLEAN variable"
    return None


def _category_label(variable: VariableInput) -> str | None:
    """The category label that default_value names, ignoring case (labels are unique so)."""
    value, rules = variable.default_value, variable.classification_rules
    if not isinstance(value, str) or rules is None:
        return None
    return next((c.label for c in rules.categories if c.label.casefold() == value.casefold()), None)


def _category_default_problem(variable: VariableInput) -> str | None:
    if variable.classification_rules is None:
        return None  # the missing categories are reported already
    if _category_label(variable) is None:
        return "must be one of the category labels"
    return None


_DEFAULT_VALUE_CHECKS = {
    VariableType.TEXT: _text_default_problem,
    VariableType.NUMBER: _number_default_problem,
    VariableType.DATE: _date_default_problem,
    VariableType.BOOLEAN: _boolean_default_problem,
    VariableType.CATEGORY: _category_default_problem,
}


def dataset_columns(
    name: str, if_multiple_values: IfMultipleValues, max_values: int
) -> tuple[str, ...]:
    """The wide export's data columns of a variable: its name, or name_1..name_N for ALL."""
    if if_multiple_values is IfMultipleValues.ALL:
        return tuple(f"{name}_{n}" for n in range(1, max_values + 1))
    return (name,)


def check_column_names(
    variable_id: uuid.UUID | None,
    columns: Sequence[str],
    project_columns: Mapping[uuid.UUID, Sequence[str]],
) -> None:
    """Refuses a variable whose dataset columns (see dataset_columns) clash, ignoring case,
    with those of the project's other variables, e.g. "party_1" beside "party" kept as ALL.

    variable_id is None for a new variable; project_columns maps each variable of the
    project to its columns. Raises InvalidArgument with field variable.name.
    """
    taken = {
        column.casefold(): column
        for other_id, other_columns in project_columns.items()
        if other_id != variable_id
        for column in other_columns
    }
    violations = [
        FieldViolation("variable.name", f"its column {column} clashes with the column {taken[key]}")
        for column in columns
        if (key := column.casefold()) in taken
    ]
    if violations:
        raise InvalidArgument.from_violations(violations)


def check_dependencies(
    variable_id: uuid.UUID | None,
    depends_on: list[uuid.UUID],
    graph: Mapping[uuid.UUID, Sequence[uuid.UUID]],
    known_ids: set[uuid.UUID],
) -> None:
    """Refuses dependencies on variables outside the project, on the variable itself, and
    ones that would close a cycle.

    variable_id is None for a new variable (nothing can depend on it yet); graph maps each
    variable of the project to its current depends_on; known_ids are the project's variable
    ids. Raises InvalidArgument with field variable.depends_on.
    """
    field = "variable.depends_on"
    violations: list[FieldViolation] = []
    for dependency in depends_on:
        if dependency == variable_id:
            violations.append(FieldViolation(field, "a variable cannot depend on itself"))
        elif dependency not in known_ids:
            # Another tenant's or project's variable reads exactly like a missing one.
            violations.append(FieldViolation(field, f"no variable {dependency} in this project"))
    if not violations and variable_id is not None:
        cycle = _cycle_through(variable_id, depends_on, graph)
        if cycle is not None:
            path = " -> ".join(str(node) for node in cycle)
            violations.append(FieldViolation(field, f"would create a cycle: {path}"))
    if violations:
        raise InvalidArgument.from_violations(violations)


def _cycle_through(
    variable_id: uuid.UUID,
    depends_on: Sequence[uuid.UUID],
    graph: Mapping[uuid.UUID, Sequence[uuid.UUID]],
) -> list[uuid.UUID] | None:
    """A dependency path from the variable back to itself once its edges are depends_on."""
    stack: list[list[uuid.UUID]] = [[variable_id]]
    seen = {variable_id}
    while stack:
        path = stack.pop()
        node = path[-1]
        for dependency in depends_on if node == variable_id else graph.get(node, ()):
            if dependency == variable_id:
                return [*path, dependency]
            if dependency not in seen:
                seen.add(dependency)
                stack.append([*path, dependency])
    return None
