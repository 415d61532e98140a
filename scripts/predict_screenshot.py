"""The README's `georft predict` overlay (docs/img/predict_overlay.png) and the tiny model's time per window.

1. Draws a 3000 x 2000 synthetic scene with ~70 objects of the synthetic world's classes (`data_engine.synth.draw`)
   and writes it as a GeoTIFF (EPSG:32633, 0.5 m pixels) with rasterio.
2. Runs `run_predict` on it with an ORACLE backend: for each window (1008 px, the Qwen2.5-VL budget of 1008^2
   pixels) it answers the objects the window shows, cut at the window edge, written in the model's frame as
   training targets are. Everything after generation is the real path (parser, shift, merge with rotated NMS,
   GeoJSON, the report's overlay drawing). This shows what the overlay looks like; it is not a model's result.
3. With ``--model CKPT`` also times the real model on the scene's top-left 1000 x 1000 crop (``--max-pixels``).

    PYTHONPATH=. python scripts/predict_screenshot.py --out /tmp/predict_demo [--model /tmp/tiny --max-pixels 65536]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import shapely

W, H, SIDE = 3000, 2000, 1008


def write_scene(path: Path, seed: int = 0) -> list[dict]:
    import rasterio
    from affine import Affine

    from data_engine.synth.draw import CLASSES, scene

    rng = np.random.default_rng(seed)
    labels = [str(c) for c in rng.choice(CLASSES, size=70)]
    img, objs, _ = scene(rng, labels, W, H, scale=1.0, water=True, road=True)
    data = np.moveaxis(np.asarray(img), -1, 0)
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(0.5, 0, 500000.0, 0, -0.5, 4500000.0), tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate") as ds:
        ds.write(data)
    return [{"label": o.label, "poly": o.poly} for o in objs]


class Oracle:
    """Answers each window (asked in window order) with the objects it shows, cut ones as the visible part's
    minimum rotated rectangle."""

    def __init__(self, windows, objects, classes):
        self.windows, self.objects, self.classes, self.k = [list(map(int, w)) for w in windows], objects, classes, 0

    def generate(self, requests, sampling):
        from data_engine.answers import format_detection
        from data_engine.frames import Frame
        from rollout.generate import Generation

        out = []
        for r in requests:
            x1, y1, x2, y2 = self.windows[self.k]
            self.k += 1
            win, seen = shapely.box(x1, y1, x2, y2), []
            for o in self.objects:
                shape = shapely.Polygon(np.reshape(o["poly"], (4, 2)))
                part = shape.intersection(win)
                if part.area < 1:
                    continue
                rect = part if part.area >= shape.area - 1e-6 else part.minimum_rotated_rectangle
                ring = np.asarray(rect.exterior.coords)[:4] if part.area < shape.area - 1e-6 else \
                    np.reshape(o["poly"], (4, 2))
                seen.append({"label": o["label"], "poly": (ring - [x1, y1]).reshape(-1).tolist()})
            w, h = r.images[0].size
            frame = Frame.for_family("absolute", x2 - x1, y2 - y1, w, h, 28)
            out.append(Generation(format_detection(seen, self.classes, frame, "poly", "text"), 1, False))
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=None, help="a checkpoint to time on a 1000 x 1000 crop")
    ap.add_argument("--max-pixels", type=int, default=65536)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    from data_engine.synth.draw import CLASSES
    from eval.predict.predictor import Predictor
    from eval.predict.run import Item, run_predict

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tif = out / "scene.tif"
    objects = write_scene(tif)
    p = Predictor("oracle", "detection", backend=object(), family="qwen2_5_vl", classes=list(CLASSES),
                  max_pixels=SIDE * SIDE, min_pixels=28 * 28)
    p._backend = Oracle(p.windows_for(W, H), objects, list(CLASSES))
    run_predict(p, [Item("scene", [tif])], [None], out / "oracle", progress=False, overlay_side=1500)
    merged = json.loads((out / "oracle" / "inputs" / "scene" / "merged.json").read_text())["prompts"][0]
    print(f"oracle: {len(objects)} objects drawn, {len(merged['prediction']['objects'])} after the merge of "
          f"{merged['prediction']['windows']} windows")
    img = Path(__file__).resolve().parents[1] / "docs" / "img" / "predict_overlay.png"
    shutil.copy(out / "oracle" / "inputs" / "scene" / "overlay.png", img)
    print(f"wrote {img}")
    if args.model:
        import rasterio
        from rasterio.windows import Window

        crop = out / "crop.tif"
        with rasterio.open(tif) as src:
            prof = {**src.profile, "width": 1000, "height": 1000,
                    "transform": src.window_transform(Window(0, 0, 1000, 1000))}
            with rasterio.open(crop, "w", **prof) as dst:
                dst.write(src.read(window=Window(0, 0, 1000, 1000)))
        m = Predictor(args.model, "detection", "hf", classes=list(CLASSES), max_pixels=args.max_pixels,
                      max_new_tokens=args.max_new_tokens)
        t0 = time.perf_counter()
        m.backend  # noqa: B018 - load the model outside the timing
        load = time.perf_counter() - t0
        doc = run_predict(m, [Item("crop", [crop])], [None], out / "model", progress=False)
        d = doc["metrics"]["predict"]
        side = m.windows_for(1000, 1000)
        print(f"model: load {load:.1f} s; {d['windows_this_run']} windows of {int(side[0][2] - side[0][0])} px "
              f"({args.max_pixels} px budget, max_new_tokens {args.max_new_tokens}) in {d['seconds_this_run']:.1f} s "
              f"= {d['seconds_this_run'] / d['windows_this_run']:.2f} s per window (incl. overlay and GeoJSON)")


if __name__ == "__main__":
    main()
