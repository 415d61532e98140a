"""Scoring prediction rows: per-dataset metrics and per-sample scores, one function per task.

Every number comes from the pure functions of `eval.metrics` (nothing is re-derived here); this module only
gathers their inputs from prediction rows (``target`` and ``prediction`` dicts, original pixels) and flattens their
outputs into ``{metric_name: number}``. A task's scorer is the `SCORERS` entry its declaration names
(`data_engine.tasks`). Common to every task: ``n`` (rows), ``parse_fail_rate`` (share whose parser
reported ``format_ok = False``) and ``truncated_rate`` (share that hit ``max_new_tokens``); rows rendered in
think-then-answer mode add ``think_format_rate`` (share of well-formed completions) and ``reasoning_chars_mean``
(`eval.parsers.reasoning`). The collapse flags of `eval.collapse` (docs/collapse-flags.md) too: ``distinct_answer_share``,
``top_answer_share``, and ``empty_think_share`` for think-then-answer rows; `eval.runner` adds
``same_as_<policy>_share`` against each trivial baseline.

| task | dataset metrics | per-sample scores |
|---|---|---|
| detection | ``mAP`` (VOC07, ``detection.protocol``), ``mAP_area``, ``mAP_nc``, ``mF1``, ``precision``, ``recall``, ``f1``, ``ap/<class>`` | ``precision``, ``recall``, ``f1`` of the image |
| grounding | ``acc@0.5`` … ``acc@0.9``, ``mean_iou``, ``cum_iou``; rows with a ``unique`` flag (VRSBench) also ``acc@0.5/unique``, ``acc@0.7/unique``, ``mean_iou/unique``, ``n/unique`` and the same ``/non_unique`` | ``iou``, ``correct`` (IoU at 0.5) |
| vqa | ``accuracy``, ``acc/<qtype>``, ``mean_over_types``, ``mean_over_non_count_types``; for ``count`` questions with a numeric answer ``count_accuracy``, ``count_mae``, ``count_rmse``, ``count_n`` | ``correct`` |
| classification | ``accuracy``, ``mean_class_accuracy`` | ``correct`` |
| caption | ``bleu_1`` … ``bleu_4``, ``rouge_l``, ``cider_d`` (corpus df), ``rouge_1_f``, ``rouge_l_f`` (`rouge-score`, stemmed), ``meteor`` (Java; else ``skipped/meteor`` = 1) | ``rouge_l``, ``cider_d``, ``rouge_1_f``, ``rouge_l_f`` |
| referring_segmentation | ``mIoU``, ``cIoU``, ``pr@0.5`` … ``pr@0.9`` (mask IoU in original pixels) | ``iou``, ``correct`` (IoU at 0.5) |
| semantic_segmentation | ``mIoU``, ``mAcc``, ``mFscore``, ``aAcc``, ``IoU/<class>`` … (mmseg's IoUMetric over the rows' per-class pixel totals, ignore pixels dropped) | ``iou``, ``correct`` |
| change_caption | caption's + ``change_accuracy`` | caption's + ``change_correct`` |
| change_detection | detection's + ``pixel_precision``, ``pixel_recall``, ``pixel_f1``, ``pixel_iou`` (change class, rasterised polygons vs the label mask, summed over the set); xBD rows also ``xview2_score``, ``localization_f1``, ``damage_f1``, ``damage_f1/<1-4>`` | detection's + ``pixel_f1`` |
| damage | ``accuracy``, ``acc/<qtype>``, ``ordinal_credit`` (mean of 1 / 0.5 / 0 on damage levels) | ``correct`` |
| referring_detection | ``precision@0.5``, ``precision@0.25``, ``recall@0.5``, ``f1@0.5``, ``mean_iou``, ``precision@0.5/<group>`` and ``@0.25`` for single / multi / none and small / medium / large, ``n/<group>`` (`eval.metrics.referring`) | ``precision@0.5``, ``f1@0.5``, ``mean_iou`` |
| multilabel_classification | ``sample_f1``, ``micro_f1``, ``macro_f1``, ``mAP`` (`eval.metrics.multilabel`, scikit-learn's definitions) | ``f1`` |
| grounding_description | the caption metrics of the text, ``box_precision@0.5``, ``box_precision@0.25``, ``box_recall@0.5``, ``box_f1@0.5``, ``box_mean_iou`` of the boxes (class-agnostic, as referring detection) | ``rouge_l``, ``cider_d``, ``box_f1@0.5`` |
| vqa, ``answer_rule: lrs_vqa`` | vqa's + ``lrs_official/OA``, ``/AA``, ``/acc/<category>``, ``/<SOURCE>/…`` and the same ``lrs_rscovlm/…`` (`eval.metrics.lrs_vqa`; zoom_vqa rows: ``lrs_official_zoom/…``, ``lrs_official_direct/…``) | + ``wups_correct`` |
| vqa, ``answer_rule: mme_realworld`` | vqa's + ``mme/accuracy``, ``mme/acc/<category>``, ``mme/n``, ``mme/n_E`` (official letter extraction, `eval.metrics.multiple_choice`) | + ``mme_correct`` |
| vqa, ``answer_rule: xlrs`` | vqa's + ``xlrs/accuracy``, ``xlrs/macro_accuracy``, ``xlrs/acc/<category>``, ``xlrs/n`` (letter-set equality, `eval.metrics.xlrs`) | + ``xlrs_correct`` |
| zoom_vqa | ``accuracy_zoom``, ``accuracy_direct``, ``delta``, ``zoom_rate``, ``mean_steps``, ``invalid_call_rate`` | ``correct``, ``correct_direct``, ``n_steps`` |

Detection predictions are scored with every score 1.0 (VLM output has none), so mAP follows the stable emitted
order on ties (`eval.metrics.dota_map`). Patch datasets (``patches: true``) merge detections to the source image
with rotated NMS (`eval.geometry.merge_patches`) and rebuild the source image's ground truth from the patches (an
object kept in several overlapping windows is one object: same label and same polygon once shifted back; an
object kept in no window is not in the built data and so not in the ground truth). Per-sample detection scores are
those of the patch. An image with neither ground truth nor predictions ("There are none." answered correctly) gets
per-sample precision = recall = f1 = 1. Multiple-choice answers are compared as choice letters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PIL import Image

from data_engine.change_text import DAMAGE_LEVELS, is_no_change_caption
from data_engine.masks import same_size, semantic_areas
from data_engine.tasks import get_task
from eval.collapse import row_flags
from eval.geometry import merge_patches
from eval.metrics.captions import bleu, java_metrics, java_skip_reason, rouge_f, rouge_l
from eval.metrics.change import pixel_counts, pixel_scores, rasterise, rasterise_classes, xview2_counts, xview2_scores
from eval.metrics.cider import cider_d
from eval.metrics.classification import classification_accuracy
from eval.metrics.dota_map import dota_map
from eval.metrics.grounding import grounding_metrics
from eval.metrics.lrs_vqa import NORMALISATIONS, lrs_vqa_report, wups_credit
from eval.metrics.multilabel import indicators, multilabel_metrics, sample_f1
from eval.metrics.multiple_choice import mme_extract, mme_report
from eval.metrics.referring import referring_metrics as referring_box_metrics
from eval.metrics.referring import sample_scores, size_group
from eval.metrics.segmentation import metrics_from_areas, referring_metrics
from eval.metrics.vlm_detection import map_nc, mean_f1
from eval.metrics.vqa import counting_metrics, extract_choice_letter, vqa_accuracy, zoom_accuracy
from eval.metrics.xlrs import xlrs_report
from eval.parsers.reasoning import is_well_formed, reasoning_chars
from eval.suite import DatasetEntry, SuiteConfig

Scored = tuple[dict[str, float], list[dict[str, float]]]


def common_metrics(rows: list[dict]) -> dict[str, float]:
    """``n``, ``parse_fail_rate``, ``truncated_rate`` (and the think-answer rates) of any task's rows."""
    n = len(rows)
    failed = sum(not (r.get("prediction") or {}).get("format_ok", False) for r in rows)
    truncated = sum(bool(r.get("truncated")) for r in rows)
    out = {"n": n, "parse_fail_rate": failed / n if n else 0.0, "truncated_rate": truncated / n if n else 0.0}
    framed = [str(r.get("completion", "")) for r in rows if r.get("reasoning") == "think_answer"]
    if framed:  # think-then-answer rows: share of well-formed completions and mean reasoning length (chars)
        out["think_format_rate"] = sum(map(is_well_formed, framed)) / len(framed)
        out["reasoning_chars_mean"] = sum(map(reasoning_chars, framed)) / len(framed)
    out.update(row_flags(rows))  # collapse and hacking flags (eval.collapse, docs/collapse-flags.md)
    return out


# ---------------------------------------------------------------- detection


def detection_rows(row: dict) -> list[dict]:
    """A prediction row's labelled objects as `dota_map` detections (image id, label, polygon in original px)."""
    objs = (row.get("prediction") or {}).get("objects") or []
    return [{"image_id": row["id"], "label": o["label"], "poly": o["poly"]} for o in objs if o.get("label")]


def ground_truth_rows(row: dict) -> list[dict]:
    """A prediction row's target objects as `dota_map` ground truths (with the difficult flag)."""
    return [{"image_id": row["id"], "label": o["label"], "poly": o["poly"], "difficult": int(bool(o.get("difficult")))}
            for o in row["target"].get("objects") or []]


def _full_image_gts(rows: list[dict]) -> list[dict]:
    """Source-image ground truth rebuilt from patch rows (objects shifted back, duplicates across windows once)."""
    seen: set = set()
    out = []
    for row in rows:
        patch = row["target"].get("patch") or {}
        parent = str(patch.get("parent", row["id"]))
        dx, dy = float(patch.get("x", 0)), float(patch.get("y", 0))
        for o in row["target"].get("objects") or []:
            poly = [float(v) + (dx if k % 2 == 0 else dy) for k, v in enumerate(o["poly"])]
            key = (parent, o["label"], tuple(round(v, 3) for v in poly))
            if key in seen:
                continue
            seen.add(key)
            out.append({"image_id": parent, "label": o["label"], "poly": poly, "difficult": int(bool(o.get("difficult")))})
    return out


def _image_scores(dets: list[dict], gts: list[dict], iou: float, protocol: str) -> dict[str, float]:
    if not dets and not gts:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    r = dota_map(dets, gts, iou_threshold=iou, protocol=protocol)
    return {"precision": r["precision"], "recall": r["recall"], "f1": r["f1"]}


def score_detection(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    det_cfg = suite.detection
    classes = sorted({c for r in rows for c in r["target"].get("classes") or []}) or None
    per_row_dets = [detection_rows(r) for r in rows]
    scores = [_image_scores(d, ground_truth_rows(r), det_cfg.iou_threshold, det_cfg.protocol) for r, d in zip(rows, per_row_dets,
                                                                                                  strict=True)]
    dets = [d for ds in per_row_dets for d in ds]
    if entry.patches:
        dets = [{k: v for k, v in d.items() if k != "score"} for d in merge_patches(dets, det_cfg.merge_iou)]
        gts = _full_image_gts(rows)
    else:
        gts = [g for r in rows for g in ground_truth_rows(r)]
    kw = {"iou_threshold": det_cfg.iou_threshold, "classes": classes}
    voc = dota_map(dets, gts, ap_mode="voc07", protocol=det_cfg.protocol, **kw)
    area = dota_map(dets, gts, ap_mode="area", protocol=det_cfg.protocol, **kw)
    metrics = {
        "mAP": voc["map"],
        "mAP_area": area["map"],
        "mAP_nc": map_nc(dets, gts, **kw)["map_nc"],
        "mF1": mean_f1(dets, gts, **kw)["mf1"],
        "precision": voc["precision"],
        "recall": voc["recall"],
        "f1": voc["f1"],
        "n_images": len({g["image_id"] for g in gts} | {d["image_id"] for d in dets}) if entry.patches else len(rows),
        "n_pred": len(dets),
        "n_gt": len(gts),
        **{f"ap/{c}": v for c, v in voc["ap"].items()},
    }
    return metrics, scores


# ---------------------------------------------------------------- grounding


def score_grounding(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    preds = [(r.get("prediction") or {}).get("box") for r in rows]
    gts = [r["target"]["box"] for r in rows]
    out = grounding_metrics(preds, gts, strict=suite.grounding_strict)
    scores = []
    for p, g in zip(preds, gts, strict=True):
        one = grounding_metrics([p], [g], strict=suite.grounding_strict)
        scores.append({"iou": one["mean_iou"], "correct": one["acc@0.5"]})
    metrics = {k: v for k, v in out.items() if k != "n"}
    flags = [r["target"].get("unique") for r in rows]
    if any(isinstance(f, bool) for f in flags):  # VRSBench: Acc@0.5 / 0.7 for Unique and Non-unique objects
        for name, want in (("unique", True), ("non_unique", False)):
            idx = [k for k, f in enumerate(flags) if f is want]
            if idx:
                part = grounding_metrics([preds[k] for k in idx], [gts[k] for k in idx], strict=suite.grounding_strict)
                metrics.update({f"{key}/{name}": part[key] for key in ("acc@0.5", "acc@0.7", "mean_iou")})
                metrics[f"n/{name}"] = float(len(idx))
    return metrics, scores


# ---------------------------------------------------------------- segmentation


def score_referring_segmentation(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    # a prediction whose mask is None ("There is none.", malformed) is the empty mask
    # a mask of another size than the target's (or a corrupt one) is the empty mask too
    preds = [same_size((r.get("prediction") or {}).get("mask"), r["target"]["mask"]) for r in rows]
    out = referring_metrics(preds, [r["target"]["mask"] for r in rows])
    scores = [{"iou": v, "correct": float(v >= 0.5)} for v in out["iou"]]
    return {k: v for k, v in out.items() if k not in ("n", "iou", "inter", "union")}, scores


def score_semantic_segmentation(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    # one row per (image, class): per-class pixel totals over the rows are mmseg's IoUMetric areas
    classes = sorted({c for r in rows for c in r["target"].get("classes") or [r["target"]["class"]]})
    index = {c: k for k, c in enumerate(classes)}
    areas = np.zeros((3, len(classes)))
    scores = []
    for r in rows:
        t = r["target"]
        pred_mask = same_size((r.get("prediction") or {}).get("mask"), t["mask"])
        inter, pred, label = semantic_areas(pred_mask, t["mask"], t.get("ignore"))
        areas[:, index[t["class"]]] += (inter, pred, label)
        union = pred + label - inter
        scores.append({"iou": inter / union if union else 1.0, "correct": float(union == 0 or inter / union >= 0.5)})
    return metrics_from_areas(*areas, class_names=classes), scores


# ---------------------------------------------------------------- vqa / zoom


def _answer_pair(pred: dict | None, target: dict) -> tuple[str | None, str]:
    """(prediction, ground truth) as `vqa_accuracy` compares them; multiple choice as letters."""
    pred = pred or {}
    gold = "" if target.get("answer") is None else str(target["answer"])
    answer = pred.get("answer") or None
    if target.get("choices") or len(gold.strip().rstrip(".")) == 1:
        gl = extract_choice_letter(gold)
        if gl:
            pl = pred.get("choice") or (extract_choice_letter(answer) if answer else None)
            # "option x": a token normalize_answer keeps (a bare "a" would be dropped as an article)
            return (f"option {pl.lower()}" if pl else None), f"option {gl.lower()}"
    return answer, gold


def _qtypes(rows: list[dict]) -> list | None:
    types = [r["target"].get("qtype") or r["target"].get("category") for r in rows]
    return [str(t) for t in types] if any(t for t in types) else None


def score_vqa(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    pairs = [_answer_pair(r.get("prediction"), r["target"]) for r in rows]
    preds, gts = [p for p, _ in pairs], [g for _, g in pairs]
    qtypes = _qtypes(rows)
    out = vqa_accuracy(preds, gts, qtypes)
    metrics = {"accuracy": out["accuracy"]}
    if qtypes:
        metrics.update({f"acc/{t}": v for t, v in sorted(out["per_type"].items())})
        metrics["mean_over_types"] = out["mean_over_types"]
        metrics["mean_over_non_count_types"] = out["mean_over_non_count_types"]
        count = [k for k, t in enumerate(qtypes) if t.lower() == "count"]
        metrics.update(counting_metrics([preds[k] for k in count], [gts[k] for k in count]))
    scores = [{"correct": vqa_accuracy([p], [g])["accuracy"]} for p, g in pairs]
    if entry.answer_rule == "lrs_vqa":
        metrics.update(_lrs_vqa(rows, "prediction", scores, "wups_correct"))
    elif entry.answer_rule == "mme_realworld":
        raw = [str((r.get("prediction") or {}).get("answer") or r.get("completion") or "") for r in rows]
        rep = mme_report(raw, [r["target"].get("answer") for r in rows], [r["target"].get("qtype") for r in rows],
                         [r["target"].get("choices") or [] for r in rows])
        metrics.update({f"mme/{k}": v for k, v in rep.items()})
        for s, text, r in zip(scores, raw, rows, strict=True):
            s["mme_correct"] = float(mme_extract(text, r["target"].get("choices")) == str(r["target"]["answer"]))
    elif entry.answer_rule == "xlrs":
        raw = [str((r.get("prediction") or {}).get("answer") or r.get("completion") or "") for r in rows]
        gold = [r["target"].get("answer") for r in rows]
        rep = xlrs_report(raw, gold, [r["target"].get("qtype") for r in rows])
        metrics.update({f"xlrs/{k}": v for k, v in rep.items()})
        for s, text, g in zip(scores, raw, gold, strict=True):
            s["xlrs_correct"] = xlrs_report([text], [g], ["all"])["accuracy"]
    return metrics, scores


def _lrs_vqa(rows: list[dict], key: str, scores: list[dict], score_name: str, suffix: str = "") -> dict[str, float]:
    """LRS-VQA's official WordNet rule on the raw answers of ``row[key]``, both normalisations
    (``lrs_official<suffix>/OA``, ``.../AA``, ``.../acc/<category>``, ``.../<SOURCE>/OA`` …, and ``lrs_rscovlm…``);
    each row's score `score_name` is its official credit."""
    preds = [(r.get(key) or {}).get("answer") for r in rows]
    gts = [r["target"].get("answer") for r in rows]
    cats = [r["target"].get("qtype") or r["target"].get("category") for r in rows]
    qids = [str(r["id"]).split("/", 1)[-1] for r in rows]
    out = {}
    for mode in NORMALISATIONS:
        rep = lrs_vqa_report(preds, gts, cats, qids, mode)
        out.update({f"lrs_{mode}{suffix}/{k}": v for k, v in rep.items()})
    for s, p, g in zip(scores, preds, gts, strict=True):
        s[score_name] = float(wups_credit(g, p, "official"))
    return out


def score_zoom_vqa(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    chain = [_answer_pair(r.get("prediction"), r["target"]) for r in rows]
    has_direct = all("prediction_direct" in r for r in rows)
    direct = [_answer_pair(r.get("prediction_direct"), r["target"]) for r in rows] if has_direct else chain
    qtypes = _qtypes(rows)
    out = zoom_accuracy([p for p, _ in direct], [p for p, _ in chain], [g for _, g in chain], qtypes)
    n = len(rows)
    steps = [len(r.get("turns") or []) for r in rows]
    metrics = {"accuracy_zoom": out["accuracy_zoom"]}
    if has_direct:
        metrics.update(accuracy_direct=out["accuracy_direct"], delta=out["delta"])
    if qtypes:
        metrics.update({f"acc_zoom/{t}": v for t, v in sorted(out["per_type_zoom"].items())})
    metrics.update(
        zoom_rate=sum(s > 0 for s in steps) / n if n else 0.0,
        mean_steps=sum(steps) / n if n else 0.0,
        invalid_call_rate=sum(any(not t.get("valid") for t in r.get("turns") or []) for r in rows) / n if n else 0.0,
    )
    scores = []
    for (p, g), (pd, _), s in zip(chain, direct, steps, strict=True):
        one = {"correct": vqa_accuracy([p], [g])["accuracy"], "n_steps": float(s)}
        if has_direct:
            one["correct_direct"] = vqa_accuracy([pd], [g])["accuracy"]
        scores.append(one)
    if entry.answer_rule == "lrs_vqa":
        metrics.update(_lrs_vqa(rows, "prediction", scores, "wups_correct", "_zoom"))
        if has_direct:
            metrics.update(_lrs_vqa(rows, "prediction_direct", scores, "wups_correct_direct", "_direct"))
    return metrics, scores


# ---------------------------------------------------------------- classification / caption


def score_classification(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    preds = [(r.get("prediction") or {}).get("label") for r in rows]
    gts = [r["target"]["label"] for r in rows]
    out = classification_accuracy(preds, gts)
    scores = [{"correct": classification_accuracy([p], [g])["accuracy"]} for p, g in zip(preds, gts, strict=True)]
    return {"accuracy": out["accuracy"], "mean_class_accuracy": out["mean_class_accuracy"]}, scores


def score_caption(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    """Every caption-like task's text metrics: BLEU-1..4, ROUGE-L (pycocoevalcap), CIDEr-D, ROUGE-1 F / ROUGE-L F
    (`rouge-score`, stemmed) and METEOR (pycocoevalcap through Java; ``make test`` installs the JRE). Without Java
    (or with ``java_metrics: false``) ``meteor`` is absent and ``skipped/meteor`` = 1, the reason logged: never a
    stand-in number."""
    ids = [str(r["id"]) for r in rows]
    cands = {k: str((r.get("prediction") or {}).get("caption") or "") for k, r in zip(ids, rows, strict=True)}
    refs = {k: [str(x) for x in r["target"]["references"]] for k, r in zip(ids, rows, strict=True)}
    if not rows:
        return {}, []
    metrics: dict[str, float] = dict(bleu(cands, refs))
    rl = rouge_l(cands, refs)
    cd, cd_per = cider_d(cands, refs)
    rf = rouge_f(cands, refs)
    metrics.update(rouge_l=rl["rouge_l"], cider_d=cd, rouge_1_f=rf["rouge_1_f"], rouge_l_f=rf["rouge_l_f"])
    java = java_metrics(cands, refs) if suite.java_metrics else {"skipped": "java_metrics: false in the suite"}
    if java.get("meteor") is not None:
        metrics["meteor"] = java["meteor"]
    else:
        metrics["skipped/meteor"] = 1.0
        logging.getLogger(__name__).warning("METEOR skipped: %s", java.get("skipped") or java_skip_reason())
    scores = [{"rouge_l": rl["per_id"].get(k, 0.0), "cider_d": cd_per.get(k, 0.0), **rf["per_id"][k]} for k in ids]
    return metrics, scores


def score_change_caption(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    """The caption metrics plus ``change_accuracy``: share of pairs whose caption's no-change verdict
    (`data_engine.change_text.is_no_change_caption`) matches ``changed``."""
    metrics, scores = score_caption(rows, entry, suite)
    if not rows:
        return metrics, scores
    consistent = [float(is_no_change_caption(str((r.get("prediction") or {}).get("caption") or ""))
                        != bool(r["target"].get("changed", True))) for r in rows]
    metrics["change_accuracy"] = sum(consistent) / len(consistent)
    for s, c in zip(scores, consistent, strict=True):
        s["change_correct"] = c
    return metrics, scores


def _size(row: dict) -> tuple[int, int]:
    """(h, w) of a row's first image; without recorded size, the extent of every polygon it holds."""
    if row.get("height") and row.get("width"):
        return int(row["height"]), int(row["width"])
    polys = [o["poly"] for o in (row["target"].get("objects") or []) + ((row.get("prediction") or {}).get("objects")
                                                                          or [])]
    xs = [v for p in polys for v in p[0::2]] or [0]
    ys = [v for p in polys for v in p[1::2]] or [0]
    return int(np.ceil(max(ys))) + 1, int(np.ceil(max(xs))) + 1


def _change_gt_mask(row: dict) -> np.ndarray:
    h, w = _size(row)
    path = row["target"].get("mask")
    if path:
        try:
            with Image.open(path) as im:
                mask = np.asarray(im.convert("L")) > 0
            if mask.shape == (h, w):
                return mask
        except OSError:
            pass  # the label moved since the build: fall back to the stored polygons
    return rasterise([o.get("shape") or o["poly"] for o in row["target"].get("objects") or []], h, w)


def score_change_detection(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    """Object metrics as detection (F1 at the suite's IoU, class-aware) plus the change class's pixel precision,
    recall, F1 and IoU (``pixel_*``): predicted polygons rasterised against the label mask (LEVIR-CD's ``mask``;
    else the rasterised true polygons), TP/FP/FN summed over the set (`eval.metrics.change`)."""
    metrics, scores = score_detection(rows, entry, suite)
    tot = np.zeros(3, dtype=np.int64)
    for row, s in zip(rows, scores, strict=True):
        pred = rasterise([o["poly"] for o in (row.get("prediction") or {}).get("objects") or []], *_size(row))
        counts = pixel_counts(pred, _change_gt_mask(row))
        tot += counts
        s["pixel_f1"] = pixel_scores(*counts)["f1"] if any(counts) else 1.0  # nothing changed, nothing predicted
    metrics.update({f"pixel_{k}": v for k, v in pixel_scores(*(int(v) for v in tot)).items()})
    if rows and all(list(r["target"].get("classes") or []) == list(DAMAGE_LEVELS) for r in rows):
        metrics.update(_xview2(rows))
    return metrics, scores


def _damage_mask(objs: list[dict], h: int, w: int) -> np.ndarray:
    level = {c: k + 1 for k, c in enumerate(DAMAGE_LEVELS)}
    return rasterise_classes([(o.get("shape") or o["poly"], level[o["label"]]) for o in objs
                              if o.get("label") in level], h, w)


def _xview2(rows: list[dict]) -> dict[str, float]:
    """xBD rows (classes = the damage levels): the xView2 score on rasterised polygons (`eval.metrics.change`);
    true buildings are painted with their full polygon (``shape``), predictions with their boxes."""
    tot = np.zeros((1 + len(DAMAGE_LEVELS), 3), dtype=np.int64)
    for row in rows:
        h, w = _size(row)
        pred = _damage_mask((row.get("prediction") or {}).get("objects") or [], h, w)
        tot += xview2_counts(pred, _damage_mask(row["target"].get("objects") or [], h, w), len(DAMAGE_LEVELS))
    return xview2_scores(tot)


def score_damage(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    """Accuracy overall and per question type, and the mean ordinal credit of the damage-level questions."""
    levels = list(DAMAGE_LEVELS)
    scores, credit, by_type = [], [], {}
    for r in rows:
        pred, gold = (r.get("prediction") or {}).get("label"), r["target"]["answer"]
        ok = classification_accuracy([pred], [gold])["accuracy"]
        scores.append({"correct": ok})
        by_type.setdefault(str(r["target"].get("qtype") or "other"), []).append(ok)
        if gold in levels:
            d = abs(levels.index(pred) - levels.index(gold)) if pred in levels else 9
            credit.append({0: 1.0, 1: 0.5}.get(d, 0.0))
    metrics = {"accuracy": sum(s["correct"] for s in scores) / len(scores) if scores else 0.0,
               **{f"acc/{k}": sum(v) / len(v) for k, v in sorted(by_type.items())}}
    if credit:
        metrics["ordinal_credit"] = sum(credit) / len(credit)
    return metrics, scores


# ---------------------------------------------------------------- referring detection


def score_referring_detection(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    samples, groups = [], []
    for r in rows:
        pred = r.get("prediction") or {}
        gt = r["target"].get("boxes") or []
        samples.append(sample_scores(pred.get("boxes") or [], gt, bool(pred.get("empty"))))
        count = "none" if not gt else "single" if len(gt) == 1 else "multi"
        size = size_group(gt, r["target"].get("size_group"))
        groups.append((count,) if size is None else (count, size))
    return referring_box_metrics(samples, groups), [{k: s[k] for k in ("precision@0.5", "f1@0.5", "mean_iou")}
                                                 for s in samples]


# ---------------------------------------------------------------- grounded description


def score_grounding_description(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    text, text_scores = score_caption(rows, entry, suite)
    samples = [sample_scores((r.get("prediction") or {}).get("boxes") or [],
                             [o["box"] for o in r["target"].get("objects") or []], False) for r in rows]
    boxes = referring_box_metrics(samples, [() for _ in rows])
    metrics = {**text, **{f"box_{k}": v for k, v in boxes.items()}}
    return metrics, [{**t, "box_f1@0.5": s["f1@0.5"]} for t, s in zip(text_scores, samples, strict=True)]


# ---------------------------------------------------------------- multi-label classification


def score_multilabel_classification(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> Scored:
    classes = sorted({str(c) for r in rows for c in r["target"].get("classes") or []})
    y_true = indicators([r["target"].get("labels") for r in rows], classes)
    y_pred = indicators([(r.get("prediction") or {}).get("labels") for r in rows], classes)
    f1 = sample_f1(y_true, y_pred)
    return multilabel_metrics(y_true, y_pred), [{"f1": float(v)} for v in f1]


# Scorers by the name a task declares as its ``scorer`` (`data_engine.tasks`).
SCORERS: dict[str, Callable[[list[dict], DatasetEntry, SuiteConfig], Scored]] = {
    "detection": score_detection,
    "grounding": score_grounding,
    "vqa": score_vqa,
    "classification": score_classification,
    "caption": score_caption,
    "zoom_vqa": score_zoom_vqa,
    "referring_segmentation": score_referring_segmentation,
    "semantic_segmentation": score_semantic_segmentation,
    "change_caption": score_change_caption,
    "change_detection": score_change_detection,
    "damage": score_damage,
    "referring_detection": score_referring_detection,
    "multilabel_classification": score_multilabel_classification,
    "grounding_description": score_grounding_description,
}


def score_rows(rows: list[dict], entry: DatasetEntry, suite: SuiteConfig) -> dict[str, float]:
    """Metrics of one dataset's rows and, in place, each row's ``scores``.

    Rows of several tasks are scored per task and their metric names prefixed with ``<task>/``.
    """
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    out: dict[str, float] = {}
    for task, task_rows in by_task.items():
        metrics, scores = SCORERS[get_task(task).scorer](task_rows, entry, suite)
        for r, s in zip(task_rows, scores, strict=True):
            r["scores"] = s
        metrics = {**metrics, **common_metrics(task_rows)}
        prefix = f"{task}/" if len(by_task) > 1 else ""
        out.update({f"{prefix}{k}": v for k, v in metrics.items()})
    return out
