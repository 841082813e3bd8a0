"""The language of an article: the input's own ``lang`` where it gives one, else identified from the text.

Identification is py3langid (a maintained, numpy-only port of langid.py, ISO 639-1 codes) on the headline and
the start of the text, limited to ``NEWS_LANGUAGES``: the 70 languages with a sizeable written press. Its
full model also knows close minority languages that catch bare headlines of the big ones (an English
headline full of Nigerian names read as Nigerian Pidgin, German as Luxembourgish). Measured by
``bench/languages.py --parts langid`` (2026-11-29):

| | full model (142 languages) | limited to NEWS_LANGUAGES |
|---|---|---|
| og2021_dev titles (8 languages) right | 0.959 | 0.987 |
| uci_news_dev English headlines read as another language | 0.079 | 0.028 |
| googlenews_ts English snippets read as another language | 0.012 | 0.0003 |

lingua-language-detector reaches 0.988 on the og2021_dev titles at 42 titles/s and 1.1 GB of memory (in its
high-accuracy mode; 0.852 in its fast one), against thousands a second for py3langid. An article in a
language outside the list is given the closest listed one: give the field ``lang`` where you know it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import pickle
import re
import sys
from importlib.metadata import version

from ..cache import cache_dir, write_atomically

NEWS_LANGUAGES = tuple(
    "af ar az be bg bn bs ca cs cy da de el en eo es et eu fa fi fr ga gl gu he hi hr hu hy id is it ja ka kk km "
    "kn ko lt lv mk ml mn mr ms ne nl no pa pl ps pt ro ru si sk sl sq sr sv sw ta te th tl tr uk ur uz vi zh".split()
)
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
    return str(_identifier().classify(sample)[0])


@functools.cache
def _identifier():  # noqa: ANN202  (py3langid's LanguageIdentifier)
    """py3langid limited to ``NEWS_LANGUAGES``, from the cache where it was kept after its first load.

    Its model ships LZMA-compressed: decompressing it took 0.7 s of every ``storycluster index`` run. The
    ready identifier is pickled once under ``$STORYCLUSTER_CACHE/langid``, named after the versions of
    py3langid, numpy and Python and the language list, and unpickled in 0.1 s from then on; a cache that
    cannot be read is rebuilt, one that cannot be written is skipped.
    """
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    made_by = f"{','.join(NEWS_LANGUAGES)} {version('numpy')} {sys.version_info[:2]}"
    name = f"py3langid-{version('py3langid')}-{hashlib.sha256(made_by.encode()).hexdigest()[:12]}.pickle"
    path = cache_dir("langid") / name
    try:
        with path.open("rb") as cached:
            identifier = pickle.load(cached)  # our own file, written below
        if isinstance(identifier, LanguageIdentifier):
            return identifier
    except Exception:  # noqa: BLE001  (missing, truncated or from another Python: load from the package)
        pass
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages([code for code in NEWS_LANGUAGES if code in identifier.nb_classes])
    with contextlib.suppress(OSError):  # a cache that cannot be written is skipped
        write_atomically(path, pickle.dumps(identifier, protocol=pickle.HIGHEST_PROTOCOL))
    return identifier


def article_language(title: str | None, text: str) -> str | None:
    """The language of an article identified from its headline and the start of its text."""
    return detect_language(f"{title}\n{text}" if title else text)
