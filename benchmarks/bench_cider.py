"""Caption metrics: ours (eval.metrics.cider / captions) vs pycocoevalcap on the same tokenized text.

    python benchmarks/bench_cider.py [--quick]

10k synthetic captions x 5 references (Zipf vocabulary, per-image topics so n-grams repeat like real captions).
Rows: CIDEr-D / BLEU-1..4 / ROUGE-L corpus values and max per-image difference, wall time, speed ratio; then
fixed-df per-sample CIDEr-D throughput (one batched call, and one call per group of 8 candidates as in GRPO).
Both sides get pre-tokenized text split on whitespace (our tokenizer is not timed; PTB/Java is not run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from eval.metrics.captions import bleu, rouge_l
from eval.metrics.cider import build_df_table, cider_d


def corpus(rng, n_img, n_refs=5, vocab=2000):
    words = np.array([f"w{i}" for i in range(vocab)])
    zipf = 1.0 / np.arange(1, vocab + 1)
    zipf /= zipf.sum()

    def sentence(topic):
        n = rng.integers(6, 20)
        use_topic = rng.random(n) < 0.5
        return " ".join(np.where(use_topic, rng.choice(topic, n), rng.choice(words, n, p=zipf)))

    cands, refs = {}, {}
    for i in range(n_img):
        topic = rng.choice(words, 12, p=zipf)
        cands[i] = sentence(topic)
        refs[i] = [sentence(topic) for _ in range(n_refs)]
    return cands, refs


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1k captions instead of 10k")
    args = ap.parse_args()
    n = 1000 if args.quick else 10_000
    rng = np.random.default_rng(0)
    cands, refs = corpus(rng, n)
    res = {k: [v] for k, v in cands.items()}

    t_ref_c, (c_ref, per_ref) = timed(lambda: Cider().compute_score(refs, res))
    t_c, (c, per) = timed(lambda: cider_d(cands, refs, tokenize=False))
    d_c = max(abs(per[k] - per_ref[i]) for i, k in enumerate(refs))
    with contextlib.redirect_stdout(io.StringIO()):
        t_ref_b, (b_ref, _) = timed(lambda: Bleu(4).compute_score(refs, res))
    t_b, b = timed(lambda: bleu(cands, refs, tokenize=False))
    d_b = max(abs(b[f"bleu_{j + 1}"] - b_ref[j]) for j in range(4))
    t_ref_r, (r_ref, per_r_ref) = timed(lambda: Rouge().compute_score(refs, res))
    t_r, r = timed(lambda: rouge_l(cands, refs, tokenize=False))
    d_r = max(abs(r["per_id"][k] - per_r_ref[i]) for i, k in enumerate(refs))

    # fixed-df per-sample CIDEr-D (rewards): table from the references, then score samples against it
    t_table, table = timed(lambda: build_df_table(refs, tokenize=False))
    t_pack, _ = timed(table.packed)  # one-off integer index of the table
    t_batch, (_, per_fixed) = timed(lambda: cider_d(cands, refs, df=table, tokenize=False))
    # the corpus df equals the table's df here, so per-sample fixed-df scores equal the corpus per-image scores
    d_fixed = max(abs(per_fixed[k] - per[k]) for k in refs)
    groups = [list(range(s, min(s + 8, n))) for s in range(0, min(n, 2000), 8)]
    t = time.perf_counter()
    for g in groups:
        cider_d({k: cands[k] for k in g}, {k: refs[k] for k in g}, df=table, tokenize=False)
    t_groups = time.perf_counter() - t
    n_grouped = sum(len(g) for g in groups)

    rows = [
        ("CIDEr-D corpus", f"{c:.12f}", f"{c_ref:.12f}", f"max per-image diff {d_c:.1e}"),
        ("CIDEr-D time", f"{t_c:.2f} s", f"{t_ref_c:.2f} s", f"{t_ref_c / t_c:.1f}x faster"),
        ("BLEU-4 corpus", f"{b['bleu_4']:.12f}", f"{b_ref[3]:.12f}", f"max diff BLEU-1..4 {d_b:.1e}"),
        ("BLEU time", f"{t_b:.2f} s", f"{t_ref_b:.2f} s", f"{t_ref_b / t_b:.1f}x"),
        ("ROUGE-L corpus", f"{r['rouge_l']:.12f}", f"{r_ref:.12f}", f"max per-image diff {d_r:.1e}"),
        ("ROUGE-L time", f"{t_r:.2f} s", f"{t_ref_r:.2f} s", f"{t_ref_r / t_r:.1f}x"),
        ("df table build + index", f"{t_table:.2f} s + {t_pack:.2f} s ({n * 5} refs)", "", ""),
        (
            "fixed-df CIDEr-D, one call",
            f"{n / t_batch:,.0f} captions/s",
            "",
            f"equal to corpus per-image: {d_fixed:.1e}",
        ),
        ("fixed-df CIDEr-D, calls of 8", f"{n_grouped / t_groups:,.0f} captions/s", "", f"{len(groups)} calls"),
    ]
    head = ("", "ours", "pycocoevalcap", "note")
    w = [max(len(x[i]) for x in rows + [head]) for i in range(4)]
    print(f"{n} candidates x 5 references")
    print(" | ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    print("-+-".join("-" * x for x in w))
    for row in rows:
        print(" | ".join(x.ljust(w[i]) for i, x in enumerate(row)))


if __name__ == "__main__":
    main()
