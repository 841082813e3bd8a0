"""HTML turned into plain text with trafilatura: the main text of a page or of a fragment found in a field.

Boilerplate (menus, cookie banners, "related articles", comments) is dropped; block elements become
paragraphs separated by a blank line, ``<br>`` a line break, whitespace inside a paragraph one space.
Text without HTML tags is left exactly as given. trafilatura loads on first use.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_HTML_TAG = re.compile(
    r"<(?:/?(?:p|div|br|hr|span|a|b|i|em|strong|h[1-6]|ul|ol|li|article|section|body|html|head|title|script|"
    r"style|table|tr|td|th|img|blockquote|figure|figcaption|header|footer|nav|main|aside|time|iframe|noscript)"
    r"\b[^<>]*>|!--)",
    re.IGNORECASE,
)
_DOCUMENT = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)
_BLOCKS = frozenset({"p", "head", "item", "quote", "code", "row", "cell", "list", "table", "div"})


def has_markup(text: str) -> bool:
    """Whether ``text`` holds HTML tags (paragraphs, breaks, headings, lists, links, scripts, comments...)."""
    return "<" in text and _HTML_TAG.search(text) is not None


def is_html_document(data: bytes) -> bool:
    """Whether ``data`` starts as a whole HTML document does (a doctype or an ``<html>`` element)."""
    return _DOCUMENT.match(data[:4096]) is not None


def html_to_text(text: str) -> str:
    """The main text of ``text`` if it holds HTML markup (a whole page or a fragment), else ``text`` unchanged.

    A fragment too small for the extractor to find a body in keeps all its text.
    """
    if not has_markup(text):
        return text
    import trafilatura

    whole_page = is_html_document(text[:4096].encode("utf-8", errors="replace"))
    # a fragment opens as a paragraph, so text before its first block element is kept as one too
    wrapped = text if whole_page else f"<html><body><article><p>{text}</p></article></body></html>"
    document = trafilatura.bare_extraction(
        wrapped, include_comments=False, favor_recall=not whole_page, config=extractor_config(fragment=True)
    )
    if document is None:
        return " ".join(trafilatura.html2txt(wrapped).split())
    body = document.body
    if whole_page and len(body) and body[0].tag == "head" and body[0].get("rend") == "h1":
        body.remove(body[0])  # the page's headline: a record gives its title in its own field
    return body_text(body) or " ".join(trafilatura.html2txt(wrapped).split())


@functools.cache
def extractor_config(*, fragment: bool = False) -> Any:
    """trafilatura's settings: no timeout (it uses SIGALRM, main thread only); any length for a fragment."""
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    if fragment:
        for option in ("MIN_EXTRACTED_SIZE", "MIN_OUTPUT_SIZE", "MIN_EXTRACTED_COMM_SIZE", "MIN_OUTPUT_COMM_SIZE"):
            config.set("DEFAULT", option, "1")
    return config


def body_text(body: Any) -> str:
    """The text of trafilatura's extracted body tree: one paragraph per block, ``<lb/>`` a line break."""
    if body is None:
        return ""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        lines = "".join(current).split("\n")
        paragraph = "\n".join(" ".join(line.split()) for line in lines).strip()
        if paragraph:
            paragraphs.append(paragraph)
        current.clear()

    def walk(element: Any) -> None:
        block = element.tag in _BLOCKS and element is not body
        if block:
            flush()
        if element.tag == "lb":
            current.append("\n")
        elif element.text:
            current.append(element.text.replace("\n", " "))
        for child in element:
            walk(child)
        if block:
            flush()
        if element.tail and element is not body:
            current.append(element.tail.replace("\n", " "))

    walk(body)
    flush()
    return "\n\n".join(paragraphs)
