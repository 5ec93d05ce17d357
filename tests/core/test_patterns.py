"""Researcher regular expressions (validation_rules.pattern) run with RE2: they match the whole
value, refuse the syntax that needs backtracking with a message that says so, and take linear
time whatever the pattern."""

from __future__ import annotations

import time

import pytest

from server.core.patterns import compile_pattern


def test_a_pattern_matches_the_whole_value() -> None:
    case_number = compile_pattern(r"[A-Z]{2}-\d{4}/\d{2}")
    assert case_number.fullmatch("KB-2019/03")
    assert not case_number.fullmatch("see KB-2019/03")
    assert not case_number.fullmatch("KB-2019/031")
    assert compile_pattern(r"(?i)ghent|antwerp").fullmatch("GHENT")
    assert compile_pattern(r"\p{L}+ \p{L}+").fullmatch("Stra\u00dfe \u00e9t\u00e9")


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern(r"\d+") is compile_pattern(r"\d+")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(\w+) \1", "backreference (\\1), which is not supported"),
        (r"(?P<word>\w+) (?P=word)", "named backreference"),
        (r"\d+(?= EUR)", "lookahead"),
        (r"(?<!not )approved", "negative lookbehind"),
        (r"(?>a+)b", "atomic groups"),
        (r"a++", "possessive quantifier"),
        (r"end\Z", "write \\z for the end of the text"),
        (r"a{2000}", "repetition count"),
        (r"(unclosed", "not a valid regular expression: missing )"),
        (r"[z-a]", "not a valid regular expression: invalid character class range"),
    ],
)
def test_an_invalid_or_unsupported_pattern_is_refused_with_a_reason(
    pattern: str, message: str
) -> None:
    with pytest.raises(ValueError, match="the pattern") as refused:
        compile_pattern(pattern)
    assert message in str(refused.value)


def test_backtracking_and_lookaround_are_named_as_the_reason() -> None:
    with pytest.raises(ValueError) as refused:
        compile_pattern(r"(?=x)")
    assert "linear time" in str(refused.value)
    assert "backreferences and lookaround" in str(refused.value)


@pytest.mark.parametrize("pattern", [r"(a+)+b", r"(a|aa)*c", r"(a*)*$b", r"(.*a){20}b"])
def test_a_catastrophic_backtracking_pattern_returns_quickly(pattern: str) -> None:
    compiled = compile_pattern(pattern)
    started = time.perf_counter()
    assert not compiled.fullmatch("a" * 5000 + "!")
    assert not compiled.fullmatch("a" * 100_000)
    assert time.perf_counter() - started < 0.5
