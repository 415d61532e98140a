"""Run a trained checkpoint on your own images from Python (the API behind `georft predict`).

    from georft.predict import Predictor

    p = Predictor("runs/demo/sft", "detection", backend="hf", classes=["ship", "harbor"])
    result = p.predict("scene.tif")             # any raster GDAL reads, a PIL image, or a before/after pair
    result.merged["objects"]                    # [{"label", "poly" (scene pixels), "votes", "window"}, ...]
    result.windows                              # per window: completion, parsed prediction, frame

`Predictor(model, task, backend="hf" | "vllm", **settings)` takes the settings of
`eval.predict.predictor.PredictSettings` as keywords (``max_pixels``, ``window``, ``gap``, ``box_type``,
``max_new_tokens`` ...). `run_predict` writes a whole run (overlays, GeoJSON, resumable) as the CLI does;
`geojson_of` gives a result's GeoJSON FeatureCollection. Guide: docs/predict.md.
"""

from __future__ import annotations

from eval.predict.geojson import results_geojson
from eval.predict.inputs import find_inputs, pair_inputs, read_prompts
from eval.predict.plan import PREDICT_TASKS
from eval.predict.predictor import Predictor, PredictResult, PredictSettings
from eval.predict.run import Item, run_predict


def geojson_of(result: PredictResult, to_wgs84: bool = False) -> dict | None:
    """The GeoJSON FeatureCollection of a result on a georeferenced raster (None for a plain image)."""
    return results_geojson([result], to_wgs84)


__all__ = ["PREDICT_TASKS", "Item", "PredictResult", "PredictSettings", "Predictor", "find_inputs", "geojson_of",
           "pair_inputs", "read_prompts", "run_predict"]
