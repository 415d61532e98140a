"""Run a checkpoint on your own images: `georft predict --model CKPT --task T --input PATH --out DIR [--prompt TEXT]`.

PATH is an image or raster file (GeoTIFF, PNG, JPEG, anything GDAL reads), a folder (searched recursively) or a list
file; change tasks take `--input-before B --input-after A` instead. Large scenes are cut into overlapping windows at
the model's pixel budget and merged back (rotated NMS for detection). Per input, DIR/inputs/<name>/ gets
predictions.jsonl (every window's raw completion and parsed prediction in scene pixels), overlay.png and, for
georeferenced rasters, predictions.geojson in the raster's CRS (`--to-wgs84`: EPSG:4326). Rerunning skips finished
inputs; `georft dashboard DIR` browses the results.

    georft predict --model runs/demo/sft --task detection --input scene.tif --out runs/predict --classes ship,harbor
    georft predict --model runs/demo/sft --task grounding --input chips/ --prompt "the white ship" --out runs/g
    georft predict --model runs/demo/sft --task change_caption --input-before t0/ --input-after t1/ --out runs/cc
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint folder (a full model or a LoRA adapter)")
    parser.add_argument("--task", required=True, help="task to run (e.g. detection, grounding, vqa, caption, "
                                                      "semantic_segmentation, change_caption)")
    parser.add_argument("--input", default=None, help="image/raster file, folder (recursive) or list file")
    parser.add_argument("--input-before", default=None, help="change tasks: the before image(s) (file or folder)")
    parser.add_argument("--input-after", default=None, help="change tasks: the after image(s), paired by name")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--prompt", default=None,
                        help="the task's prompt: expression (grounding, referring), question (vqa, zoom_vqa, damage), "
                             "class (semantic_segmentation), box x1,y1,x2,y2 (region_caption), or a JSON object of "
                             "target keys")
    parser.add_argument("--prompts", default=None, help="file of prompts, one per line (.jsonl: one JSON per line); "
                                                        "every input is asked each")
    parser.add_argument("--classes", default=None, help="comma-separated class list (detection: default DOTA-v1.0's "
                                                        "15 classes; classification, multi-label: required)")
    parser.add_argument("--backend", default="hf", help="generation backend: hf (CPU/GPU) or vllm (GPU)")
    parser.add_argument("--limit", type=int, default=None, help="at most N inputs")
    parser.add_argument("--to-wgs84", action="store_true", help="write GeoJSON in EPSG:4326 (lon/lat)")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="pixel budget of one prompt (default: the checkpoint's saved processor budget)")
    parser.add_argument("--min-pixels", type=int, default=None, help="lower pixel budget (default: the checkpoint's)")
    parser.add_argument("--window", type=int, default=None, help="window side in pixels (default: from the budget)")
    parser.add_argument("--gap", type=int, default=None, help="window overlap in pixels (default: side / 5)")
    parser.add_argument("--tiling", default="auto", choices=["auto", "whole"],
                        help="auto: tile localisation tasks; whole: show every scene whole, decimated")
    parser.add_argument("--bands", default=None, help="1-based raster bands read as R,G,B (or one grey band)")
    parser.add_argument("--box-type", default="poly", help="detection box type the model was trained on")
    parser.add_argument("--answer-mode", default="text", help="text or json, as trained")
    parser.add_argument("--reasoning", default="none", help="none or think_answer, as trained")
    parser.add_argument("--mask-format", default="seg_grid", help="seg_grid or seg_polygon, as trained")
    parser.add_argument("--batch-size", type=int, default=4, help="prompts per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per window")
    parser.add_argument("--merge-iou", type=float, default=0.1, help="rotated-NMS IoU of the window merge")
    parser.add_argument("--dtype", default="auto", help="HF backend dtype: auto, float32, bfloat16, float16")
    parser.add_argument("--overlay-side", type=int, default=2048, help="longer side of overlay.png in pixels")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _list(text: str | None, what: str) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        from data_engine.errors import UserError

        raise UserError(f"{what} is empty")
    return items


def run(args: argparse.Namespace) -> int:
    import sys

    from data_engine.errors import UserError
    from eval.predict.inputs import find_inputs, pair_inputs, read_prompts
    from eval.predict.plan import PAIR_TASKS, check_task
    from eval.predict.predictor import Predictor, PredictSettings
    from eval.predict.run import Item, run_predict

    task = check_task(args.task)
    pair = args.input_before is not None or args.input_after is not None
    if pair and (args.input_before is None or args.input_after is None):
        raise UserError("--input-before and --input-after go together")
    if pair and args.input is not None:
        raise UserError("give --input, or --input-before and --input-after, not both")
    if task in PAIR_TASKS and not pair:
        raise UserError(f"task {task} compares two images: give --input-before and --input-after")
    if task not in PAIR_TASKS and pair:
        raise UserError(f"task {task} takes one image per input: give --input")
    if not pair and args.input is None:
        raise UserError("--input is required")
    bands = None
    if args.bands is not None:
        try:
            bands = tuple(int(b) for b in _list(args.bands, "--bands"))
        except ValueError:
            raise UserError(f"--bands must be comma-separated band numbers, got {args.bands!r}") from None
    settings = PredictSettings(
        classes=_list(args.classes, "--classes"), box_type=args.box_type, answer_mode=args.answer_mode,
        reasoning=args.reasoning, mask_format=args.mask_format, min_pixels=args.min_pixels,
        max_pixels=args.max_pixels, window=args.window, gap=args.gap, tiling=args.tiling,
        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, merge_iou=args.merge_iou, dtype=args.dtype,
        bands=bands)
    predictor = Predictor(args.model, task, args.backend, settings)
    prompts = read_prompts(args.prompt, args.prompts)
    from eval.predict.plan import build_target

    for p in prompts:  # a missing or malformed prompt fails before any model is loaded
        build_target(task, p, settings.classes)
    if pair:
        items = [Item(n, [b, a]) for n, b, a in pair_inputs(args.input_before, args.input_after)]
    else:
        items = [Item(n, [f]) for n, f in find_inputs(args.input)]

    def log(msg: str) -> None:
        print(f"georft predict: {msg}", file=sys.stderr, flush=True)

    doc = run_predict(predictor, items, prompts, args.out, to_wgs84=args.to_wgs84, limit=args.limit,
                      overlay_side=args.overlay_side, log=log, progress=not args.no_progress)
    m = doc["metrics"]["predict"]
    print(f"{m['done']}/{m['inputs']} input(s) done ({m['skipped']} skipped), {m['windows_this_run']} window(s) this "
          f"run in {m['seconds_this_run']:.1f} s -> {args.out}")
    return 0 if not m["skipped"] else 1
