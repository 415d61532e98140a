"""A scene prediction as a GeoJSON FeatureCollection in the raster's CRS, or reprojected to EPSG:4326.

Geometries are built in scene pixels (`pixel_features`) and then mapped by the raster's affine geotransform
(`to_crs`: ``x' = a x + b y + c``, ``y' = d x + e y + f``, pixel corners as in `eval.predict.raster`), so a feature's
coordinates are exactly the geotransform applied to the pixel polygon; ``to_wgs84`` then reprojects them with pyproj
(longitude, latitude order, RFC 7946). Detections are their polygons, boxes (grounding, referring detection,
grounded descriptions, region captions, damage) their rectangles, masks their polygons
(`rasterio.features.shapes`, holes kept). Answers about the whole image (VQA, captions, classes) become one
feature: the footprint of the scene with the answer in its properties. Properties carry ``class`` (or the
expression / phrase), ``score`` only when the prediction has one (our parsers give none), ``votes`` (window boxes
merged into it), the source ``window`` [x1, y1, x2, y2] in scene pixels, the task and the prompt.

In the raster's own CRS the file also names it in the pre-RFC 7946 ``crs`` member (``urn:ogc:def:crs:EPSG::<code>``
or the WKT), which GDAL and QGIS read; RFC 7946 readers assume EPSG:4326, so use ``to_wgs84`` for web maps. A plain
image without a CRS and geotransform gets no GeoJSON (its pixel geometry is in predictions.jsonl).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from data_engine.masks import decode_mask

TEXT_KEYS = ("answer", "caption", "label", "labels")


def _rect(b) -> shapely.Polygon:
    x1, y1, x2, y2 = (float(v) for v in b)
    return shapely.box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _poly(p) -> shapely.Polygon:
    return shapely.Polygon(np.asarray(p, dtype=np.float64).reshape(4, 2))


def mask_geometries(rle: dict) -> list[shapely.Geometry]:
    """The polygons (with holes) of a mask in pixel coordinates (`rasterio.features.shapes`, 4-connected)."""
    from rasterio.features import shapes

    m = decode_mask(rle).astype(np.uint8)
    return [shapely.geometry.shape(g) for g, v in shapes(m, mask=m.astype(bool)) if v == 1]


def pixel_features(task: str, merged: dict, target: dict, window: list[int] | None,
                   scene_size: tuple[int, int]) -> list[tuple[shapely.Geometry, dict]]:
    """(geometry in scene pixels, properties) of every feature of one merged prediction.

    Args:
        task: the task.
        merged: the merged prediction (`eval.predict.merge.merge_windows`).
        target: the target the prompt was built from (expression, question, class ...).
        window: the window a whole-image answer was given on (None: the whole scene).
        scene_size: (width, height).
    """
    feats: list[tuple[shapely.Geometry, dict]] = []
    whole = window or [0, 0, int(scene_size[0]), int(scene_size[1])]
    for o in merged.get("objects") or []:
        props = {"class": o.get("label") or o.get("phrase"), "votes": o.get("votes"), "window": o.get("window")}
        if "score" in o:
            props["score"] = o["score"]
        geom = _poly(o["poly"]) if o.get("poly") is not None else _rect(o["box"]) if o.get("box") else None
        if geom is not None:
            feats.append((geom, props))
    if task == "grounding" and merged.get("hits"):
        for h in merged["hits"]:
            feats.append((_rect(h["box"]), {"class": target.get("expression"), "votes": h["votes"],
                                            "window": h["window"], "best": h["box"] == merged.get("box")}))
    elif task == "grounding" and merged.get("box") is not None:
        feats.append((_rect(merged["box"]), {"class": target.get("expression"), "window": whole, "best": True}))
    elif task == "referring_detection":
        for h in merged.get("hits") or []:
            feats.append((_rect(h["box"]), {"class": target.get("expression"), "votes": h["votes"],
                                            "window": h["window"]}))
    if merged.get("mask") is not None:
        name = target.get("class") or target.get("expression")
        feats += [(g, {"class": name, "window": whole}) for g in mask_geometries(merged["mask"])]
    if task in ("region_caption", "damage") and target.get("box") is not None:
        text = merged.get("caption") or merged.get("label") or merged.get("answer")
        feats.append((_rect(target["box"]), {"class": text, "window": whole}))
    elif not feats and any(merged.get(k) for k in TEXT_KEYS):
        answer = {k: merged[k] for k in TEXT_KEYS if merged.get(k)}
        feats.append((_rect(whole), {**answer, "window": whole}))
    return feats


def to_crs(geom: shapely.Geometry, transform) -> shapely.Geometry:
    """``geom`` (pixel coordinates) mapped by an `affine.Affine` geotransform."""
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    mat = np.array([[a, d], [b, e]])
    return shapely.transform(geom, lambda xy: xy @ mat + np.array([c, f]))


def reproject(geom: shapely.Geometry, transformer) -> shapely.Geometry:
    """``geom`` reprojected with a `pyproj.Transformer` (always_xy)."""
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def crs_member(crs) -> dict[str, Any]:
    """The legacy ``crs`` member naming a raster CRS (EPSG URN when it has a code, else its WKT)."""
    code = crs.to_epsg()
    name = f"urn:ogc:def:crs:EPSG::{code}" if code else crs.to_wkt()
    return {"type": "name", "properties": {"name": name}}


def feature_collection(features: list[tuple[shapely.Geometry, dict]], transform, crs, to_wgs84: bool) -> dict:
    """The FeatureCollection of pixel-space features mapped through ``transform`` into ``crs`` (and to EPSG:4326
    with ``to_wgs84``)."""
    transformer = None
    if to_wgs84:
        from pyproj import CRS, Transformer

        transformer = Transformer.from_crs(CRS.from_user_input(crs.to_wkt()), "EPSG:4326", always_xy=True)
    out = []
    for geom, props in features:
        g = to_crs(geom, transform)
        if transformer is not None:
            g = reproject(g, transformer)
        clean = {k: v for k, v in props.items() if v is not None}
        out.append({"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": clean})
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": out}
    if not to_wgs84:
        doc["crs"] = crs_member(crs)
    return doc


def results_geojson(results: list, to_wgs84: bool = False) -> dict | None:
    """The FeatureCollection of one input's `eval.predict.predictor.PredictResult` s (one per prompt; properties
    add ``task`` and ``prompt``), or None when the raster is not georeferenced."""
    if not results or not results[0].georeferenced:
        return None
    feats = []
    for r in results:
        whole = r.windows[0]["window"] if len(r.windows) == 1 else None
        for g, props in pixel_features(r.task, r.merged, r.target, whole, (r.width, r.height)):
            feats.append((g, {**props, "task": r.task, "prompt": r.prompt}))
    return feature_collection(feats, results[0].transform, results[0].crs, to_wgs84)
