"""Researcher-written regular expressions (validation_rules.pattern), run with RE2.

RE2 matches in time linear in the text whatever the pattern, so no pattern a researcher
writes can stall a worker (ReDoS); the price is the features that need backtracking
(backreferences, lookaround, atomic groups, possessive quantifiers), which are refused with
a message that says so.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import re2

_LINEAR_TIME = (
    "patterns are matched in linear time (RE2 syntax), which rules out backreferences and "
    "lookaround"
)
# Constructs of Python's or PCRE's syntax that RE2 refuses, by the opening RE2 reports.
_UNSUPPORTED_GROUPS = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?>", "atomic groups (?>...)"),
    ("(?(", "conditionals (?(...)...)"),
    ("(?#", "comments (?#...)"),
)
_INVALID_PERL_OPERATOR = "invalid perl operator: "
_INVALID_ESCAPE = "invalid escape sequence: "
_BAD_REPETITION = "bad repetition operator: "
_BAD_REPETITION_SIZE = "invalid repetition size: "
_BACKREFERENCE_ESCAPE = re.compile(r"\\[1-9]$")


@dataclass(frozen=True)
class CompiledPattern:
    """A pattern that compiled under RE2; matching it is linear in the text."""

    pattern: str
    _regexp: Any = field(repr=False, compare=False)

    def fullmatch(self, text: str) -> bool:
        """Whether the whole text matches (not just a part of it)."""
        return self._regexp.fullmatch(text) is not None


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile a researcher's pattern, or raise ValueError saying what is wrong with it."""
    options = re2.Options()
    options.log_errors = False  # the error is raised, and reported by the caller
    try:
        regexp = re2.compile(pattern, options)
    except re2.error as error:
        detail = error.args[0] if error.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", errors="replace")
        raise ValueError(_explain(pattern, str(detail))) from None
    return CompiledPattern(pattern, regexp)


def _explain(pattern: str, detail: str) -> str:
    """A researcher-readable reason for RE2's error message."""
    if detail.startswith(_INVALID_PERL_OPERATOR):
        opening = detail.removeprefix(_INVALID_PERL_OPERATOR)
        for prefix, feature in _UNSUPPORTED_GROUPS:
            if opening.startswith(prefix):
                return f"the pattern uses {feature}, which is not supported: {_LINEAR_TIME}"
        if opening.startswith("(?P") and "(?P=" in pattern:
            return (
                "the pattern uses a named backreference (?P=name), which is not supported: "
                f"{_LINEAR_TIME}"
            )
        return (
            f"the pattern uses the group or flag syntax {opening}, which is not supported: the "
            "flags are i, m, s and U, the groups (...), (?:...) and (?P<name>...)"
        )
    if detail.startswith(_INVALID_ESCAPE):
        escape = detail.removeprefix(_INVALID_ESCAPE)
        if _BACKREFERENCE_ESCAPE.match(escape):
            return (
                f"the pattern uses a backreference ({escape}), which is not supported: "
                f"{_LINEAR_TIME}"
            )
        if escape == "\\Z":
            return "the pattern uses \\Z, which is not supported: write \\z for the end of the text"
        return f"the pattern uses the escape {escape}, which is not supported"
    if detail.startswith(_BAD_REPETITION) and detail.endswith("+"):
        repetition = detail.removeprefix(_BAD_REPETITION)
        return (
            f"the pattern uses a possessive quantifier ({repetition}), which is not supported: "
            f"{_LINEAR_TIME}"
        )
    if detail.startswith(_BAD_REPETITION_SIZE):
        size = detail.removeprefix(_BAD_REPETITION_SIZE)
        return (
            f"the pattern has an invalid or too large repetition count {size}: counts go up "
            "to 1000, nested repetitions included"
        )
    if detail.startswith("pattern too large"):
        return "the pattern is too large: simplify it or use smaller repetition counts"
    return f"the pattern is not a valid regular expression: {detail}"
