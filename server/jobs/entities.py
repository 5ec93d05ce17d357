"""Entities of an entity-level project (FR-020): the key that identifies an entity across
spellings, and the merge of the entity lists that each chunk of a document yields."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# The length of Extraction.entity_key.
ENTITY_KEY_MAX_LENGTH = 500
_ARTICLE = "the "
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_OPENERS = {closer: opener for opener, closer in _CLOSERS.items()}


@dataclass(frozen=True)
class Entity:
    """One entity of a document: its key, its first spelling and the passage naming it."""

    key: str
    name: str
    source_text: str | None


def entity_key(name: str) -> str:
    """The normalised key of an entity name: "The  City of Ghent." and "city of ghent" are
    one entity. Empty when the name has nothing but whitespace and punctuation."""
    key = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    key = _strip_punctuation(key)
    if key.startswith(_ARTICLE):
        key = _strip_punctuation(key.removeprefix(_ARTICLE))
    return key[:ENTITY_KEY_MAX_LENGTH].rstrip()


def merge_entities(lists: Sequence[Sequence[tuple[str, str | None]]]) -> list[Entity]:
    """Merge the (name, source_text) lists of a document's chunks, in order of first
    appearance. An entity keeps its first spelling, and that spelling's passage unless it
    has none and a later mention does; blank names are dropped."""
    entities: dict[str, Entity] = {}
    for mentions in lists:
        for name, source_text in mentions:
            key = entity_key(name)
            if not key:
                continue
            quote = source_text if source_text and source_text.strip() else None
            known = entities.get(key)
            if known is None:
                entities[key] = Entity(key, " ".join(name.split()), quote)
            elif known.source_text is None and quote is not None:
                entities[key] = Entity(key, known.name, quote)
    return list(entities.values())


def _strip_punctuation(text: str) -> str:
    """Strip punctuation and whitespace from both ends, except brackets that pair with one
    inside: "(Ghent)" is "ghent", "ghent (belgium)" keeps its parenthesis."""
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        closer = _CLOSERS.get(text[start])
        if closer is not None and closer in text[start + 1 : end - 1]:
            break
        start += 1
    while end > start and _is_edge(text[end - 1]):
        opener = _OPENERS.get(text[end - 1])
        if opener is not None and opener in text[start : end - 1]:
            break
        end -= 1
    return text[start:end]


def _is_edge(char: str) -> bool:
    # Punctuation (P*) and whitespace; symbols such as "$" or "+" may name things.
    return char.isspace() or unicodedata.category(char).startswith("P")
