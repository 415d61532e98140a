"""WordNet 3.0 for the LRS-VQA scoring rule, read by NLTK from Debian's ``wordnet-base`` package.

The official LRS-VQA evaluator calls ``nltk.corpus.wordnet`` (WordNet 3.0). NLTK's own data download is not a
package registry, so the database comes from Debian's ``wordnet-base`` (WordNet 3.0, the original Princeton
``dict/`` files under ``/usr/share/wordnet``; ``make wordnet-deps`` installs it and ``make test`` calls that). The
package ships every file NLTK's reader opens except ``lexnames``, the fixed table of the 45 lexicographer files
documented in WordNet 3.0's ``lexnames(5WN)``; the reader here serves it from `LEXNAMES`. NLTK (3.10+) only opens
corpora under its data path, so the WordNet folder is added to ``nltk.data.path``.

Set ``GEORFT_WORDNET`` to another WordNet 3.0 ``dict/`` folder to use it instead.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from data_engine.errors import UserError

DEBIAN_DIR = Path("/usr/share/wordnet")
# lexnames(5WN), WordNet 3.0: file number -> lexicographer file name (syntactic category is its prefix)
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_FILES = tuple(f"{k}.{p}" for k in ("data", "index") for p in ("noun", "verb", "adj", "adv")) + tuple(
    f"{p}.exc" for p in ("noun", "verb", "adj", "adv"))
INSTALL_HINT = "install Debian's wordnet-base (`make wordnet-deps`) or set GEORFT_WORDNET to a WordNet 3.0 dict folder"


def wordnet_dir() -> Path:
    """The WordNet 3.0 ``dict/`` folder in use; a one-line `UserError` when it is not installed."""
    d = Path(os.environ.get("GEORFT_WORDNET") or DEBIAN_DIR)
    missing = [f for f in _FILES if not (d / f).is_file()]
    if missing:
        raise UserError(f"WordNet 3.0 not found in {d} (missing {', '.join(missing[:3])}): {INSTALL_HINT}")
    return d


def _lexnames_text() -> str:
    return "".join(f"{k:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for k, name in enumerate(LEXNAMES))


@functools.lru_cache(maxsize=1)
def wordnet():
    """NLTK's WordNet reader on the installed WordNet 3.0 (loaded once per process, a few seconds)."""
    import io
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        def open(self, file):
            if file == "lexnames" and not (Path(str(self._root)) / "lexnames").is_file():
                return io.StringIO(_lexnames_text())
            return super().open(file)

        def map_wn(self, version="wordnet"):
            return None  # the 3.0 -> other-version synset map is for OMW data, unused here (and not installed)

    src = str(wordnet_dir().resolve())
    if src not in nltk.data.path:
        nltk.data.path.append(src)
    with warnings.catch_warnings():  # "multilingual functions are not available": OMW is not used
        warnings.simplefilter("ignore", UserWarning)
        reader = _Reader(src, None)
    if reader.get_version() != "3.0":  # the official scores were computed on WordNet 3.0
        raise UserError(f"{src} holds WordNet {reader.get_version()}, not 3.0: {INSTALL_HINT}")
    return reader
