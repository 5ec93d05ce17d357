"""The offline baseline: a deterministic keyword-and-rule answerer, NOT a language model.

It reads the fenced sections of a generated prompt, scores the document's sentences by overlap
with the variable's keywords and pulls a typed value out of the best ones, so the whole pipeline
runs (and can be measured) without network, keys or model weights. Its answers are valid against
the response schema, its confidences stay low (at most 0.6), and it is the floor that real models
are compared against.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult

from server.llm import fencing, tokens

MAX_CONFIDENCE = 0.6
NOT_FOUND_CONFIDENCE = 0.1
DEFAULT_MAX_ITEMS = 5
PLAIN_TEXT_NOTE = (
    "This is the CoderAI offline baseline, a keyword-rule answerer rather than a language "
    "model; it only answers structured (json_schema) extraction requests."
)

ValueKind = Literal["text", "number", "date", "boolean", "category"]

# English function words plus the vocabulary every extraction instruction shares ("extract the
# value stated in the document"): neither says anything about where the answer is.
# fmt: off
_STOP_WORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
    "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "could", "did", "do", "does", "doing", "done", "down",
    "during", "each", "either", "else", "ever", "every", "few", "for", "from", "further",
    "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "itself", "just", "may", "me", "might", "more",
    "most", "must", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or",
    "other", "our", "ours", "out", "over", "own", "per", "same", "she", "should", "so", "some",
    "such", "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "upon", "us", "very",
    "was", "we", "were", "what", "when", "where", "whether", "which", "while", "who", "whom",
    "whose", "why", "will", "with", "within", "without", "would", "you", "your", "yours",
    # the vocabulary of instructions themselves
    "answer", "answers", "code", "coded", "coding", "column", "dataset", "describe",
    "described", "document", "documents", "entry", "extract", "extracted", "field", "find",
    "give", "given", "identify", "indicate", "indicated", "information", "list", "mention",
    "mentioned", "mentions", "note", "please", "provide", "provided", "record", "recorded",
    "report", "reported", "return", "returned", "specify", "specified", "state", "stated",
    "states", "text", "texts", "value", "values", "variable", "variables", "write", "written",
])
_NEGATIONS = frozenset([
    "no", "not", "never", "none", "neither", "nor", "without", "cannot", "absent", "denied",
    "denies", "deny", "refused", "refuses", "rejected", "rejects", "failed", "fails", "lacks",
    "lacked", "nobody", "nothing", "false", "unsigned",
])
_ABBREVIATIONS = frozenset([
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "no", "nos", "vs", "inc", "ltd", "co",
    "corp", "art", "arts", "para", "fig", "vol", "pp", "p", "approx", "ca", "cf", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "gen", "gov", "sen",
    "rep", "rev", "hon", "est", "dept", "univ",
])
_SUFFIXES = (
    "ational", "ations", "atures", "ation", "ature", "ments", "ment", "ings", "ions", "ness",
    "ing", "ion", "ies", "ied", "ers", "ed", "er", "es", "ly", "s",
)
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
# fmt: on
_STEM_LENGTH = 7
_WEEKDAYS = frozenset(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
)
_NAME_CONNECTORS = frozenset(
    ["of", "the", "for", "de", "del", "der", "di", "du", "la", "le", "van", "von", "da", "al"]
)
_LEADING_ARTICLES = frozenset({"the", "a", "an"})

# \u2019 is the typographic apostrophe, \u201d/\u2019 closing quotes, \u2026 an ellipsis and
# \u2212 the minus sign.
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
# The leading lookahead lets the engine skip quickly to candidate characters.
_SPLIT = re.compile(
    r"(?=[\n.!?\u2026])(?:(?P<paragraph>\n[ \t\r\f\v]*\n)|(?P<line>\n)"
    r"|(?P<stop>[.!?\u2026]+[\"'\u201d\u2019)\]]*)(?=\s))"
    r"(?=\s*(?P<next>\S)|\s*$)"
)
_LAST_WORD = re.compile(r"[^\W_]+$")
_DIGIT = re.compile(r"\d")
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
# 2024-03-12, 2024/03/12, 2024.03.12
_YEAR_FIRST_DATE = re.compile(
    r"(?<![\d/.-])" + _YEAR + r"(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?!\d)"
)
# 12 March 2024, 12th of March, 2024, 12 Mar. 2024
_DAY_MONTH_DATE = re.compile(
    r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r",?\s+" + _YEAR + r"\b", re.IGNORECASE
)
# March 12, 2024, Mar. 12th 2024
_MONTH_DAY_DATE = re.compile(
    r"\b" + _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\b", re.IGNORECASE
)
# 12/03/2024, 12.03.2024, 12-03-2024: day or month first, see _Document.day_first
_NUMERIC_DATE = re.compile(
    r"(?<![\d/.-])(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)" + _YEAR + r"(?!\d)"
)
_DATE_PATTERNS = (_YEAR_FIRST_DATE, _DAY_MONTH_DATE, _MONTH_DAY_DATE, _NUMERIC_DATE)
_NUMBER = re.compile(
    r"(?:(?<![\w.,/-])(?P<sign>[-\u2212])|(?<![\w.,/\u2212-]))"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?![\d/]|[.,]\d|(?:st|nd|rd|th)\b)"
    r"(?:\s*(?P<percent>%|per\s?cent\b))?"
    r"(?:\s+(?P<scale>thousand|million|billion|trillion)\b)?",
    re.IGNORECASE,
)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_PREFER_HIGH = ("latest", "most recent", "newest", "highest", "largest", "maximum", "last")
_PREFER_LOW = ("earliest", "oldest", "lowest", "smallest", "minimum", "first")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Light suffix stripping so that "signed", "signing" and "signature" meet at "sign"."""
    if word.isdigit():
        return word
    if word.endswith(("ification", "ifications")):
        word = word[: word.rindex("ification")] + "ify"  # ratification -> ratify
    for suffix in _SUFFIXES:
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            continue
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word[:_STEM_LENGTH]


def _keywords(text: str) -> list[str]:
    """Distinct stems of the content words of `text`, in order of first appearance."""
    stems: dict[str, None] = {}
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if word in _STOP_WORDS or (len(word) < 3 and not word.isdigit()):
            continue
        stems.setdefault(_stem(word), None)
    return list(stems)


@dataclass(frozen=True, slots=True)
class _Token:
    word: str
    stem: str
    start: int
    end: int


class _Sentence:
    """A sentence as an exact slice of the document, so its text can be quoted verbatim.
    Its stems are computed up front (every sentence is scored); its tokens with positions
    only when a sentence is looked at closely."""

    def __init__(self, index: int, start: int, text: str) -> None:
        self.index = index
        self.start = start
        self.text = text
        self.stems = frozenset(map(_stem, _WORD.findall(text.lower())))

    @cached_property
    def tokens(self) -> tuple[_Token, ...]:
        return tuple(
            _Token(match.group(), _stem(match.group().lower()), match.start(), match.end())
            for match in _WORD.finditer(self.text)
        )


def _split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of `text`. A period after an abbreviation or an initial does not end a
    sentence, nor does a line break that continues in lower case (wrapped lines)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SPLIT.finditer(text):
        next_char = match["next"] or ""
        if match["paragraph"] is not None:
            end = match.start()
        elif next_char.islower():
            continue
        elif match["line"] is not None:
            end = match.start()
        else:
            if match["stop"][0] == ".":
                word = _LAST_WORD.search(text, max(start, match.start() - 12), match.start())
                abbreviation = word is not None and (
                    word.group().lower() in _ABBREVIATIONS
                    or (len(word.group()) == 1 and word.group().isalpha())
                )
                if abbreviation:
                    continue
            end = match.end()
        spans.append((start, end))
        start = match.end()
    spans.append((start, len(text)))
    trimmed: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        piece = text[span_start:span_end]
        stripped = piece.strip()
        if _WORD.search(stripped) is None:
            continue
        offset = span_start + (len(piece) - len(piece.lstrip()))
        trimmed.append((offset, offset + len(stripped)))
    return trimmed


class _Document:
    """The document split into sentences, with each stem's sentence frequency."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sentences = [
            _Sentence(index, start, text[start:end])
            for index, (start, end) in enumerate(_split_sentences(text))
        ]
        self.sentence_frequency: dict[str, int] = {}
        for sentence in self.sentences:
            for stem in sentence.stems:
                self.sentence_frequency[stem] = self.sentence_frequency.get(stem, 0) + 1

    def idf(self, stem: str) -> float:
        count = len(self.sentences)
        return math.log(1.0 + count / (1.0 + self.sentence_frequency.get(stem, 0)))

    @cached_property
    def day_first(self) -> bool | None:
        """Whether numeric dates in this document put the day first, judged from the
        unambiguous ones (a part above 12); None when they do not tell."""
        votes = {True: 0, False: 0}
        for match in _NUMERIC_DATE.finditer(self.text):
            first, second = int(match["a"]), int(match["b"])
            if first > 12 >= second:
                votes[True] += 1
            elif second > 12 >= first:
                votes[False] += 1
        if votes[True] == votes[False]:
            return None
        return votes[True] > votes[False]


@dataclass(frozen=True)
class _Request:
    """The parts of a generated prompt the baseline reads, taken from its fenced sections."""

    variable: Mapping[str, Any]
    instructions: str
    entity: str | None
    entity_pattern: str
    document: str


def _json_object(text: str | None) -> Mapping[str, Any]:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _read_request(message_texts: Sequence[str]) -> _Request:
    """Sections by name across the messages; the first of a name wins, so a section forged
    inside a later message (the document) cannot replace the system message's."""
    found: dict[str, str] = {}
    for text in message_texts:
        for name, content in fencing.sections(text).items():
            found.setdefault(name, content)
    if "DOCUMENT" in found:
        document = found["DOCUMENT"]
    else:
        # An unfenced request (a hand-written demo): the last message is the document.
        document = message_texts[-1] if message_texts else ""
    entity = _json_object(found.get("CONTEXT")).get("entity")
    return _Request(
        variable=_json_object(found.get("VARIABLE")),
        instructions=found.get("INSTRUCTIONS", ""),
        entity=entity if isinstance(entity, str) and entity.strip() else None,
        entity_pattern=found.get("ENTITY_PATTERN", ""),
        document=document,
    )


@dataclass(frozen=True)
class _ValueSpec:
    """What the response schema asks for: the value's kind, how many, and its bounds."""

    kind: ValueKind
    multi: bool
    max_items: int
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    categories: tuple[str, ...] = ()

    @classmethod
    def from_schema(cls, value_schema: Mapping[str, Any]) -> _ValueSpec:
        item = dict(_non_null(value_schema))
        multi = "array" in _types(item)
        max_items = DEFAULT_MAX_ITEMS
        if multi:
            max_items = int(item.get("maxItems", DEFAULT_MAX_ITEMS))
            item = dict(_non_null(item.get("items", {})))
        types = _types(item)
        kind: ValueKind
        if "enum" in item:
            kind = "category"
        elif item.get("format") == "date":
            kind = "date"
        elif "integer" in types or "number" in types:
            kind = "number"
        elif "boolean" in types:
            kind = "boolean"
        else:
            kind = "text"
        return cls(
            kind=kind,
            multi=multi,
            max_items=max(0, max_items),
            integer="integer" in types and "number" not in types,
            minimum=item.get("minimum"),
            maximum=item.get("maximum"),
            exclusive_minimum=item.get("exclusiveMinimum"),
            exclusive_maximum=item.get("exclusiveMaximum"),
            min_length=item.get("minLength"),
            max_length=item.get("maxLength"),
            categories=tuple(str(label) for label in item.get("enum", ()) if label is not None),
        )

    def admits_number(self, number: float) -> bool:
        if self.integer and not float(number).is_integer():
            return False
        return not (
            (self.minimum is not None and number < self.minimum)
            or (self.maximum is not None and number > self.maximum)
            or (self.exclusive_minimum is not None and number <= self.exclusive_minimum)
            or (self.exclusive_maximum is not None and number >= self.exclusive_maximum)
        )


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _non_null(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema without its null alternative (`anyOf: [T, {type: null}]` is accepted too)."""
    for branch in schema.get("anyOf", ()):
        if isinstance(branch, Mapping) and _types(branch) != ["null"]:
            return branch
    return schema


@dataclass(frozen=True)
class _Keyword:
    stem: str
    weight: float


@dataclass
class _Scorer:
    """Scores sentences against weighted keywords: a rank score (idf-weighted, for ordering)
    and coverage (the share of keyword weight present, for confidence)."""

    document: _Document
    keywords: list[_Keyword]
    total_weight: float = field(init=False)
    _ranks: dict[int, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.total_weight = sum(keyword.weight for keyword in self.keywords)

    def rank(self, sentence: _Sentence) -> float:
        if sentence.index not in self._ranks:
            self._ranks[sentence.index] = sum(
                keyword.weight * self.document.idf(keyword.stem)
                for keyword in self.keywords
                if keyword.stem in sentence.stems
            )
        return self._ranks[sentence.index]

    def coverage(self, sentence: _Sentence) -> float:
        if not self.total_weight:
            return 0.0
        matched = sum(k.weight for k in self.keywords if k.stem in sentence.stems)
        return matched / self.total_weight

    def positions(self, sentence: _Sentence) -> list[int]:
        stems = {keyword.stem for keyword in self.keywords}
        return [index for index, token in enumerate(sentence.tokens) if token.stem in stems]


@dataclass(frozen=True)
class _Candidate:
    value: Any
    sentence: _Sentence
    confidence: float


def _confidence(evidence: float) -> float:
    """Maps evidence in [0, 1] to a deliberately modest confidence in [0.1, 0.6]."""
    evidence = min(1.0, max(0.0, evidence))
    return round(NOT_FOUND_CONFIDENCE + (MAX_CONFIDENCE - NOT_FOUND_CONFIDENCE) * evidence, 2)


def _mentions(sentence: _Sentence, entity: str) -> bool:
    if entity.lower() in sentence.text.lower():
        return True
    words = _keywords(entity)
    return bool(words) and all(word in sentence.stems for word in words)


def _variable_keywords(request: _Request) -> list[_Keyword]:
    """Name and label weigh double: they name the thing; instructions also say how to find it."""
    variable = request.variable
    name = str(variable.get("name", "")).replace("_", " ")
    core = _keywords(f"{name} {variable.get('label', '')}")
    weighted = {stem: 2.0 for stem in core}
    for stem in _keywords(request.instructions):
        weighted.setdefault(stem, 1.0)
    return [_Keyword(stem, weight) for stem, weight in weighted.items()]


def _pool(document: _Document, entity: str | None) -> tuple[list[_Sentence], float]:
    """Sentences to draw from: those naming the CONTEXT entity when any do (with full
    confidence), else all of them at half confidence."""
    if entity is None:
        return document.sentences, 1.0
    naming = [sentence for sentence in document.sentences if _mentions(sentence, entity)]
    if naming:
        return naming, 1.0
    return document.sentences, 0.5


def baseline_answer(
    message_texts: Sequence[str], response_schema: Mapping[str, Any]
) -> dict[str, Any]:
    """The baseline's answer to a generated prompt, valid against `response_schema`.

    Dispatches on the schema's shape: a `value` property is a variable, an `entities` property
    is entity identification. Raises ValueError for any other schema.
    """
    properties = response_schema.get("properties", {})
    request = _read_request(message_texts)
    if "entities" in properties:
        return _identify_entities(request, properties["entities"])
    if "value" in properties:
        return _answer_variable(request, _value_spec(request, properties["value"]))
    answers_schemas = {
        name: _resolved(answer, response_schema) for name, answer in properties.items()
    }
    if properties and all(_is_variable_answer(answer) for answer in answers_schemas.values()):
        variables = {str(v.get("name")): v for v in described_variables(message_texts)}
        answers: dict[str, Any] = {}
        for name, answer in answers_schemas.items():
            variable = variables.get(name, {})
            one = replace(
                request, variable=variable, instructions=str(variable.get("instructions", ""))
            )
            answers[name] = _answer_variable(one, _value_spec(one, answer["properties"]["value"]))
        return answers
    raise ValueError("the offline baseline answers variable and entity schemas only")


def described_variables(message_texts: Sequence[str]) -> list[Mapping[str, Any]]:
    """The variables a request describes, each its VARIABLE description with its
    instructions (and guidance, if any) in it: the lines of a grouped request's VARIABLES
    section, or the sections of a one-variable request."""
    found: dict[str, str] = {}
    for text in message_texts:
        for name, content in fencing.sections(text).items():
            found.setdefault(name, content)
    if "VARIABLES" in found:
        lines = (_json_object(line) for line in found["VARIABLES"].split("\n"))
        return [line for line in lines if line]
    if "VARIABLE" not in found:
        return []
    variable = dict(_json_object(found["VARIABLE"]))
    variable["instructions"] = found.get("INSTRUCTIONS", "")
    if "GUIDANCE" in found:
        variable["guidance"] = _json_object(found["GUIDANCE"])
    return [variable]


def _resolved(schema: Any, root: Mapping[str, Any]) -> Any:
    """`schema`, or the definition it refers to (`{"$ref": "#/$defs/name"}`)."""
    if isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        return root.get("$defs", {}).get(schema["$ref"].removeprefix("#/$defs/"), {})
    return schema


def _is_variable_answer(schema: Any) -> bool:
    return isinstance(schema, Mapping) and "value" in schema.get("properties", {})


def _value_spec(request: _Request, value_schema: Mapping[str, Any]) -> _ValueSpec:
    """The value's form: the exact schema the prompt gives (VARIABLE.value_schema), which the
    answer's schema may state only loosely when one schema serves every variable."""
    stated = request.variable.get("value_schema")
    spec = _ValueSpec.from_schema(stated if isinstance(stated, Mapping) else value_schema)
    definitions = _category_definitions(request.variable)
    if definitions and spec.kind == "text":
        # The prompt names the labels once, as the keys of VARIABLE.categories.
        return replace(spec, kind="category", categories=tuple(definitions))
    return spec


def _category_definitions(variable: Mapping[str, Any]) -> dict[str, str]:
    """VARIABLE.categories as label -> definition; prompts of earlier versions list them as
    {"label", "definition"} objects."""
    categories = variable.get("categories") or {}
    if isinstance(categories, Mapping):
        return {str(label): str(definition) for label, definition in categories.items()}
    return {
        str(category.get("label", "")): str(category.get("definition", ""))
        for category in categories
        if isinstance(category, Mapping)
    }


def _answer_variable(request: _Request, spec: _ValueSpec) -> dict[str, Any]:
    document = _Document(request.document)
    pool, entity_factor = _pool(document, request.entity)
    scorer = _Scorer(document, _variable_keywords(request))
    candidates: Iterable[_Candidate]
    if spec.kind == "category":
        candidates = _category_candidates(request, spec, document, pool, scorer)
    else:
        ranked = sorted(
            (s for s in pool if scorer.rank(s) > 0), key=lambda s: (-scorer.rank(s), s.index)
        )
        preference = None
        if spec.kind in ("date", "number"):
            preference = _preference(str(request.variable.get("selection_logic") or ""))
        if preference is None or not ranked:
            # Lazy: a single value usually needs only the best sentence or two.
            candidates = _typed_candidates(spec, document, ranked, scorer)
        else:
            candidates = _preferred_candidates(spec, document, ranked, scorer, preference)
    chosen = _choose(candidates, spec)
    if not chosen:
        return {
            "found": False,
            "value": [] if spec.multi else None,
            "confidence": NOT_FOUND_CONFIDENCE,
            "source_text": [] if spec.multi else None,
        }
    confidence = round(max(NOT_FOUND_CONFIDENCE, chosen[0].confidence * entity_factor), 2)
    if spec.multi:
        chosen.sort(key=lambda candidate: candidate.sentence.index)
        return {
            "found": True,
            "value": [candidate.value for candidate in chosen],
            "confidence": confidence,
            "source_text": [candidate.sentence.text for candidate in chosen],
        }
    return {
        "found": True,
        "value": chosen[0].value,
        "confidence": confidence,
        "source_text": chosen[0].sentence.text,
    }


def _choose(candidates: Iterable[_Candidate], spec: _ValueSpec) -> list[_Candidate]:
    """The first candidate, or for lists up to maxItems distinct values from distinct
    sentences (one quoted passage backs one value)."""
    chosen: list[_Candidate] = []
    values: list[Any] = []
    sentences: set[int] = set()
    limit = spec.max_items if spec.multi else 1
    for candidate in candidates:
        if len(chosen) >= limit:
            break
        if candidate.value in values or candidate.sentence.index in sentences:
            continue
        chosen.append(candidate)
        values.append(candidate.value)
        sentences.add(candidate.sentence.index)
    return chosen


def _preference(selection_logic: str) -> Literal["high", "low"] | None:
    """Whether the selection logic asks for the highest value ("latest", "highest") or the
    lowest ("earliest", "lowest"); None if neither, or both."""
    logic = selection_logic.lower()
    high = any(re.search(rf"\b{word}\b", logic) for word in _PREFER_HIGH)
    low = any(re.search(rf"\b{word}\b", logic) for word in _PREFER_LOW)
    if high == low:
        return None
    return "high" if high else "low"


def _preferred_candidates(
    spec: _ValueSpec,
    document: _Document,
    ranked: list[_Sentence],
    scorer: _Scorer,
    preference: Literal["high", "low"],
) -> Iterator[_Candidate]:
    """Candidates from sentences at least half as relevant as the best one, highest (or
    lowest) value first, earlier sentence on a tie; then the rest by relevance."""
    threshold = scorer.rank(ranked[0]) / 2
    eligible = [sentence for sentence in ranked if scorer.rank(sentence) >= threshold]
    preferred = sorted(
        _typed_candidates(spec, document, eligible, scorer),
        key=lambda candidate: candidate.sentence.index,
    )
    # Stable sorts: by sentence first, then by value, so ties keep the earlier sentence.
    preferred.sort(key=lambda candidate: candidate.value, reverse=preference == "high")
    yield from preferred
    yield from _typed_candidates(spec, document, ranked[len(eligible) :], scorer)


def _typed_candidates(
    spec: _ValueSpec, document: _Document, ranked: list[_Sentence], scorer: _Scorer
) -> Iterator[_Candidate]:
    """Values of the requested kind in the relevant sentences, best sentence first."""
    for sentence in ranked:
        coverage = min(1.0, 1.5 * scorer.coverage(sentence))
        if spec.kind == "date":
            for iso_date, distance in _dates_in(sentence, document, scorer):
                yield _Candidate(iso_date, sentence, _confidence(coverage * _nearness(distance)))
        elif spec.kind == "number":
            for number, distance in _numbers_in(sentence, document, spec, scorer):
                yield _Candidate(number, sentence, _confidence(coverage * _nearness(distance)))
        elif spec.kind == "boolean":
            stated = not _negated(sentence, scorer)
            yield _Candidate(stated, sentence, _confidence(0.7 * coverage))
        else:
            text = _text_value(sentence.text, spec)
            if text is not None:
                yield _Candidate(text, sentence, _confidence(0.8 * coverage))


def _nearness(distance: int) -> float:
    """Evidence kept when the value sits `distance` tokens from the nearest keyword."""
    return 1.0 if distance <= 4 else max(0.5, 1.0 - 0.05 * (distance - 4))


def _token_index(sentence: _Sentence, offset: int) -> int:
    for index, token in enumerate(sentence.tokens):
        if token.end > offset:
            return index
    return len(sentence.tokens)


def _distance(sentence: _Sentence, offset: int, keyword_positions: list[int]) -> int:
    if not keyword_positions:
        return len(sentence.tokens)
    at = _token_index(sentence, offset)
    return min(abs(at - position) for position in keyword_positions)


def _date_spans(sentence: _Sentence, document: _Document) -> list[tuple[int, int, str | None]]:
    """Every date expression in the sentence: (start, end, ISO date or None when the
    expression is a date that cannot be read unambiguously)."""
    found: list[tuple[int, int, str | None]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(sentence.text):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            taken.append((match.start(), match.end()))
            found.append((match.start(), match.end(), _iso_date(pattern, match, document)))
    found.sort()
    return found


def _iso_date(pattern: re.Pattern[str], match: re.Match[str], document: _Document) -> str | None:
    year = int(match["year"])
    if pattern is _YEAR_FIRST_DATE:
        month, day = int(match["m"]), int(match["d"])
    elif pattern is not _NUMERIC_DATE:
        month, day = _MONTHS[match["month"].lower()], int(match["day"])
    else:
        first, second = int(match["a"]), int(match["b"])
        if first > 12 >= second:
            day, month = first, second
        elif second > 12 >= first:
            month, day = first, second
        elif first == second:
            day = month = first
        elif document.day_first is None:
            return None  # 03/04/2024: March or April? Not guessed.
        elif document.day_first:
            day, month = first, second
        else:
            month, day = first, second
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _dates_in(sentence: _Sentence, document: _Document, scorer: _Scorer) -> list[tuple[str, int]]:
    """Readable dates in the sentence, nearest a keyword first."""
    if _DIGIT.search(sentence.text) is None:
        return []  # most sentences: skip tokenising them
    spans = [(start, iso) for start, _end, iso in _date_spans(sentence, document) if iso]
    if not spans:
        return []
    positions = scorer.positions(sentence)
    dates = [(iso, _distance(sentence, start, positions)) for start, iso in spans]
    return sorted(dates, key=lambda item: item[1])


def _numbers_in(
    sentence: _Sentence, document: _Document, spec: _ValueSpec, scorer: _Scorer
) -> list[tuple[int | float, int]]:
    """Numbers in the sentence nearest a keyword first; parts of dates never, and bare years
    last unless the variable is about a year."""
    if _DIGIT.search(sentence.text) is None:
        return []  # most sentences: skip tokenising them
    dates = [(start, end) for start, end, _iso in _date_spans(sentence, document)]
    positions: list[int] | None = None
    about_years = any(keyword.stem == "year" for keyword in scorer.keywords)
    found: list[tuple[bool, int, int | float]] = []
    for match in _NUMBER.finditer(sentence.text):
        if any(match.start() < end and start < match.end() for start, end in dates):
            continue
        number = _number_value(match)
        if number is None or not spec.admits_number(number):
            continue
        bare = not (match["percent"] or match["scale"]) and "," not in match["digits"]
        looks_like_year = bare and isinstance(number, int) and 1800 <= number <= 2100
        if positions is None:
            positions = scorer.positions(sentence)
        distance = _distance(sentence, match.start(), positions)
        found.append((looks_like_year and not about_years, distance, number))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(number, distance) for _year, distance, number in found]


def _number_value(match: re.Match[str]) -> int | float | None:
    number = float(match["digits"].replace(",", ""))
    if match["scale"]:
        number *= _SCALES[match["scale"].lower()]
    if match["sign"]:
        number = -number
    if not math.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _negated(sentence: _Sentence, scorer: _Scorer) -> bool:
    """A negation cue within a few words of a keyword (before it, or just after it)."""
    positions = scorer.positions(sentence)
    for index, token in enumerate(sentence.tokens):
        word = token.word.lower()
        negation = word in _NEGATIONS or word.endswith(("n't", "n\u2019t"))
        if negation and any(-3 <= index - position <= 6 for position in positions):
            return True
    return False


def _text_value(text: str, spec: _ValueSpec) -> str | None:
    value = " ".join(text.split())
    if spec.max_length is not None and len(value) > spec.max_length:
        cut = value[: spec.max_length]
        space = cut.rfind(" ")
        value = (cut[:space] if space > spec.max_length // 2 else cut).rstrip()
    if spec.min_length is not None and len(value) < spec.min_length:
        return None
    return value or None


def _category_candidates(
    request: _Request,
    spec: _ValueSpec,
    document: _Document,
    pool: list[_Sentence],
    scorer: _Scorer,
) -> list[_Candidate]:
    """Each category scored by how much of its label (double) and definition appears in a
    sentence, boosted when that sentence is also about the variable. Words every category
    shares cannot tell them apart and count for nothing."""
    definitions = _category_definitions(request.variable)
    weights: dict[str, dict[str, float]] = {}
    for label in spec.categories:
        category_weights = {stem: 1.0 for stem in _keywords(definitions.get(label, ""))}
        category_weights.update({stem: 2.0 for stem in _keywords(label)})
        weights[label] = category_weights
    if len(weights) > 1:
        shared = [
            stem
            for stem in weights[spec.categories[0]]
            if all(stem in other for other in weights.values())
        ]
        for category_weights in weights.values():
            for stem in shared:
                category_weights[stem] = 0.0
    scored: list[tuple[float, int, _Candidate]] = []
    for position, label in enumerate(spec.categories):
        category_weights = weights[label]
        total = sum(category_weights.values())
        if not total:
            continue
        best: tuple[float, float, _Sentence] | None = None
        for sentence in pool:
            overlap = sum(w for stem, w in category_weights.items() if stem in sentence.stems)
            if not overlap:
                continue
            relevance = min(1.0, 2.0 * scorer.coverage(sentence))
            score = (overlap / total) * (1.0 + relevance)
            if best is None or score > best[0]:
                best = (score, overlap / total, sentence)
        if best is None:
            continue
        score, share, sentence = best
        evidence = min(1.0, 1.5 * share) * (0.6 + 0.4 * min(1.0, 2.0 * scorer.coverage(sentence)))
        scored.append((score, position, _Candidate(label, sentence, _confidence(evidence))))
    scored.sort(key=lambda item: (-item[0], item[1]))
    candidates = [candidate for _score, _position, candidate in scored]
    if len(scored) > 1 and scored[1][0] >= 0.8 * scored[0][0]:
        # A close runner-up: the pick is a coin toss between them, and the confidence says so.
        top = candidates[0]
        candidates[0] = _Candidate(top.value, top.sentence, round(top.confidence * 0.7, 2))
    return candidates


@dataclass
class _EntityMention:
    """A candidate entity: how well its best sentence fits the pattern, how often it occurs."""

    name: str
    score: int
    sentence: _Sentence
    first_offset: int
    count: int = 0


def _identify_entities(request: _Request, entities_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Distinct capitalised proper-noun phrases, those in sentences near the pattern's
    keywords first, listed in document order with the sentence that names them."""
    max_items = max(0, int(entities_schema.get("maxItems", DEFAULT_MAX_ITEMS)))
    document = _Document(request.document)
    pattern_stems = _keywords(request.entity_pattern)
    lower_words = {word for word in _WORD.findall(document.text) if word.islower()}
    inner_capitalised = {
        word
        for sentence in document.sentences
        for word in _WORD.findall(sentence.text)[1:]
        if word[0].isupper()
    }
    mentions: dict[str, _EntityMention] = {}
    for sentence in document.sentences:
        near = sum(1 for stem in pattern_stems if stem in sentence.stems)
        for name, offset in _proper_nouns(sentence.text, lower_words, inner_capitalised):
            # A name that itself carries a pattern word ("Ministry of Finance" for
            # "each ministry") is the strongest sign.
            score = near + sum(2 for stem in _keywords(name) if stem in pattern_stems)
            mention = mentions.setdefault(
                name.casefold(), _EntityMention(name, score, sentence, sentence.start + offset)
            )
            mention.count += 1
            if score > mention.score:
                mention.score, mention.sentence = score, sentence
    ranked = sorted(mentions.values(), key=lambda m: (-m.score, -m.count, m.first_offset))
    chosen = sorted(ranked[:max_items], key=lambda m: m.first_offset)
    return {"entities": [{"name": m.name, "source_text": m.sentence.text} for m in chosen]}


def _proper_nouns(
    text: str, lower_words: set[str], inner_capitalised: set[str]
) -> list[tuple[str, int]]:
    """Runs of capitalised words separated only by spaces, joined by connectors such as "of"
    ("Bank of England"), with their offsets in `text` (one sentence).

    Leading articles go, and so does a sentence-initial word that is a function word ("In
    France") or that the document also writes in lower case and that runs straight into
    another capitalised word ("Decision Maria Lopez"; "Treaty of Friendship" stays). A lone
    sentence-initial word counts only if the document capitalises it mid-sentence too
    ("France" yes; "However" no); a lone abbreviation ("Dr") or month is not a name.
    """
    names: list[tuple[str, int]] = []
    run: list[re.Match[str]] = []
    connectors: list[re.Match[str]] = []

    def initial_is_not_a_name(words: list[re.Match[str]]) -> bool:
        first = words[0].group()
        lowered = first.lower()
        if lowered in _LEADING_ARTICLES or first in _NAME_CONNECTORS:
            return True
        if words[0].start() != sentence_start:
            return False
        if lowered in _STOP_WORDS:
            return True
        if len(words) == 1:
            return lowered in lower_words or first not in inner_capitalised
        return lowered in lower_words and words[1].group()[0].isupper()

    def close() -> None:
        words = list(run)
        run.clear()
        connectors.clear()
        while words and initial_is_not_a_name(words):
            words.pop(0)
        if not words:
            return
        lowered = words[0].group().lower()
        if len(words) == 1 and (
            lowered in _MONTHS or lowered in _WEEKDAYS or lowered in _ABBREVIATIONS
        ):
            return
        names.append((text[words[0].start() : words[-1].end()], words[0].start()))

    first_word = _WORD.search(text)
    sentence_start = first_word.start() if first_word else -1
    for match in _WORD.finditer(text):
        word = match.group()
        if not run and not word[0].isupper():
            continue  # the common case: a lower-case word outside any name
        previous = connectors[-1] if connectors else run[-1] if run else None
        adjacent = previous is not None and text[previous.end() : match.start()].isspace()
        if word[0].isupper():
            if not adjacent:
                close()
            run.extend(connectors)
            connectors.clear()
            run.append(match)
        elif run and adjacent and word in _NAME_CONNECTORS and len(connectors) < 2:
            connectors.append(match)
        else:
            close()
    close()
    return names


class OfflineChatModel(BaseChatModel):
    """A LangChain chat model backed by `baseline_answer`, for offline runs, tests and demos.

    It reads the OpenAI-style `response_format` call argument and ignores sampling arguments
    (`temperature`, `max_tokens`, `stop`): rules have nothing to sample.
    """

    model_name: str = "baseline"

    @property
    def _llm_type(self) -> str:
        return "coderai-offline-baseline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._answer(messages, kwargs.get("response_format"))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # A few milliseconds of CPU work: a thread hop would cost more than it saves.
        return self._answer(messages, kwargs.get("response_format"))

    def _answer(self, messages: list[BaseMessage], response_format: Any) -> ChatResult:
        texts = [str(message.text) for message in messages]
        if response_format is None:
            content = PLAIN_TEXT_NOTE
        else:
            content = json.dumps(baseline_answer(texts, response_schema(response_format)))
        input_tokens = tokens.count_message_tokens(texts)
        output_tokens = tokens.count_tokens(content)
        message = AIMessage(
            content=content,
            usage_metadata=UsageMetadata(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=input_tokens + output_tokens,
            ),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def response_schema(response_format: Any) -> Mapping[str, Any]:
    """The JSON Schema inside an OpenAI-style `response_format`
    ({"type": "json_schema", "json_schema": {"name", "schema", "strict"}})."""
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        json_schema = response_format.get("json_schema")
        if isinstance(json_schema, Mapping) and isinstance(json_schema.get("schema"), Mapping):
            schema: Mapping[str, Any] = json_schema["schema"]
            return schema
    raise ValueError(
        "the offline baseline needs an OpenAI json_schema response_format with a schema"
    )
