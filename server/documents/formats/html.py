"""The HTML reader: the page's readable content (the article, not its navigation, banners
and link lists) as paragraphs, tables and lists."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString, Tag

from server.documents.archives import ParseLimits
from server.documents.detection import CorruptDocument
from server.documents.formats.extraction import Extraction

# Never content: code, styling, embedded objects, form controls, document head.
_HTML_DROPPED_TAGS = (
    *("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object"),
    *("embed", "head", "button", "input", "select", "textarea", "option", "dialog"),
    *("menu",),
)
# Page furniture, dropped unless it holds the main content (some sites wrap the whole page
# in a <form>).
_HTML_FURNITURE_TAGS = ("nav", "aside", "form", "header", "footer")
_HTML_FURNITURE_ROLES = {
    *("navigation", "banner", "contentinfo", "complementary", "search", "menu"),
    *("menubar", "toolbar", "dialog", "alertdialog", "tablist"),
}
# Class or id words of boilerplate: consent banners, sharing, promotion, related links...
_HTML_BOILERPLATE_WORDS = {
    *("ad", "ads", "advert", "advertisement", "banner", "breadcrumb", "breadcrumbs"),
    *("comment", "comments", "consent", "cookie", "cookies", "donate", "donation"),
    *("gdpr", "masthead", "menu", "modal", "nav", "navbar", "navigation", "newsletter"),
    *("pagination", "paywall", "popup", "promo", "promotion", "recommendations"),
    *("recommended", "related", "share", "sharing", "sidebar", "skip", "social"),
    *("sponsored", "subscribe", "subscription", "toolbar", "sr-only"),
    *("visually-hidden", "visuallyhidden", "screen-reader-text", "off-screen", "offscreen"),
}
# MediaWiki's furniture (Wikipedia and other wikis): "From Wikipedia, the free encyclopedia",
# the coordinates and icons above the title, `Retrieved from "…"`, the category links, and
# whatever the print view hides.
_MEDIAWIKI_FURNITURE = {
    *("sitesub", "contentsub", "mw-indicators", "printfooter", "catlinks", "noprint"),
    *("mw-editsection", "mw-jump-link"),
}
_HTML_BOILERPLATE_ROOTS = ("cookie", "newsletter", "advert", "sponsor", "breadcrumb", "paywall")
_HTML_BLOCK_TAGS = {
    *("address", "article", "blockquote", "body", "caption", "dd", "details", "div"),
    *("dl", "dt", "fieldset", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4"),
    *("h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre"),
    *("section", "summary", "table", "ul"),
}
# A <br> inside a paragraph, kept apart from source whitespace until the paragraph is done.
_BR = "\u2028"
_WORD_SPLIT = re.compile(r"[\s_]+|(?<=[a-z])(?=[A-Z])")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?]$")
_LABEL_WORDS = 4
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


class _Paragraph(StrEnum):
    TEXT = "text"
    HEADING = "heading"
    # Every word inside a link: "Reuse this content", "Read more", "Share".
    LINKS = "links"


def read_html(data: bytes, limits: ParseLimits) -> Extraction:
    """The readable content of an HTML page as one page, with its title, author and date."""
    soup = BeautifulSoup(data, "lxml")
    metadata = _html_metadata(soup)
    if soup.original_encoding:
        metadata["encoding"] = soup.original_encoding
    try:
        root = _main_content(soup)
        lines = _HtmlText().render(root)
    except RecursionError as e:
        raise CorruptDocument("The HTML page is nested too deeply to be read.") from e
    return Extraction(pages=[lines], page_count=1, metadata=metadata)


def _html_metadata(soup: BeautifulSoup) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def meta(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find(
                "meta", attrs={"name": name}
            )
            if isinstance(tag, Tag):
                content = tag.get("content")
                if isinstance(content, str) and content.strip():
                    return content.strip()
        return ""

    title = meta("og:title", "twitter:title")
    if not title and soup.title is not None:
        title = soup.title.get_text(" ", strip=True)
    for key, value in (
        ("title", title),
        ("author", meta("author", "article:author")),
        ("description", meta("description", "og:description")),
        ("published", meta("article:published_time", "date")),
    ):
        if value:
            found[key] = value
    html = soup.find("html")
    if isinstance(html, Tag) and isinstance(html.get("lang"), str):
        found["language"] = html["lang"]
    return found


def _text_length(tag: Tag) -> int:
    return len(_SPACES.sub("", tag.get_text()))


def _main_content(soup: BeautifulSoup) -> Tag:
    """The element holding the readable content, after dropping boilerplate.

    The largest <article> outside page furniture (comment threads also use <article>) when it
    holds a fair share of the page's text or clearly outweighs the other articles (teaser
    cards); else <main>; else the body.
    """
    for tag in soup.find_all(_HTML_DROPPED_TAGS):
        tag.decompose()
    for figure in soup.find_all("figure"):
        # Images with captions and credits; a figure that wraps a table or quote is content.
        if not figure.decomposed and figure.find(["table", "blockquote", "pre"]) is None:
            figure.decompose()
    body = soup.body if soup.body is not None else soup
    for comment in body.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    total = max(_text_length(body), 1)
    articles = sorted(
        (
            (_text_length(tag), tag)
            for tag in soup.find_all("article")
            + soup.find_all(True, attrs={"itemprop": "articleBody"})
            if not any(_is_furniture(parent) for parent in tag.parents if parent is not body)
        ),
        key=lambda pair: pair[0],
        reverse=True,
    )
    mains = soup.find_all("main") + soup.find_all(True, attrs={"role": "main"})
    best_main = max(mains, key=_text_length, default=None)
    root: Tag = body
    if articles and (
        articles[0][0] >= total * 0.3
        or (articles[0][0] >= 1000 and (len(articles) == 1 or articles[0][0] >= 2 * articles[1][0]))
    ):
        root = articles[0][1]
    elif best_main is not None and _text_length(best_main) >= total * 0.3:
        root = best_main
    _drop_furniture(root, _text_length(root))
    return root


def _drop_furniture(root: Tag, root_length: int) -> None:
    """Removes navigation, banners, link lists and other boilerplate inside the content root;
    never an element holding most of the content, whatever its name says."""
    candidates = [tag for tag in root.find_all(True) if _is_furniture(tag) or _is_link_list(tag)]
    for tag in candidates:
        if tag.decomposed or _inside_any(tag, candidates):
            continue
        if _text_length(tag) > root_length * 0.5:
            continue
        label = tag.find_previous_sibling() if _is_link_list(tag) else None
        tag.decompose()
        if label is not None and _is_label(label):
            label.decompose()


def _is_label(tag: Tag) -> bool:
    """A few words announcing what follows ("Topics", "Related Topics", "Categories:"), left
    over once what followed is dropped."""
    text = tag.get_text(" ", strip=True)
    return 0 < len(text.split()) <= _LABEL_WORDS and not _SENTENCE_END.search(text)


def _is_link_list(tag: Tag) -> bool:
    """A list whose every item is only a link: related stories, tags, "see also"."""
    if tag.name not in ("ul", "ol"):
        return False
    items = tag.find_all("li", recursive=False)
    if len(items) < 2:
        return False
    for item in items:
        text = _text_length(item)
        linked = sum(_text_length(link) for link in item.find_all("a"))
        if text == 0 or linked < text:
            return False
    return True


def _inside_any(tag: Tag, candidates: list[Tag]) -> bool:
    return any(parent in candidates for parent in tag.parents)


def _is_furniture(tag: Tag) -> bool:
    if tag.name in _HTML_FURNITURE_TAGS:
        # An article's own header holds its title and byline.
        return not (tag.name == "header" and tag.find_parent("article") is not None)
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    role = tag.get("role")
    if isinstance(role, str) and role.lower() in _HTML_FURNITURE_ROLES:
        return True
    style = tag.get("style")
    if isinstance(style, str) and re.search(r"display\s*:\s*none|visibility\s*:\s*hidden", style):
        return True
    names: list[str] = []
    for attribute in ("class", "id"):
        value = tag.get(attribute)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, list):
            names.extend(value)
    for name in names:
        lowered = name.lower()
        if (
            lowered in _HTML_BOILERPLATE_WORDS
            or lowered in _MEDIAWIKI_FURNITURE
            or any(root in lowered for root in _HTML_BOILERPLATE_ROOTS)
        ):
            return True
        words = {word.lower() for word in _WORD_SPLIT.split(name) for word in word.split("-")}
        if words & _HTML_BOILERPLATE_WORDS:
            return True
    return False


class _HtmlText:
    """Renders an element as paragraphs: block elements separated by blank lines, table rows
    as " | "-separated cells, list items prefixed with "- ", <pre> kept as it is. Headings
    and links left at the end, with nothing of the article after them, are page furniture
    ("More on this story", "Reuse this content") and go."""

    def __init__(self) -> None:
        self._paragraphs: list[tuple[str, _Paragraph]] = []
        self._inline: list[str] = []
        # Characters of the paragraph being built, and how many of them are in a link.
        self._characters = 0
        self._linked = 0
        self._link_depth = 0

    def render(self, root: Tag) -> str:
        self._walk(root)
        self._flush()
        paragraphs = self._paragraphs
        while len(paragraphs) > 1 and paragraphs[-1][1] is not _Paragraph.TEXT:
            paragraphs.pop()
        return "\n\n".join(text for text, _ in paragraphs)

    def _flush(self, kind: _Paragraph = _Paragraph.TEXT) -> None:
        lines = (_SPACES.sub(" ", line).strip() for line in "".join(self._inline).split(_BR))
        text = "\n".join(line for line in lines if line)
        if text:
            if self._linked == self._characters:
                kind = _Paragraph.LINKS
            self._paragraphs.append((text, kind))
        self._inline = []
        self._characters = self._linked = 0

    def _walk(self, element: Tag) -> None:
        for child in element.children:
            if isinstance(child, Tag):
                self._element(child)
            elif type(child) is NavigableString:
                text = str(child)
                self._inline.append(text)
                visible = len(text.strip())
                self._characters += visible
                if self._link_depth:
                    self._linked += visible

    def _element(self, tag: Tag) -> None:
        name = tag.name
        if name == "br":
            self._inline.append(_BR)
        elif name == "pre":
            self._flush()
            text = tag.get_text().strip("\n")
            if text.strip():
                self._paragraphs.append((text, _Paragraph.TEXT))
        elif name == "table":
            self._flush()
            table = self._table(tag)
            if table:
                self._paragraphs.append((table, _Paragraph.TEXT))
        elif name == "li":
            self._flush()
            self._inline.append("- ")
            self._walk(tag)
            self._flush()
        elif name in _HTML_BLOCK_TAGS:
            self._flush()
            self._walk(tag)
            self._flush(_Paragraph.HEADING if name in _HEADINGS else _Paragraph.TEXT)
        elif name == "a":
            self._link_depth += 1
            self._walk(tag)
            self._link_depth -= 1
        else:
            self._walk(tag)

    def _table(self, table: Tag) -> str:
        rows: list[str] = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue
            cells = [
                _SPACES.sub(" ", cell.get_text(" ")).strip()
                for cell in row.find_all(["td", "th"])
                if cell.find_parent("tr") is row
            ]
            if any(cells):
                rows.append(" | ".join(cells))
        caption = table.find("caption")
        if caption is not None:
            rows.insert(0, _SPACES.sub(" ", caption.get_text(" ")).strip())
        return "\n".join(rows)
