"""Prompt-injection fencing (NFR-016): researcher text and document text enter a prompt as
data between markers that carry a random boundary, chosen afresh for every document (the calls
that read one document share it, so that their prompts share a prefix a provider can cache).

    <<<DOCUMENT 481930275561829304712648>>>
    ...the document, verbatim...
    <<<END DOCUMENT 481930275561829304712648>>>

Text inside a section cannot close it: it would have to contain the closing marker with a
boundary it cannot know in advance (24 random decimal digits, 80 bits), and `render` refuses a
boundary that occurs in any value it inserts. The system prompt tells the model that sections
are data. The boundary is decimal because tokenizers read digits three at a time: it is 8
tokens wherever it occurs (a request holds it a dozen times), where 24 hexadecimal digits were
11 to 17.

Stored prompt templates are `string.Template`s: they hold `${boundary}` where the boundary
goes and `${name}` for call-time values (the document, the context). Researcher text baked into
a template is escaped (`$` → `$$`), and substitution is a single pass, so neither researcher
text nor a document can inject a placeholder.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from string import Template

BOUNDARY_PLACEHOLDER = "${boundary}"
_SECTION_NAME = re.compile(r"^[A-Z][A-Z_]*$")
_BOUNDARY_DIGITS = 24
# Hexadecimal too: the boundaries of earlier versions, whose prompts the local model server
# still reads (bench.tokens --before).
_SECTION = re.compile(
    r"^<<<(?P<name>[A-Z][A-Z_]*) (?P<boundary>[0-9a-f]{24})>>>\n"
    r"(?P<content>.*?)\n"
    r"<<<END (?P=name) (?P=boundary)>>>$",
    re.DOTALL | re.MULTILINE,
)


def new_boundary() -> str:
    return str(secrets.randbelow(10**_BOUNDARY_DIGITS)).zfill(_BOUNDARY_DIGITS)


def escape_template_text(text: str) -> str:
    """Researcher text made literal inside a template."""
    return text.replace("$", "$$")


def unescape_template_text(text: str) -> str:
    """Researcher text as it was before escape_template_text."""
    return text.replace("$$", "$")


def _check_name(name: str) -> None:
    if not _SECTION_NAME.match(name):
        raise ValueError(f"section names are upper-case words, not {name!r}")


def section_template(name: str, text: str) -> str:
    """A fenced section of researcher text inside a stored template; the boundary is filled
    in per call."""
    return _fenced_template(name, escape_template_text(text))


def slot_template(name: str, slot: str) -> str:
    """A fenced section inside a stored template whose content is the call-time value
    `slot` (e.g. the document)."""
    if not slot.isidentifier():
        raise ValueError(f"slot names are identifiers, not {slot!r}")
    return _fenced_template(name, "${" + slot + "}")


def _fenced_template(name: str, content: str) -> str:
    _check_name(name)
    return (
        f"<<<{name} {BOUNDARY_PLACEHOLDER}>>>\n{content}\n<<<END {name} {BOUNDARY_PLACEHOLDER}>>>"
    )


def section(name: str, text: str, boundary: str) -> str:
    """A fenced section built at call time (for values that are not in a template)."""
    _check_name(name)
    return f"<<<{name} {boundary}>>>\n{text}\n<<<END {name} {boundary}>>>"


def render(
    templates: list[str], values: Mapping[str, str], boundary: str | None = None
) -> tuple[list[str], str]:
    """Fills the templates with values and a boundary (`boundary`, else a fresh one);
    returns the texts and the boundary used. Values are inserted verbatim: they may contain
    markers or `${...}` freely."""
    while boundary is None or any(boundary in value for value in values.values()):
        # A fresh boundary holds by chance with probability 2**-80; a given one may have
        # been shown to the model, which could copy it into a value (an earlier answer in
        # the context): a value that holds the boundary could close its section, so it is
        # checked rather than assumed, and a fresh one drawn.
        boundary = new_boundary()
    filled = [
        Template(template).substitute({**values, "boundary": boundary}) for template in templates
    ]
    return filled, boundary


def sections(text: str) -> dict[str, str]:
    """The fenced sections of a rendered prompt, by name (the first of each name). A section
    ends only at the closing marker carrying its own boundary."""
    found: dict[str, str] = {}
    for match in _SECTION.finditer(text):
        found.setdefault(match["name"], match["content"])
    return found
