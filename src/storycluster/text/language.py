"""The language of an article: the input's own ``lang`` where it gives one, else identified from the text.

Identification is py3langid (a maintained, numpy-only port of langid.py: 97 languages, ISO 639-1 codes)
on the headline and the start of the text. Measured on the 8,941 titles of ``../shared/bench/og2021_dev.jsonl``
(``bench/languages.py --parts langid``, 8 languages, one run on a loaded machine): 0.959 of titles right at
2,500 titles/s, against lingua-language-detector's 0.988 at 42 titles/s (and 1.1 GB of memory against
140 MB): lingua would slow indexing several times over for 3 points on bare titles; on whole articles both
are near perfect. py3langid's mistakes on titles are mostly close minority languages (an English headline
full of Nigerian names read as Nigerian Pidgin, Spanish as Galician). Give the field ``lang`` where you know.
"""

from __future__ import annotations

import re

SAMPLE_CHARS = 1000  # the headline and this much of the text: enough for near-certain identification
_LETTER = re.compile(r"[^\W\d_]")
_CODE = re.compile(r"^[a-z]{2,3}$")


def normalise_language(value: str) -> str | None:
    """A language tag as stored: its lower-case primary subtag (``"pt-BR"`` -> ``"pt"``); None if not a tag."""
    code = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if _CODE.match(code) else None


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language ``text`` is written in, or None where it has no letters."""
    sample = text[:SAMPLE_CHARS]
    if not _LETTER.search(sample):
        return None
    import py3langid  # its model loads on the first call (about a second)

    return str(py3langid.classify(sample)[0])


def article_language(title: str | None, text: str) -> str | None:
    """The language of an article identified from its headline and the start of its text."""
    return detect_language(f"{title}\n{text}" if title else text)
