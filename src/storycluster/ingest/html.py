"""HTML inside a text field turned into plain text: block elements become paragraphs, scripts are dropped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

_HTML_TAG = re.compile(
    r"<(?:/?(?:p|div|br|hr|span|a|b|i|em|strong|h[1-6]|ul|ol|li|article|section|body|html|head|title|script|"
    r"style|table|tr|td|th|img|blockquote|figure|figcaption|header|footer|nav|main|aside|time|iframe|noscript)"
    r"\b[^<>]*>|!--)",
    re.IGNORECASE,
)


class _HtmlText(HTMLParser):
    """Collects the text of an HTML fragment: block elements become paragraphs, ``<br>`` a line break."""

    BLOCKS = frozenset({
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "article", "section", "header", "footer",
        "nav", "main", "aside", "blockquote", "figure", "figcaption", "table", "tr", "title", "head", "body", "html",
        "hr", "pre",
    })
    HIDDEN = frozenset({"script", "style", "noscript", "template", "iframe"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(text: str) -> str:
    """The plain text of ``text`` if it holds HTML markup, else ``text`` unchanged."""
    if "<" not in text or not _HTML_TAG.search(text):
        return text
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    paragraphs = re.split(r"\n{2,}", "\n".join(lines))
    return "\n\n".join(p.strip("\n") for p in paragraphs if p.strip())
