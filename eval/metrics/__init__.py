"""Metrics: pure functions returning dicts of numbers, one file per task family.

- `eval.metrics.dota_map`: oriented-detection mAP (DOTA devkit and mmrotate protocols), tie spread;
- `eval.metrics.vlm_detection`: mAP_nc and mF1 (LMMRotate) for score-less VLM detections;
- `eval.metrics.coco_detection`: COCO-protocol horizontal-box AP via pycocotools;
- `eval.metrics.grounding`: Acc@τ, mean IoU, cumulative IoU;
- `eval.metrics.vqa`: answer normalisation, VQA accuracy, choice letters, zoom-chain accuracy;
- `eval.metrics.classification`: top-1 and per-class accuracy;
- `eval.metrics.captions` / `eval.metrics.cider`: caption tokenizer, BLEU, ROUGE-L, METEOR/SPICE, CIDEr-D.
"""
