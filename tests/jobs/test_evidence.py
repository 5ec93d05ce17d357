"""The model's quote is located in the document: verbatim (EXACT), through the drift between
a PDF's text and a model's copy of it (FUZZY), or not at all; offsets point into the
original text."""

from __future__ import annotations

import random
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from server.jobs.evidence import (
    MAX_CANDIDATES,
    Evidence,
    _normalise,
    _normalised,
    locate,
    weakest,
)
from server.jobs.models import EvidenceMatch

# Text as a PDF extraction gives it: hard line breaks, a word hyphenated across lines, a soft
# hyphen, typographic quotes and dashes, a non-breaking space, a form feed between pages.
MINUTES = (
    "MINUTES OF THE MUNICIPAL COUNCIL OF OOSTKERKE\n"
    "Meeting of 12 March 2019\n\n"
    "1. Coastal protection\n"
    "The Council discussed the \u201cShoreline Resilience Plan\u201d prepared by the\n"
    "regional water board. Alderman De Smet said the plan would protect the coast-\n"
    "al villages for at least thirty years. Mrs Peeters (Greens) asked whether the\n"
    "dune restoration would be com\u00adpleted before the winter storms.\n"
    "After a debate of two hours, the Council voted 7\u20132 to adopt the plan, commit-\n"
    "ting \u20ac2.5\u00a0million to dune restoration and managed retreat.\n\f"
    "2. Any other business\n"
    "The chair closed the meeting at 22:15 \u2014 the next meeting is on 9 April 2019.\n"
)


def normalised_text(text: str) -> str:
    return _normalise(text).text


def assert_points_at(evidence: Evidence, text: str, quote: str) -> None:
    """text[start:end] is the quoted passage, up to what normalisation forgives."""
    assert evidence.start is not None
    assert evidence.end is not None
    found = text[evidence.start : evidence.end]
    wanted = normalised_text(quote).strip(" '.,;:!?")
    assert normalised_text(found).replace("-", "") == wanted.replace("-", "")


def test_a_verbatim_quote_is_exact_with_its_offsets() -> None:
    quote = "Mrs Peeters (Greens) asked whether the"
    evidence = locate(quote, MINUTES)
    assert evidence.match is EvidenceMatch.EXACT
    assert MINUTES[evidence.start : evidence.end] == quote


def test_surrounding_whitespace_of_a_quote_does_not_make_it_inexact() -> None:
    evidence = locate("  Meeting of 12 March 2019\n", MINUTES)
    assert evidence.match is EvidenceMatch.EXACT
    assert MINUTES[evidence.start : evidence.end] == "Meeting of 12 March 2019"


def test_a_quote_across_a_line_break_and_a_hyphenated_word_is_fuzzy() -> None:
    quote = "the plan would protect the coastal villages for at least thirty years"
    evidence = locate(quote, MINUTES)
    assert evidence.match is EvidenceMatch.FUZZY
    assert MINUTES[evidence.start : evidence.end] == (
        "the plan would protect the coast-\nal villages for at least thirty years"
    )


def test_case_curly_quotes_dashes_soft_hyphens_and_spaces_are_forgiven() -> None:
    quote = (
        "the council voted 7-2 to adopt the plan, committing €2.5 million to dune restoration "
        "and managed retreat."
    )
    evidence = locate(quote, MINUTES)
    assert evidence.match is EvidenceMatch.FUZZY
    assert MINUTES[evidence.start : evidence.end] == (
        "the Council voted 7\u20132 to adopt the plan, commit-\n"
        "ting \u20ac2.5\u00a0million to dune restoration and managed retreat"
    )
    assert_points_at(evidence, MINUTES, quote)

    plan = locate('The Council discussed the "Shoreline Resilience Plan"', MINUTES)
    assert plan.match is EvidenceMatch.FUZZY
    assert_points_at(plan, MINUTES, 'The Council discussed the "Shoreline Resilience Plan"')

    soft = locate("whether the dune restoration would be completed", MINUTES)
    assert soft.match is EvidenceMatch.FUZZY
    assert MINUTES[soft.start : soft.end].endswith("com\u00adpleted")


def test_a_word_hyphenated_in_the_quote_matches_its_line_break_in_the_text() -> None:
    evidence = locate("protect the coast-al villages", MINUTES)
    assert evidence.match is EvidenceMatch.FUZZY
    assert MINUTES[evidence.start : evidence.end] == "protect the coast-\nal villages"


def test_a_quote_the_model_wrapped_in_quotation_marks_is_found() -> None:
    evidence = locate("\u201cThe chair closed the meeting at 22:15.\u201d", MINUTES)
    assert evidence.match is EvidenceMatch.FUZZY
    assert MINUTES[evidence.start : evidence.end] == "The chair closed the meeting at 22:15"


def test_a_quote_shortened_with_an_ellipsis_spans_its_parts() -> None:
    evidence = locate("The Council discussed the ... regional water board", MINUTES)
    assert evidence.match is EvidenceMatch.FUZZY
    passage = MINUTES[evidence.start : evidence.end]
    assert passage.startswith("The Council discussed the")
    assert passage.endswith("regional water board")


def test_a_long_quote_with_a_word_changed_is_fuzzy() -> None:
    quote = "After a debate of three hours, the Council voted 7-2 to approve the plan"
    evidence = locate(quote, MINUTES)
    assert evidence.match is EvidenceMatch.FUZZY
    assert MINUTES[evidence.start : evidence.end] == (
        "After a debate of two hours, the Council voted 7\u20132 to adopt the plan"
    )


def test_a_long_quote_with_a_number_changed_is_not_found() -> None:
    quote = "After a debate of two hours, the Council voted 9-0 to adopt the plan"
    assert locate(quote, MINUTES).match is EvidenceMatch.NOT_FOUND


def test_a_quote_that_is_not_in_the_text_is_not_found() -> None:
    evidence = locate("The Council rejected the plan after the mayor resigned.", MINUTES)
    assert evidence == Evidence(EvidenceMatch.NOT_FOUND, None, None)
    assert locate("voted 9-0", MINUTES).match is EvidenceMatch.NOT_FOUND


def test_no_quote_or_a_blank_one_is_no_quote() -> None:
    assert locate(None, MINUTES) == Evidence(EvidenceMatch.NO_QUOTE, None, None)
    assert locate(" \n", MINUTES).match is EvidenceMatch.NO_QUOTE
    assert locate('"..."', MINUTES).match is EvidenceMatch.NOT_FOUND


def test_the_span_of_the_chunk_is_searched_first() -> None:
    # Two occurrences of the passage; the second chunk's quote points into the second.
    text = "Page one.\nThe budget was approved.\n\nPage two.\nThe budget was approved.\n"
    second = text.index("Page two.")
    evidence = locate("The budget was approved.", text, within=(second, len(text)))
    assert evidence.match is EvidenceMatch.EXACT
    assert evidence.start == text.rindex("The budget was approved.")

    fuzzy = locate("the BUDGET was approved", text, within=(second, len(text)))
    assert fuzzy.match is EvidenceMatch.FUZZY
    assert fuzzy.start == text.rindex("The budget was approved.")


def test_a_quote_outside_its_chunk_is_still_found_in_the_document() -> None:
    text = "Page one.\nThe budget was approved.\n\nPage two.\nNothing else.\n"
    evidence = locate("the budget was approved", text, within=(text.index("Page two."), 60))
    assert evidence.match is EvidenceMatch.FUZZY
    assert evidence.start == text.index("The budget")


@pytest.mark.parametrize(
    "text",
    [
        "Stra\u00dfe 12 \u2014 the \ufb01nal OFFER was \u201crejected\u201d\u2026 by    the "
        "co-\n  operative.",
        "\u0130stanbul and \u00df and \ufb00 \u2026 \u00ad\u200b end",
        unicodedata.normalize("NFD", "Caf\u00e9 cr\u00e8me \u00e0 l'h\u00f4tel") + " x\u0301\u0302",
        "",
    ],
)
def test_every_normalised_position_maps_back_into_the_original(text: str) -> None:
    normalised = _normalise(text)
    for start in range(len(normalised.text)):
        for end in range(start + 1, min(len(normalised.text), start + 12) + 1):
            original = text[normalised.to_original_start(start) : normalised.to_original_end(end)]
            # The original passage normalises to at least the normalised slice.
            assert normalised.text[start:end].strip() in normalised_text(original) + " "


def test_offsets_of_fuzzy_matches_are_exact_in_a_german_text() -> None:
    text = (
        "Die Stadtverwaltung stellte fest: \u201eDie Stra\u00dfe wird\nim Fr\u00fchjahr "
        "saniert.\u201c"
    )
    evidence = locate("die strasse wird im frühjahr saniert", text)
    assert evidence.match is EvidenceMatch.FUZZY
    assert text[evidence.start : evidence.end] == "Die Stra\u00dfe wird\nim Fr\u00fchjahr saniert"


def test_decomposed_accents_in_the_text_match_composed_ones_in_the_quote() -> None:
    text = "Proc\u00e8s-verbal. " + unicodedata.normalize("NFD", "Le conseil a approuvé le budget.")
    evidence = locate("le conseil a approuvé le budget", text)
    assert evidence.match is EvidenceMatch.FUZZY
    assert text[evidence.start : evidence.end] == text[len("Proc\u00e8s-verbal. ") : -1]
    assert locate("le conseil a approuve le budget", text).match is EvidenceMatch.NOT_FOUND


def long_document(size: int) -> str:
    rng = random.Random(7)
    words = [
        *("council", "budget", "coastal", "flooding", "residents", "committee", "report"),
        *("infrastructure", "proposal", "amendment", "regional", "funding", "assessment"),
        *("shoreline", "erosion", "housing", "public", "consultation"),
        *("the", "of", "and", "to", "a", "in", "that", "was", "for"),
    ]
    lines: list[str] = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(words) for _ in range(12))
        lines.append(line)
        length += len(line) + 1
        if rng.random() < 0.1:
            lines.append("")
    return "\n".join(lines)[:size]


QUOTE_200 = (
    'On 12 March 2019 the council voted 7-2 to adopt the "Shoreline Resilience Plan", '
    "committing €2.5 million to dune restoration and managing coastal erosion along the "
    "northern beaches."
)
PASSAGE_200 = (
    "On 12 March 2019 the Council voted 7\u20132 to adopt the \u201cShoreline Resilience "
    "Plan\u201d, commit\u00adting \u20ac2.5 million to dune restoration and manag-\ning "
    "coastal erosion along the northern\nbeaches."
)


def best_time(run: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def test_locating_a_quote_in_a_200k_character_document_takes_milliseconds() -> None:
    base = long_document(200_000)
    text = base[:180_000] + "\n" + PASSAGE_200 + "\n" + base[180_000:]
    changed = QUOTE_200.replace("adopt", "approve")

    def first_search() -> Evidence:
        _normalised.cache_clear()
        return locate(QUOTE_200, text)

    evidence = first_search()
    assert evidence.match is EvidenceMatch.FUZZY
    assert text[evidence.start : evidence.end] == PASSAGE_200.removesuffix(".")
    assert locate(changed, text).match is EvidenceMatch.FUZZY

    # Measured at about 3 ms for a first search (normalising the document), 0.2 ms after
    # (the normalised text is cached), 1.5 ms for the approximate match: the bounds leave room
    # for slow machines.
    assert best_time(first_search) < 0.025
    assert best_time(lambda: locate(QUOTE_200, text)) < 0.005
    assert best_time(lambda: locate(changed, text)) < 0.015
    assert best_time(lambda: locate("The mayor resigned over the budget report.", text)) < 0.015


# --- the matcher's rules at every length, on real text --------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "server" / "demo" / "samples"
CORPUS_TEXTS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html"


def real_texts() -> list[str]:
    """The demo's council minutes, and the corpus's expected article texts where present."""
    texts = [path.read_text() for path in sorted(SAMPLES.glob("*.txt"))]
    if CORPUS_TEXTS.is_dir():
        texts += [path.read_text() for path in sorted(CORPUS_TEXTS.glob("*.expected.txt"))][:4]
    return texts


def passages(text: str, words: int, count: int, seed: int) -> list[tuple[int, int]]:
    """Spans of `words` words (letters, not numbers: they would change under no drift)
    that occur once in the text, whatever the case, so that only one place is right."""
    rng = random.Random(seed)
    tokens = [m for m in re.finditer(r"[^\W\d_]{3,}", text)]
    folded = text.casefold()
    found: list[tuple[int, int]] = []
    for _ in range(400):
        if len(found) == count or len(tokens) <= words:
            break
        first = rng.randrange(len(tokens) - words)
        start, end = tokens[first].start(), tokens[first + words - 1].end()
        passage = text[start:end]
        if "\n" in passage or not re.fullmatch(r"[^\W\d_]+(?: [^\W\d_]+)*", passage):
            continue
        if words == 1 and len(passage) < 6:
            continue
        if folded.count(passage.casefold()) == 1:
            found.append((start, end))
    return found


def break_longest_word(passage: str, joiner: str) -> str:
    longest = max(passage.split(" "), key=len)
    half = len(longest) // 2
    return passage.replace(longest, longest[:half] + joiner + longest[half:], 1)


# How a passage drifts between the document's text and the model's copy of it: each drift
# gives the passage as the document has it and the model's quote of it.
DRIFTS: dict[str, Callable[[str], tuple[str, str]]] = {
    "hyphenated line break, quoted joined": lambda p: (break_longest_word(p, "-\n"), p),
    "hyphenated line break, quoted with its hyphen": lambda p: (
        break_longest_word(p, "-\n"),
        break_longest_word(p, "-"),
    ),
    "hyphenated line break, quoted with hyphen and space": lambda p: (
        break_longest_word(p, "-\n"),
        break_longest_word(p, "- "),
    ),
    "soft hyphen": lambda p: (break_longest_word(p, "\u00ad"), p),
    "line breaks and runs of spaces": lambda p: (
        p.replace(" ", " \n  ", 1).replace(" ", "\t", 2),
        p,
    ),
    "collapsed whitespace in the quote": lambda p: (p, p.replace(" ", "  \n")),
    "typographic quotation marks": lambda p: (f"\u201c{p}\u201d", f'"{p}"'),
    "trailing punctuation added": lambda p: (p, f"{p}."),
    "wrapped in quotation marks": lambda p: (p, f"\u2018{p},\u2019"),
    "upper case": lambda p: (p, p.upper()),
    "lower case": lambda p: (p, p.lower()),
}


@pytest.mark.parametrize("drift", DRIFTS)
@pytest.mark.parametrize("words", [1, 3, 12])
def test_each_drift_is_forgiven_for_a_word_three_words_and_a_sentence(
    drift: str, words: int
) -> None:
    """A passage of the length given, taken from real text and unique in it, drifted the way
    text drifts; its quote is found at that place, not elsewhere, and the offsets span it."""
    tried = 0
    for index, original in enumerate(real_texts()):
        for start, end in passages(original, words, count=3, seed=index * 100 + words):
            in_document, quote = DRIFTS[drift](original[start:end])
            text = original[:start] + in_document + original[end:]
            evidence = locate(quote, text)
            where = f"{quote!r} in document {index}"
            assert evidence.match is not EvidenceMatch.NOT_FOUND, where
            assert evidence.start is not None, where
            assert evidence.end is not None, where
            found = text[evidence.start : evidence.end]
            # The passage as the document has it, up to the marks a quote may add around it.
            assert evidence.start >= start - 1, where
            assert evidence.end <= start + len(in_document) + 1, where
            assert normalised_text(found).replace("-", "").strip(" '.,;:!?") == (
                normalised_text(original[start:end]).replace("-", "")
            ), where
            tried += 1
    assert tried >= 20, "enough passages of real text"


def test_a_short_quote_across_a_hyphenated_line_break_is_found() -> None:
    text = "This Agreement is made between Archer-Daniels-\nMidland Company and the Recipient."
    for quote in ("Archer-Daniels- Midland Company", "Archer-Daniels-Midland Company"):
        evidence = locate(quote, text)
        assert evidence.match is EvidenceMatch.FUZZY, quote
        assert text[evidence.start : evidence.end] == "Archer-Daniels-\nMidland Company"


# --- the right occurrence ------------------------------------------------------------------

AGREEMENT = (
    "MUTUAL NON-DISCLOSURE AGREEMENT\n\n"
    "This Agreement is made between Acme Holdings, Inc., a Delaware corporation with offices "
    "at 12 Main Street, Newark, New Jersey, and Brightline LLC.\n\n"
    "1. Confidential Information. Each party shall hold the other's information in "
    "confidence.\n\n"
    "9. Governing Law. This Agreement shall be governed by the laws of the State of New\n"
    "Jersey, without regard to its conflict of laws rules.\n"
)
GOVERNING_LAW = AGREEMENT.index("9. Governing Law")


def test_a_quote_found_at_several_places_is_ambiguous_with_their_count() -> None:
    # Verbatim in the address, across a line break in the governing-law clause: both count.
    evidence = locate("New Jersey", AGREEMENT)
    assert evidence.match is EvidenceMatch.AMBIGUOUS
    assert evidence.candidates == 2
    # The offsets point at the first place, and the status says it may not be the one.
    assert evidence.start == AGREEMENT.index("New Jersey")


def test_the_chunk_the_answer_came_from_chooses_among_the_places() -> None:
    evidence = locate("New Jersey", AGREEMENT, within=(GOVERNING_LAW, len(AGREEMENT)))
    assert evidence.match is EvidenceMatch.FUZZY  # across the line break
    assert evidence.candidates == 1
    assert AGREEMENT[evidence.start : evidence.end] == "New\nJersey"


def test_a_quote_with_its_surrounding_words_is_placed_at_one_place() -> None:
    quote = "governed by the laws of the State of New Jersey"
    evidence = locate(quote, AGREEMENT)
    assert (evidence.match, evidence.candidates, evidence.weak) == (EvidenceMatch.FUZZY, 1, False)
    assert evidence.start == AGREEMENT.index("governed by")


def test_a_one_word_quote_is_weak_evidence_whatever_its_match() -> None:
    ambiguous = locate("Delaware", AGREEMENT + "Delaware law does not apply.")
    assert (ambiguous.match, ambiguous.candidates, ambiguous.weak) == (
        EvidenceMatch.AMBIGUOUS,
        2,
        True,
    )
    exact = locate("Brightline", AGREEMENT)
    assert (exact.match, exact.candidates, exact.weak) == (EvidenceMatch.EXACT, 1, True)
    assert locate('"Brightline."', AGREEMENT).weak
    assert not locate("Brightline LLC", AGREEMENT).weak


def test_several_normalised_places_are_ambiguous_too() -> None:
    text = "The plan was ap-\nproved in May.\n\nLater the plan was APPROVED again."
    evidence = locate("the plan was approved", text)
    assert evidence.match is EvidenceMatch.AMBIGUOUS
    assert evidence.candidates == 2
    assert text[evidence.start : evidence.end] == "The plan was ap-\nproved"


def test_a_quote_inside_a_longer_word_is_not_a_place_of_it() -> None:
    text = "An explanation of the budget. The plan was approved."
    evidence = locate("plan", text)
    assert (evidence.match, evidence.candidates) == (EvidenceMatch.EXACT, 1)
    assert evidence.start == text.index("The plan") + len("The ")
    # A word the model cut short is still found, inside the longer one.
    assert locate("explan", text).match is EvidenceMatch.EXACT


def test_the_count_of_places_stops_at_twenty() -> None:
    evidence = locate("the council", "The council met. " * 30 + "the council")
    assert (evidence.match, evidence.candidates) == (EvidenceMatch.AMBIGUOUS, MAX_CANDIDATES)


def test_the_weakest_evidence_of_several_values_stands_for_them_all() -> None:
    exact = Evidence(EvidenceMatch.EXACT, 0, 3, candidates=1)
    ambiguous = Evidence(EvidenceMatch.AMBIGUOUS, 5, 9, candidates=2)
    missing = Evidence(EvidenceMatch.NOT_FOUND)
    assert weakest([exact, ambiguous]) is ambiguous
    assert weakest([ambiguous, missing, exact]) is missing
