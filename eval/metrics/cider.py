"""CIDEr-D, vectorised, equal to pycocoevalcap's ``Cider`` (which is CIDEr-D) on the same tokens.

For a candidate c with references s_1..s_m and n = 1..4 (docs/rewards-and-metrics.md §6):
``g_n(x)[ω] = tf_x(ω) · (ref_len − log max(1, df(ω)))``;
``sim_n(c, s) = Σ_ω min(g_n(c)[ω], g_n(s)[ω]) · g_n(s)[ω] / (‖g_n(c)‖ ‖g_n(s)‖) · exp(−(ℓ_c − ℓ_s)² / (2·6²))``
(ℓ = number of bigrams); ``CIDEr-D = 10 · (1/m) Σ_s (1/4) Σ_n sim_n``.

Document frequencies:

- ``df=None`` (evaluation): df(ω) = number of images whose references contain ω, counted over the references
  passed in this call, and ``ref_len = log(number of images)``. This is pycocoevalcap's behaviour, which makes
  every score exactly 0 on a single image (all idf weights vanish): never score one sample or one GRPO group
  this way.
- ``df=DFTable`` (rewards): frequencies and ``ref_len = log(N)`` from a fixed reference corpus (the training
  references), built once with `build_df_table` and saved to JSON; n-grams unseen in the table get df 0, i.e.
  the full weight ``ref_len``.

Implementation: words → integer ids, n-grams → integer ids by repeated pairing (``np.unique`` on
``prev_id · V + next_word``), then term frequencies, norms, clipped dot products and length penalties are
segment sums (``np.bincount``) over (sentence, n-gram) entries; no per-n-gram Python loop, so a corpus is an
order of magnitude faster than pycocoevalcap. Sums are taken in a different order, so scores agree to ~1e-15.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.metrics.captions import _check_ids, caption_tokenize

N_GRAM = 4
SIGMA = 6.0


@dataclass
class DFTable:
    """Fixed document frequencies for per-sample CIDEr-D.

    Attributes:
        doc_freq: n-gram (words joined by one space) → number of images whose references contain it.
        n_images: number of images in the reference corpus.
        ref_len: ``log(n_images)``, the idf numerator.
    """

    doc_freq: dict = field(default_factory=dict)
    n_images: int = 0
    ref_len: float = 0.0
    _packed: object = field(default=None, init=False, repr=False, compare=False)

    def save(self, path) -> None:
        """Write the table as JSON (``{"n_images", "ref_len", "doc_freq"}``)."""
        Path(path).write_text(
            json.dumps({"n_images": self.n_images, "ref_len": self.ref_len, "doc_freq": self.doc_freq}),
            encoding="utf-8",
        )

    def packed(self):
        """Integer form for vectorised lookups, built once: (word -> id + 1, sorted n-gram codes, their df).

        A code packs up to four 16-bit word ids (id + 1, 0 = no word) into a uint64; None if the vocabulary
        has 65,535 words or more (then lookups go through the strings).
        """
        if self._packed is None:
            vocab: dict = {}
            grams = [g.split(" ") for g in self.doc_freq]
            for g in grams:
                for w in g:
                    vocab.setdefault(w, len(vocab) + 1)
            if len(vocab) >= 0xFFFF:
                self._packed = False
            else:
                codes = np.zeros(len(grams), dtype=np.uint64)
                for j in range(N_GRAM):
                    ids = np.fromiter(
                        (vocab[g[j]] if len(g) > j else 0 for g in grams), dtype=np.uint64, count=len(grams)
                    )
                    codes |= ids << np.uint64(16 * j)
                order = np.argsort(codes)
                df = np.fromiter(self.doc_freq.values(), dtype=np.float64, count=len(grams))
                self._packed = (vocab, codes[order], df[order])
        return self._packed or None

    @classmethod
    def load(cls, path) -> DFTable:
        """Read a table written by `save`."""
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(doc_freq=d["doc_freq"], n_images=int(d["n_images"]), ref_len=float(d["ref_len"]))


def build_df_table(reference_corpus, tokenize: bool = True) -> DFTable:
    """Document frequencies of 1..4-grams over a reference corpus, one document per image.

    Args:
        reference_corpus: ``{image id: [reference, ...]}`` or a sequence of reference lists (one per image).
        tokenize: apply `caption_tokenize` (must match how candidates are scored).

    Returns:
        A `DFTable` with ``ref_len = log(number of images)``.
    """
    groups = list(reference_corpus.values()) if isinstance(reference_corpus, dict) else list(reference_corpus)
    df: dict = {}
    for refs in groups:
        seen = set()
        for r in refs:
            w = caption_tokenize(r) if tokenize else str(r).split()
            for k in range(1, N_GRAM + 1):
                for i in range(len(w) - k + 1):
                    seen.add(" ".join(w[i : i + k]))
        for g in seen:
            df[g] = df.get(g, 0) + 1
    n = len(groups)
    return DFTable(doc_freq=df, n_images=n, ref_len=float(np.log(float(n))) if n else 0.0)


class _Ngrams:
    """Integer n-gram entries of a batch of token lists."""

    def __init__(self, sentences: list[list[str]]) -> None:
        vocab: dict = {}
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        words = np.fromiter(
            (vocab.setdefault(w, len(vocab)) for s in sentences for w in s), dtype=np.int64, count=int(lengths.sum())
        )
        self.vocab = vocab
        self.words = words
        self.lengths = lengths
        total = words.size
        sent = np.repeat(np.arange(len(sentences)), lengths)
        pos = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        remaining = lengths[sent] - pos  # tokens from this position to the sentence end
        v = max(len(vocab), 1)
        code = words.copy()  # id of the n-gram starting at each position (only meaningful where valid)
        gram_ids, gram_sent, gram_order, gram_start = [], [], [], []
        offset = 0
        for k in range(1, N_GRAM + 1):
            idx = np.flatnonzero(remaining >= k)
            if k == 1:
                # word ids are already dense n-gram ids; first occurrence via reversed assignment
                local = words
                first = np.zeros(v, dtype=np.int64)
                first[words[::-1]] = np.arange(total)[::-1]
                n_new = len(vocab)
            else:
                # pair (id of the (k-1)-gram at i, word at i+k-1) and compress back to dense ids
                key = code[idx] * v + words[idx + k - 1]
                _, first_local, local = np.unique(key, return_index=True, return_inverse=True)
                local = local.reshape(-1)
                first = idx[first_local]
                n_new = first_local.size
                code[idx] = local
            gram_ids.append(offset + local)
            gram_sent.append(sent[idx])
            gram_order.append(np.full(n_new, k - 1, dtype=np.int64))
            gram_start.append(first)
            offset += n_new
        self.n_grams = offset
        self.gram_order = np.concatenate(gram_order) if gram_order else np.zeros(0, dtype=np.int64)
        self.gram_start = np.concatenate(gram_start) if gram_start else np.zeros(0, dtype=np.int64)
        occ_gram = np.concatenate(gram_ids)
        occ_sent = np.concatenate(gram_sent)
        # term frequencies: one entry per (sentence, n-gram)
        key = occ_sent * max(offset, 1) + occ_gram
        ukey, tf = np.unique(key, return_counts=True)
        self.entry_sent = ukey // max(offset, 1)
        self.entry_gram = ukey % max(offset, 1)
        self.entry_tf = tf.astype(np.float64)

    def gram_strings(self) -> list[str]:
        """Each n-gram id as its words joined by spaces (for fixed-table lookups)."""
        inv = [""] * len(self.vocab)
        for w, i in self.vocab.items():
            inv[i] = w
        toks = [inv[i] for i in self.words.tolist()]  # plain list: slicing it is far cheaper than numpy
        return [
            " ".join(toks[s : s + o + 1])
            for s, o in zip(self.gram_start.tolist(), self.gram_order.tolist(), strict=False)
        ]


def _table_df(ng: _Ngrams, table: DFTable) -> np.ndarray:
    """Document frequency of each batch n-gram from a fixed table (0 for n-grams the table has not seen)."""
    packed = table.packed()
    if packed is None:
        return np.array([float(table.doc_freq.get(g, 0.0)) for g in ng.gram_strings()], dtype=np.float64)
    vocab, codes, dfs = packed
    batch_words = [""] * len(ng.vocab)
    for w, i in ng.vocab.items():
        batch_words[i] = w
    tid = np.array([vocab.get(w, 0) for w in batch_words] + [0], dtype=np.uint64)  # table id + 1 per batch word
    pos_tid = tid[ng.words] if ng.words.size else np.zeros(0, dtype=np.uint64)
    code = np.zeros(ng.n_grams, dtype=np.uint64)
    unknown = np.zeros(ng.n_grams, dtype=bool)
    for j in range(N_GRAM):
        has = ng.gram_order >= j
        t = pos_tid[ng.gram_start[has] + j]
        unknown[has] |= t == 0
        code[has] |= t << np.uint64(16 * j)
    at = np.minimum(np.searchsorted(codes, code), max(codes.size - 1, 0))
    found = ~unknown & (codes.size > 0) & (codes[at] == code) if codes.size else np.zeros(ng.n_grams, dtype=bool)
    return np.where(found, dfs[at] if codes.size else 0.0, 0.0)


def cider_d(candidates: dict, references: dict, df: DFTable | None = None, tokenize: bool = True):
    """CIDEr-D of each candidate against its references.

    Args:
        candidates: ``{id: caption}``.
        references: ``{id: [reference, ...]}``, same ids, non-empty lists.
        df: None → document frequencies from these references (pycocoevalcap ``Cider``); a `DFTable` → fixed
            frequencies (per-sample rewards).
        tokenize: apply `caption_tokenize`; with False, texts are split on whitespace as given.

    Returns:
        (corpus score = mean over ids, ``{id: score}``).
    """
    ids = _check_ids(candidates, references)
    if not ids:
        return 0.0, {}
    tok = caption_tokenize if tokenize else (lambda s: str(s).split())
    sentences = [tok(candidates[k]) for k in ids]
    ref_image = []
    for i, k in enumerate(ids):
        for r in references[k]:
            sentences.append(tok(r))
            ref_image.append(i)
    n_img = len(ids)
    ref_image = np.asarray(ref_image, dtype=np.int64)
    n_ref = ref_image.size
    ng = _Ngrams(sentences)
    is_ref = ng.entry_sent >= n_img
    if df is None:
        # images whose references contain each n-gram
        img_of = ref_image[ng.entry_sent[is_ref] - n_img]
        pairs = np.sort(img_of * max(ng.n_grams, 1) + ng.entry_gram[is_ref])
        # sort-based de-duplication: numpy's hash-based np.unique is several times slower on int64 here
        pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])] if pairs.size else pairs
        doc_freq = np.bincount(pairs % max(ng.n_grams, 1), minlength=ng.n_grams).astype(np.float64)
        ref_len = np.log(float(n_img))
    else:
        doc_freq = _table_df(ng, df)
        ref_len = df.ref_len
    idf = ref_len - np.log(np.maximum(1.0, doc_freq))
    value = ng.entry_tf * idf[ng.entry_gram]
    order = ng.gram_order[ng.entry_gram]
    n_sent = len(sentences)
    norm = np.sqrt(np.bincount(ng.entry_sent * N_GRAM + order, weights=value * value, minlength=n_sent * N_GRAM))
    norm = norm.reshape(n_sent, N_GRAM)
    bigrams = np.maximum(ng.lengths - 1, 0).astype(np.float64)
    # candidate value of each reference n-gram: candidate entries keyed by (image, gram), one candidate per image
    cand = ~is_ref
    cand_key = ng.entry_sent[cand] * max(ng.n_grams, 1) + ng.entry_gram[cand]  # sorted (np.unique order)
    cand_val = value[cand]
    r_sent = ng.entry_sent[is_ref]
    r_img = ref_image[r_sent - n_img]
    r_key = r_img * max(ng.n_grams, 1) + ng.entry_gram[is_ref]
    pos = np.searchsorted(cand_key, r_key)
    pos_c = np.minimum(pos, max(cand_key.size - 1, 0))
    found = (pos < cand_key.size) & (cand_key[pos_c] == r_key) if cand_key.size else np.zeros(r_key.size, dtype=bool)
    r_val = value[is_ref]
    contrib = np.where(found, np.minimum(cand_val[pos_c] if cand_key.size else 0.0, r_val) * r_val, 0.0)
    dot = np.bincount((r_sent - n_img) * N_GRAM + order[is_ref], weights=contrib, minlength=n_ref * N_GRAM)
    dot = dot.reshape(n_ref, N_GRAM)
    nc = norm[ref_image]  # candidate norms per reference row
    nr = norm[n_img:]
    both = (nc != 0) & (nr != 0)
    sim = np.where(both, dot / np.where(both, nc * nr, 1.0), dot)
    delta = bigrams[ref_image] - bigrams[n_img:]
    sim = sim * np.exp(-(delta**2) / (2 * SIGMA**2))[:, None]
    per_image_sum = np.zeros((n_img, N_GRAM))
    np.add.at(per_image_sum, ref_image, sim)
    n_refs = np.bincount(ref_image, minlength=n_img).astype(np.float64)
    scores = per_image_sum.mean(axis=1) / n_refs * 10.0
    return float(scores.mean()), {k: float(s) for k, s in zip(ids, scores, strict=False)}
