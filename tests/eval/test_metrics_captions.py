"""Caption tokenizer, BLEU, ROUGE-L and CIDEr-D: equality with pycocoevalcap and the single-image df trap."""

from __future__ import annotations

import contextlib
import io
import shutil

import pytest

from eval.metrics.captions import bleu, caption_tokenize, java_metrics, rouge_l
from eval.metrics.cider import DFTable, build_df_table, cider_d

RAW_CANDS = {
    1: "Many planes are parked near the terminal.",
    2: "A river goes through the green farmland",
    3: "",
    4: "an airport",
}
RAW_REFS = {
    1: [
        "Several planes are parked beside the terminal building.",
        "Many airplanes parked near a terminal.",
        "Planes parked at the airport's terminal.",
    ],
    2: [
        "A river runs through green farmland.",
        "Green fields on both sides of a river.",
        "The river doesn't cross the road.",
    ],
    3: ["Dense residential area with many houses."],
    4: ["An airport with two runways.", "A large airport next to the sea.", "Airport."],
}


def _tokenized():
    cands = {k: " ".join(caption_tokenize(v)) for k, v in RAW_CANDS.items()}
    refs = {k: [" ".join(caption_tokenize(r)) for r in v] for k, v in RAW_REFS.items()}
    return cands, refs


@pytest.mark.parametrize(
    "raw, toks",
    [
        ("Many planes, parked.", ["many", "planes", "parked"]),
        ("It's a well-known road", ["it", "'s", "a", "well-known", "road"]),
        ("The river doesn't cross", ["the", "river", "does", "n't", "cross"]),
        ("2.5 km (approx.) -- ok!", ["2.5", "km", "approx", "ok"]),
        ("", []),
    ],
)
def test_caption_tokenize(raw, toks):
    assert caption_tokenize(raw) == toks
    assert caption_tokenize(" ".join(toks)) == toks  # idempotent


def test_bleu_rouge_cider_equal_pycocoevalcap():
    pytest.importorskip("pycocoevalcap", reason="reference implementation (pip install -e '.[bench]')")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    cands, refs = _tokenized()
    res = {k: [v] for k, v in cands.items()}
    with contextlib.redirect_stdout(io.StringIO()):
        b_ref, _ = Bleu(4).compute_score(refs, res)
    b = bleu(cands, refs)
    for j in range(4):
        assert abs(b[f"bleu_{j + 1}"] - b_ref[j]) < 1e-12
    r_ref, _ = Rouge().compute_score(refs, res)
    assert abs(rouge_l(cands, refs)["rouge_l"] - r_ref) < 1e-12
    c_ref, per_ref = Cider().compute_score(refs, res)
    c, per = cider_d(cands, refs)
    assert abs(c - c_ref) < 1e-12
    for i, k in enumerate(refs):
        assert abs(per[k] - per_ref[i]) < 1e-12
    assert c > 0.3 and per[3] == 0.0  # a real signal; the empty caption scores 0
    # raw text through our tokenizer gives the same numbers as pre-tokenized text
    assert cider_d(RAW_CANDS, RAW_REFS)[0] == pytest.approx(c, abs=1e-15)


def test_single_image_cider_is_zero_but_df_table_is_not(tmp_path):
    cand = {1: RAW_REFS[1][0]}  # a candidate identical to one of its references
    refs = {1: RAW_REFS[1]}
    # df from the call: one image -> ref_len = log 1 = 0 and every idf = 0 - log(max(1, df)) <= 0 ... exactly 0
    score, per = cider_d(cand, refs)
    assert score == 0.0 and per == {1: 0.0}
    table = build_df_table(RAW_REFS)
    assert table.n_images == 4
    fixed, _ = cider_d(cand, refs, df=table)
    assert fixed > 1.0
    # with the table built from the whole corpus, the per-sample score equals the corpus score of that image
    pytest.importorskip("pycocoevalcap", reason="reference implementation")
    from pycocoevalcap.cider.cider import Cider

    cands, trefs = _tokenized()
    cands[1] = " ".join(caption_tokenize(RAW_REFS[1][0]))
    _, per_ref = Cider().compute_score(trefs, {k: [v] for k, v in cands.items()})
    assert abs(fixed - per_ref[0]) < 1e-12
    # save / load round trip keeps the score
    table.save(tmp_path / "df.json")
    loaded = DFTable.load(tmp_path / "df.json")
    assert cider_d(cand, refs, df=loaded)[0] == fixed


def test_cider_rejects_mismatched_or_empty():
    with pytest.raises(ValueError):
        cider_d({1: "a"}, {2: ["a"]})
    with pytest.raises(ValueError):
        cider_d({1: "a"}, {1: []})


def test_java_metrics_never_fake(monkeypatch):
    import eval.metrics.captions as captions

    monkeypatch.setattr(captions.shutil, "which", lambda name: None)
    r = java_metrics({1: "a plane"}, {1: ["a plane on a runway"]}, which=("meteor", "spice"))
    assert r == {"meteor": None, "spice": None, "skipped": "java is not on PATH"}


@pytest.mark.slow
def test_java_meteor_bounds():
    # no skip: `make test` installs the JRE (make eval-deps), so METEOR is computed in CI
    assert shutil.which("java"), "java is not on PATH: run `make eval-deps` (Debian's default-jre-headless)"
    assert java_metrics({1: "a plane on a runway"}, {1: ["a plane on a runway"]}) == {"meteor": 1.0}
    assert java_metrics({1: "green trees"}, {1: ["many buildings are near a road"]}) == {"meteor": 0.0}


def test_meteor_is_computed_for_every_caption_task_in_make_test():
    """One JVM start (~15 s): a caption scored through the suite path gets METEOR (identical text: 1.0, the
    METEOR 1.5 value of a perfect match), the rouge-score F values, and no ``skipped/meteor``."""
    from eval.runner_score import score_rows
    from eval.suite import DatasetEntry, SuiteConfig

    assert shutil.which("java"), "java is not on PATH: run `make eval-deps` (Debian's default-jre-headless)"
    suite = SuiteConfig(name="t", datasets=[DatasetEntry(name="c", path=".")])
    rows = [{"id": "c/1", "task": "caption", "target": {"references": ["A plane on a runway."]},
             "prediction": {"caption": "a plane on a runway", "format_ok": True}}]
    m = score_rows(rows, suite.datasets[0], suite)
    assert m["meteor"] == 1.0 and "skipped/meteor" not in m
    assert m["rouge_1_f"] == 1.0 and m["rouge_l_f"] == 1.0 and rows[0]["scores"]["rouge_1_f"] == 1.0
