"""A variable's guidance: what review taught about coding it, given to the model after the
researcher's instructions — clarified rules, and worked examples (a passage, the value it is
coded as, the value it is not). Bounded, so that refining many times cannot grow the prompt
without limit: the newest rules and examples are kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_RULES = 20
MAX_EXAMPLES = 8
MAX_RULE_LENGTH = 300
MAX_EXCERPT_LENGTH = 500
MAX_NOTE_LENGTH = 300


@dataclass(frozen=True)
class Example:
    excerpt: str
    value: Any
    not_value: Any = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        example: dict[str, Any] = {"excerpt": self.excerpt, "value": self.value}
        if self.not_value is not None:
            example["not_value"] = self.not_value
        if self.note:
            example["note"] = self.note
        return example


@dataclass(frozen=True)
class Guidance:
    rules: tuple[str, ...] = ()
    examples: tuple[Example, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.rules or self.examples)

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> Guidance:
        stored = stored or {}
        return cls(
            rules=tuple(stored.get("rules", ())),
            examples=tuple(
                Example(
                    excerpt=example.get("excerpt", ""),
                    value=example.get("value"),
                    not_value=example.get("not_value"),
                    note=example.get("note", ""),
                )
                for example in stored.get("examples", ())
            ),
        )

    def as_json(self) -> dict[str, Any]:
        """As Variable.guidance stores it; {} for none, so that an unrefined variable's
        prompt is unchanged."""
        if not self:
            return {}
        return {
            "rules": list(self.rules),
            "examples": [example.as_json() for example in self.examples],
        }

    def bounded(self) -> Guidance:
        """Within the limits: distinct rules (case aside), each trimmed, newest first."""
        rules: list[str] = []
        seen: set[str] = set()
        for rule in self.rules:
            text = _trimmed(" ".join(rule.split()), MAX_RULE_LENGTH)
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                rules.append(text)
        examples = [
            Example(
                excerpt=_trimmed(example.excerpt.strip(), MAX_EXCERPT_LENGTH),
                value=example.value,
                not_value=example.not_value,
                note=_trimmed(example.note.strip(), MAX_NOTE_LENGTH),
            )
            for example in self.examples
        ]
        return Guidance(tuple(rules[:MAX_RULES]), tuple(examples[:MAX_EXAMPLES]))

    def before(self, older: Guidance) -> Guidance:
        """This guidance first, then what `older` had, within the limits."""
        return Guidance(
            rules=(*self.rules, *older.rules), examples=(*self.examples, *older.examples)
        ).bounded()


def rules_from(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(text for text in texts if text.strip())


def _trimmed(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
