"""Post-processing (FR-022): the model's answers for one (unit, variable) — one per chunk, or
one for the whole document — become the stored value, status, confidence and evidence.

- Not stated in any answer (found false, or no value): NOT_FOUND, with the variable's default
  value (or None) and the highest confidence of the answers. Not stated is never
  LOW_CONFIDENCE.
- Each value is coerced to the variable's type (NUMBER, DATE, BOOLEAN, CATEGORY, TEXT); a value
  that cannot be is dropped, and when none is left the outcome is FAILED, naming the value.
  A date given as a month or a year reads as its first day, with confidence at most 0.5.
- Single-valued variables keep one value: FIRST the earliest (chunk, then position),
  MOST_CONFIDENT the most confident (the earliest of equals). ALL and CONCATENATE keep every
  distinct value in order of appearance, up to max_values, each with the highest confidence
  it was given; the confidence is the lowest kept. ALL stores a list, CONCATENATE the values
  joined with "; ".
- Flags (status LOW_CONFIDENCE, the reasons joined in error): a quoted passage that is not in
  the document or missing, first, because a reviewer must see it first; confidence below the
  threshold, where if_uncertain decides the value (FLAG_FOR_REVIEW keeps it, LEAVE_EMPTY
  stores None, USE_DEFAULT the default value); violated validation rules, which never change
  the value. Otherwise SUCCESS.
- BEST_GUESS is the researcher's choice to take the model's reading below the threshold as the
  answer: the value is kept, not flagged (SUCCESS unless another flag applies) and marked
  best_guess, so the dataset can tell a guess from a confident value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, TypeGuard

from server.core.patterns import compile_pattern
from server.jobs.evidence import NO_QUOTE, Evidence, ValueEvidence, locate, weakest
from server.jobs.models import EvidenceMatch, ExtractionStatus
from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType
from server.schema.prompts import category_labels

CONCATENATE_SEPARATOR = "; "
# A date the document gives only as a month or a year is never more certain than this.
PARTIAL_DATE_MAX_CONFIDENCE = 0.5
QUOTE_NOT_FOUND = "the quoted passage is not in the document"
QUOTE_MISSING = "the value has no quoted passage"
_REASON_SEPARATOR = "; "
_SHOWN_VALUE_LENGTH = 80

# A number as people write it: a sign (also the minus sign and the en dash), thousands
# separated by commas, spaces or apostrophes, a decimal point, an exponent.
_THOUSANDS_SEPARATOR = re.compile("[,\u00a0\u202f' ]")
_NUMBER = re.compile(
    r"[+\-\u2212\u2013]?"
    r"(?:(?:\d{1,3}(?:[,\u00a0\u202f' ]\d{3})+|\d+)(?:\.\d*)?|\.\d+)"
    r"(?:[eE][+\-]?\d+)?"
)
_UNITS_AROUND_NUMBER = "$€£¥%‰ \u00a0\u202f"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEAR = re.compile(r"\d{4}")
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


@dataclass(frozen=True)
class VariableRules:
    """What post-processing needs of a variable, detached from the ORM object."""

    type: VariableType
    categories: tuple[str, ...]
    confidence_threshold: float
    if_uncertain: IfUncertain
    if_multiple_values: IfMultipleValues
    max_values: int
    default_value: Any
    validation_rules: Mapping[str, Any]

    @classmethod
    def of(cls, variable: Variable) -> VariableRules:
        return cls(
            type=variable.type,
            categories=tuple(category_labels(variable)),
            confidence_threshold=variable.confidence_threshold,
            if_uncertain=variable.if_uncertain,
            if_multiple_values=variable.if_multiple_values,
            max_values=variable.max_values,
            default_value=variable.default_value,
            validation_rules=dict(variable.validation_rules or {}),
        )

    @property
    def multi_valued(self) -> bool:
        # The rule of server.schema.prompts.is_multi_valued, which shapes the answer.
        return (
            self.if_multiple_values in (IfMultipleValues.ALL, IfMultipleValues.CONCATENATE)
            and self.max_values > 1
        )


@dataclass(frozen=True)
class Candidate:
    """One value an answer gives, with the passage it quotes for it."""

    value: Any
    confidence: float
    source_text: str | None
    chunk_index: int
    position: int  # order within its answer


@dataclass(frozen=True)
class Answer:
    """One model answer (one call: one chunk, or the whole document)."""

    found: bool
    candidates: tuple[Candidate, ...]
    confidence: float

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, multi_valued: bool, chunk_index: int = 0) -> Answer:
        """Read an answer that is valid against the variable's response schema. A value that
        is null or blank is no value; an answer that is not found has none."""
        found = bool(data.get("found"))
        confidence = _clamp(float(data.get("confidence") or 0.0))
        values, quotes = data.get("value"), data.get("source_text")
        if not multi_valued:
            values, quotes = [values], [quotes]
        values = values if isinstance(values, list) else [values]
        quotes = quotes if isinstance(quotes, list) else [quotes]
        candidates = tuple(
            Candidate(
                value=value,
                confidence=confidence,
                source_text=quotes[position] if position < len(quotes) else None,
                chunk_index=chunk_index,
                position=position,
            )
            for position, value in enumerate(values)
            if found and not _is_blank(value)
        )
        return cls(found=found, candidates=candidates, confidence=confidence)


@dataclass(frozen=True)
class Outcome:
    """What is stored for one (unit, variable)."""

    value: Any
    status: ExtractionStatus
    confidence: float | None
    # The first value's quote and where it was found.
    source_text: str | None
    evidence: Evidence
    error: str | None
    # A value kept below the confidence threshold because if_uncertain is BEST_GUESS.
    best_guess: bool = False
    # Each value's quote, in the order of the values (one for a single value; none when
    # nothing was stated).
    value_evidence: tuple[ValueEvidence, ...] = ()

    @property
    def evidence_match(self) -> EvidenceMatch:
        """The extraction's evidence: its least supported value's."""
        if not self.value_evidence:
            return self.evidence.match
        return weakest([item.evidence for item in self.value_evidence]).match


def decide(
    answers: Sequence[Answer],
    rules: VariableRules,
    document_text: str,
    chunk_spans: Sequence[tuple[int, int]] | None = None,
) -> Outcome:
    """Turn the answers for one (unit, variable) into its outcome (see the module's rules).
    chunk_spans[i] is the span of chunk i in document_text, where its quotes are looked for
    first."""
    stated = [
        candidate
        for answer in answers
        if answer.found
        for candidate in answer.candidates
        if not _is_blank(candidate.value)
    ]
    if not stated:
        return Outcome(
            value=rules.default_value,
            status=ExtractionStatus.NOT_FOUND,
            confidence=max((answer.confidence for answer in answers), default=None),
            source_text=None,
            evidence=NO_QUOTE,
            error=None,
        )
    stated.sort(key=_appearance)

    usable: list[Candidate] = []
    problems: list[str] = []
    for candidate in stated:
        coerced = _COERCIONS[rules.type](candidate, rules)
        if isinstance(coerced, str):
            problems.append(coerced)
        else:
            usable.append(coerced)
    if not usable:
        first = stated[0]
        evidence = _locate(first, document_text, chunk_spans)
        return Outcome(
            value=None,
            status=ExtractionStatus.FAILED,
            confidence=max(candidate.confidence for candidate in stated),
            source_text=_quote(first),
            evidence=evidence,
            error=_REASON_SEPARATOR.join(dict.fromkeys(problems)),
            value_evidence=(ValueEvidence(_quote(first), evidence),),
        )

    kept = _select(usable, rules)
    confidence = min(candidate.confidence for candidate in kept)
    values = [candidate.value for candidate in kept]
    value: Any
    if not rules.multi_valued:
        value = values[0]
    elif rules.if_multiple_values is IfMultipleValues.CONCATENATE:
        value = CONCATENATE_SEPARATOR.join(_as_text(item) for item in values)
    else:
        value = values

    evidences = [_locate(candidate, document_text, chunk_spans) for candidate in kept]
    flags: list[str] = []
    if any(evidence.match is EvidenceMatch.NOT_FOUND for evidence in evidences):
        flags.append(QUOTE_NOT_FOUND)
    if any(evidence.match is EvidenceMatch.NO_QUOTE for evidence in evidences):
        flags.append(QUOTE_MISSING)
    uncertain = confidence < rules.confidence_threshold
    best_guess = uncertain and rules.if_uncertain is IfUncertain.BEST_GUESS
    if uncertain and not best_guess:
        flags.append(
            f"confidence {confidence:g} is below the threshold {rules.confidence_threshold:g}"
        )
        value = _if_uncertain(value, rules)
    for item in values:
        flags.extend(_violations(item, rules))

    return Outcome(
        value=value,
        status=ExtractionStatus.LOW_CONFIDENCE if flags else ExtractionStatus.SUCCESS,
        confidence=confidence,
        source_text=_quote(kept[0]),
        evidence=evidences[0],
        error=_REASON_SEPARATOR.join(flags) if flags else None,
        best_guess=best_guess,
        value_evidence=tuple(
            ValueEvidence(_quote(candidate), evidence)
            for candidate, evidence in zip(kept, evidences, strict=True)
        ),
    )


# --- selection ----------------------------------------------------------------------------


def _appearance(candidate: Candidate) -> tuple[int, int]:
    return candidate.chunk_index, candidate.position


def _select(candidates: list[Candidate], rules: VariableRules) -> list[Candidate]:
    """The values kept, from usable candidates in order of appearance."""
    if not rules.multi_valued:
        if rules.if_multiple_values is IfMultipleValues.MOST_CONFIDENT:
            # max() returns the first of equals: the earliest.
            return [max(candidates, key=lambda candidate: candidate.confidence)]
        return [candidates[0]]
    distinct: dict[Any, Candidate] = {}
    for candidate in candidates:
        key = _identity(candidate.value)
        known = distinct.get(key)
        if known is None:
            distinct[key] = candidate
        elif candidate.confidence > known.confidence:
            # The first appearance stays (its place and quote); the surer reading counts.
            distinct[key] = replace(known, confidence=candidate.confidence)
    return list(distinct.values())[: rules.max_values]


def _identity(value: Any) -> Any:
    """Values that are the same value: text ignoring case and spacing, numbers by value."""
    if isinstance(value, str):
        return ("text", " ".join(value.casefold().split()))
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)  # 12 == 12.0, and their hashes agree
    return ("other", json.dumps(value, sort_keys=True, default=str))


def _if_uncertain(value: Any, rules: VariableRules) -> Any:
    """The value flagged as uncertain (BEST_GUESS is not flagged: see decide)."""
    match rules.if_uncertain:
        case IfUncertain.LEAVE_EMPTY:
            return None
        case IfUncertain.USE_DEFAULT:
            return rules.default_value
        case IfUncertain.FLAG_FOR_REVIEW | IfUncertain.BEST_GUESS:
            return value


def _locate(
    candidate: Candidate, document_text: str, chunk_spans: Sequence[tuple[int, int]] | None
) -> Evidence:
    within = None
    if chunk_spans is not None and 0 <= candidate.chunk_index < len(chunk_spans):
        within = chunk_spans[candidate.chunk_index]
    return locate(candidate.source_text, document_text, within=within)


def _quote(candidate: Candidate) -> str | None:
    quote = candidate.source_text
    return quote if quote is not None and quote.strip() else None


# --- coercion -----------------------------------------------------------------------------
# Each returns the coerced candidate, or a message naming the value that cannot be coerced.


def _coerce_number(candidate: Candidate, rules: VariableRules) -> Candidate | str:
    value = candidate.value
    number: int | float | None = None
    if isinstance(value, bool):
        number = None  # a bool is an int in Python, not a number in JSON
    elif isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        number = _parse_number(value)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        return f"{_show(value)} is not a number"
    # 12.0 is stored as 12: one spelling per number in the dataset.
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        number = int(number)
    return replace(candidate, value=number)


def _parse_number(text: str) -> int | float | None:
    """Digits as people write them: "1,234.5", "12 %", "$40", with a minus sign or not."""
    stripped = text.strip().strip(_UNITS_AROUND_NUMBER)
    if _NUMBER.fullmatch(stripped) is None:
        return None
    plain = _THOUSANDS_SEPARATOR.sub("", stripped).replace("\u2212", "-").replace("\u2013", "-")
    try:
        return int(plain)
    except ValueError:
        pass
    try:
        return float(plain)
    except ValueError:
        return None


def _coerce_date(candidate: Candidate, rules: VariableRules) -> Candidate | str:
    value = candidate.value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a year written as a number
    if not isinstance(value, str):
        return f"{_show(candidate.value)} is not a date written YYYY-MM-DD"
    text = value.strip()
    parsed: date | None = None
    partial = False
    try:
        if _ISO_DATE.fullmatch(text):
            parsed = date.fromisoformat(text)
        elif _ISO_DATETIME.fullmatch(text):
            parsed = datetime.fromisoformat(text).date()
        elif match := _YEAR_MONTH.fullmatch(text):
            parsed, partial = date(int(match[1]), int(match[2]), 1), True
        elif _YEAR.fullmatch(text):
            parsed, partial = date(int(text), 1, 1), True
    except ValueError:
        parsed = None
    if parsed is None:
        return f"{_show(candidate.value)} is not a date written YYYY-MM-DD"
    confidence = (
        min(candidate.confidence, PARTIAL_DATE_MAX_CONFIDENCE) if partial else candidate.confidence
    )
    return replace(candidate, value=parsed.isoformat(), confidence=confidence)


def _coerce_boolean(candidate: Candidate, rules: VariableRules) -> Candidate | str:
    value = candidate.value
    if isinstance(value, bool):
        return candidate
    if isinstance(value, str) and value.strip().casefold() in _BOOLEANS:
        return replace(candidate, value=_BOOLEANS[value.strip().casefold()])
    return f"{_show(value)} is not true or false"


def _coerce_category(candidate: Candidate, rules: VariableRules) -> Candidate | str:
    value = candidate.value
    if isinstance(value, str):
        if value in rules.categories:
            return candidate
        wanted = " ".join(value.casefold().split())
        for label in rules.categories:
            if " ".join(label.casefold().split()) == wanted:
                return replace(candidate, value=label)
    return f"{_show(value)} is not one of the categories: {', '.join(rules.categories)}"


def _coerce_text(candidate: Candidate, rules: VariableRules) -> Candidate | str:
    value = candidate.value
    if isinstance(value, str | int | float):  # bool included, as true / false
        return replace(candidate, value=_as_text(value))
    return f"{_show(value)} is not text"


_COERCIONS: Mapping[VariableType, Callable[[Candidate, VariableRules], Candidate | str]] = {
    VariableType.NUMBER: _coerce_number,
    VariableType.DATE: _coerce_date,
    VariableType.BOOLEAN: _coerce_boolean,
    VariableType.CATEGORY: _coerce_category,
    VariableType.TEXT: _coerce_text,
}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)  # true, 12, 2.5: JSON's spelling


def coerce_value(value: Any, rules: VariableRules) -> Any:
    """A value given by a person (a researcher's correction) as the variable stores it,
    coerced by the rules the model's values go through: one value of the variable's type (one
    of its categories); for ALL a list of up to max_values of them; for CONCATENATE the values
    joined with "; " (given as a list, or as text so joined). Blank items are no values.
    Raises ValueError saying what cannot be coerced. Validation rules are not applied: they
    flag the model's values for review, and a researcher may know better."""
    if not rules.multi_valued:
        return _coerce_given(value, rules)
    items = value if isinstance(value, list) else [value]
    concatenate = rules.if_multiple_values is IfMultipleValues.CONCATENATE
    if concatenate and isinstance(value, str):
        items = value.split(CONCATENATE_SEPARATOR.strip())
    items = [item for item in items if not _is_blank(item)]
    if not items:
        raise ValueError("no value is given")
    if len(items) > rules.max_values:
        raise ValueError(f"{len(items)} values are more than max_values ({rules.max_values})")
    values = [_coerce_given(item, rules) for item in items]
    return CONCATENATE_SEPARATOR.join(_as_text(item) for item in values) if concatenate else values


def _coerce_given(value: Any, rules: VariableRules) -> Any:
    if _is_blank(value):
        raise ValueError("no value is given")
    given = Candidate(value=value, confidence=1.0, source_text=None, chunk_index=0, position=0)
    coerced = _COERCIONS[rules.type](given, rules)
    if isinstance(coerced, str):
        raise ValueError(coerced)
    return coerced.value


# --- validation ---------------------------------------------------------------------------
# The researcher's expectations of a value: a value outside them is flagged, never changed.


def _violations(value: Any, rules: VariableRules) -> list[str]:
    checks = rules.validation_rules
    match rules.type:
        case VariableType.NUMBER:
            return _number_violations(value, checks)
        case VariableType.DATE:
            return _date_violations(value, checks)
        case VariableType.TEXT:
            return _text_violations(value, checks)
        case VariableType.BOOLEAN | VariableType.CATEGORY:
            return []


def _number_violations(value: int | float, checks: Mapping[str, Any]) -> list[str]:
    found = []
    minimum, maximum = checks.get("min_value"), checks.get("max_value")
    if _is_number(minimum) and value < minimum:
        found.append(f"{_show(value)} is below the minimum of {_show(minimum)}")
    if _is_number(maximum) and value > maximum:
        found.append(f"{_show(value)} is above the maximum of {_show(maximum)}")
    if checks.get("integer_only") and not float(value).is_integer():
        found.append(f"{_show(value)} is not a whole number")
    return found


def _date_violations(value: str, checks: Mapping[str, Any]) -> list[str]:
    found = []
    # ISO dates order like the dates they name.
    earliest, latest = checks.get("min_date"), checks.get("max_date")
    if isinstance(earliest, str) and value < earliest:
        found.append(f"{value} is before the earliest date {earliest}")
    if isinstance(latest, str) and value > latest:
        found.append(f"{value} is after the latest date {latest}")
    return found


def _text_violations(value: str, checks: Mapping[str, Any]) -> list[str]:
    found = []
    shortest, longest = checks.get("min_length"), checks.get("max_length")
    if isinstance(shortest, int) and len(value) < shortest:
        found.append(
            f"{_show(value)} has {len(value)} characters, fewer than the minimum of {shortest}"
        )
    if isinstance(longest, int) and len(value) > longest:
        found.append(
            f"{_show(value)} has {len(value)} characters, more than the maximum of {longest}"
        )
    pattern = checks.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            matches = compile_pattern(pattern).fullmatch(value)
        except ValueError as error:
            found.append(f"the value cannot be checked against validation_rules.pattern: {error}")
        else:
            if not matches:
                found.append(f"{_show(value)} does not match the pattern {pattern}")
    return found


# --- small helpers ------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _clamp(confidence: float) -> float:
    if math.isnan(confidence):
        return 0.0
    return min(max(confidence, 0.0), 1.0)


def _show(value: Any) -> str:
    """A value as an error message names it: text in quotes (shortened), numbers plainly."""
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN_VALUE_LENGTH else value[:_SHOWN_VALUE_LENGTH] + "…"
        return f"'{shown}'"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, default=str)
