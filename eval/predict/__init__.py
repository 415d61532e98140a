"""`georft predict`: a checkpoint applied to a user's own imagery — any image, or a whole georeferenced scene tiled
at the model's pixel budget and merged back — with predictions.jsonl, an overlay and GeoJSON out.

| module | holds |
|---|---|
| `eval.predict.plan` | the tasks it runs, targets from user prompts, window size and windows of a scene |
| `eval.predict.raster` | rasterio reads: full-resolution windows, the whole scene decimated, bands, stretch |
| `eval.predict.predictor` | `Predictor`: render, generate (HF / vLLM), parse, shift, merge one input |
| `eval.predict.merge` | window predictions -> one scene prediction per task (rotated NMS, votes, mask stitching) |
| `eval.predict.geojson` | features in pixels -> the raster's CRS (geotransform) or EPSG:4326 (pyproj) |
| `eval.predict.inputs` | input files, folders, list files, before/after pairs, prompt files |
| `eval.predict.run` | the run: files per input, resume, progress, the dashboard's rows |

User guide: docs/predict.md. The public entry point is `georft.predict`.
"""
