"""The dashboard's ASGI app: Starlette routes rendering Jinja2 pages, thumbnails and SVG plots.

Routes (all GET, all read-only):
    /                                  runs, their rollout stores and eval dirs
    /run/{r}                           overview charts (Plotly, EMA smoothing control) and the step table
    /run/{r}/charts.json               the overview charts as Plotly figures (`dashboard.charts`)
    /run/{r}/step/{step}               groups of a step: filters, G completions side by side, pages
    /run/{r}/search?task=&failed=&rmin=&rmax=&stdmin=&stdmax=&advmin=&sort=
                                       groups of every step passing the filters (the group inspector's search)
    /run/{r}/rollout?step=&group=&gen= one completion: image with boxes, completion, prediction, parts, zoom turns
    /eval/{key}                        an eval dir: metrics and paged predictions
    /eval/{key}/sample?id=             one eval sample
    /compare?a=&b=&metric=&order=      two eval dirs on the same samples, sorted by score difference
    /thumb/{root}/{path}?w=            a thumbnail of a file under an allowed root

    /static/plotly.min.js              Plotly's bundle, served from the installed `plotly` package (offline)

Handlers are plain functions, which Starlette runs in its thread pool, so Parquet reads never block the event
loop. Every response carries `dashboard.security.SECURITY_HEADERS`; a foreign `Host` is refused.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from dashboard import views
from dashboard.charts import build as build_charts
from dashboard.evals import EvalStore
from dashboard.files import (
    MAX_DECODE_PIXELS,
    THUMB_WIDTHS,
    Forbidden,
    Roots,
    ThumbnailCache,
    TooLarge,
    image_size,
    inside,
    preview_refusal,
)
from dashboard.overlay import turn_shape
from dashboard.rollouts import RunQueries
from dashboard.runs import Run, discover
from dashboard.security import HeaderGuard
from dashboard.verdicts import VerdictCache
from data_engine.errors import UserError
from eval.report.dynamics import dynamics_chart, dynamics_series, find_trainer_state, read_log_history
from rollout.store import INDEX_NAME, run_path

_HERE = Path(__file__).parent


class Dashboard:
    """Everything the handlers share: the runs, the allowed roots and the caches.

    Args:
        run_dirs: run directories to show (and serve files from).
        images_roots: extra directories whose images may be served (e.g. the dataset folder the rollouts
            reference); nothing outside the run dirs and these is ever served.
    """

    def __init__(self, run_dirs: list[str | Path], images_roots: list[str | Path] = (),
                 max_image_pixels: int = MAX_DECODE_PIXELS) -> None:
        self.runs: list[Run] = discover(run_dirs)
        self.roots = Roots([r.path for r in self.runs] + [Path(p) for p in images_roots])
        self.queries = [RunQueries(r.reader) for r in self.runs]
        self.evals = EvalStore()
        self.verdicts = VerdictCache()
        self.thumbs = ThumbnailCache(max_pixels=max_image_pixels)
        self.templates = Jinja2Templates(directory=str(_HERE / "templates"))
        self._charts: dict[int, tuple[tuple, bytes]] = {}
        self._chart_lock = threading.Lock()
        self.templates.env.globals.update(image_ref=self.image_ref, turn_shape=turn_shape, with_page=with_page)
        self.templates.env.filters["breakable"] = breakable

    def run(self, r: int) -> Run:
        if not 0 <= r < len(self.runs):
            raise HTTPException(404, f"no run {r}")
        return self.runs[r]

    def eval_dir(self, key: str):
        for run in self.runs:
            for ev in run.evals:
                if ev.key == key:
                    return ev
        raise HTTPException(404, f"no eval dir {key!r}")

    def image_ref(self, path: str, run: int, width: int | None = None, height: int | None = None) -> dict[str, Any]:
        """What a template needs to show a data-referenced image: thumbnail URL (None when not servable), the
        original size for the SVG overlay (the row's width/height when known, else the file header) and the
        refusal message when the image is over the decode limit (header only, nothing decoded)."""
        # Relative paths are the run's; an older store's absolute path of a file of this run maps into its copy.
        loc = self.roots.locate(run_path(path, self.runs[run].path), self.runs[run].path)
        size = (width, height) if width and height else None
        refused = None
        if loc is not None:
            real = self.roots.roots[loc[0]] / loc[1]
            refused = preview_refusal(real, self.thumbs.max_pixels)
            if size is None:
                size = image_size(real)
        return {"path": path, "url": f"/thumb/{loc[0]}/{loc[1]}" if loc and not refused else None,
                "refused": refused, "width": size[0] if size else None, "height": size[1] if size else None}

    def charts(self, r: int) -> bytes:
        """JSON of run `r`'s overview charts, rebuilt only when the rollout store changed."""
        reader = self.runs[r].reader
        index = reader.dir / INDEX_NAME
        state = find_trainer_state(reader.run_dir)
        if state is not None and not inside(state, self.runs[r].path):
            state = None  # a trainer_state.json leading out of the run is never read
        val = reader.run_dir / "validation" / "metrics.jsonl"
        stamp = (index.stat().st_mtime_ns if index.is_file() else 0, tuple(reader.steps()),
                 state.stat().st_mtime_ns if state else 0, val.stat().st_mtime_ns if val.is_file() else 0)
        with self._chart_lock:
            hit = self._charts.get(r)
        if hit and hit[0] == stamp:
            return hit[1]
        charts = build_charts(self.queries[r].series())
        dyn = dynamics_chart(dynamics_series(read_log_history(state)), self.runs[r].name) if state else None
        if dyn is not None:  # beside the reward and learning-signal charts, on the same step axis
            charts.insert(min(2, len(charts)), {"id": "dynamics", "title": "Training dynamics", "figure": dyn})
        body = json.dumps(charts, separators=(",", ":")).encode()
        with self._chart_lock:
            self._charts[r] = (stamp, body)
        return body

    def render(self, request: Request, name: str, **context: Any) -> Response:
        return self.templates.TemplateResponse(request, name, {"runs": self.runs, **context})


def breakable(text: Any) -> Markup:
    """`text` escaped, with line-break opportunities (<wbr>) after each "/" and "_" so long reward-part names wrap
    at their separators; the tags go into the escaped text, so nothing of `text` is ever raw HTML."""
    return Markup(str(escape(str(text))).replace("/", "/<wbr>").replace("_", "_<wbr>"))


def with_page(query: dict[str, str], page: int) -> str:
    """The current query string with `page` replaced (pager links keep the filters)."""
    return urlencode({**query, "page": page})


def thumb(request: Request) -> Response:
    """A thumbnail of a file under an allowed root; 403 outside the roots, 404 when missing or not an image."""
    dash: Dashboard = request.app.state.dash
    width = views.query_int(request, "w", 640, 1, 4096)
    # Snap to a fixed set of widths so the cache cannot be filled with one entry per requested size.
    width = min((w for w in THUMB_WIDTHS if w >= width), default=THUMB_WIDTHS[-1])
    try:
        path = dash.roots.resolve(request.path_params["root"], request.path_params["path"])
        data, media = dash.thumbs.get(path, width)
    except Forbidden:
        return PlainTextResponse("forbidden", status_code=403)
    except TooLarge as e:
        return PlainTextResponse(str(e), status_code=413)
    except (FileNotFoundError, NotADirectoryError, ValueError, OSError):
        return PlainTextResponse("not found", status_code=404)
    return Response(data, media_type=media, headers={"Cache-Control": "max-age=3600"})


def plotly_bundle() -> Path:
    """Path of `plotly.min.js` inside the installed `plotly` package (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the dashboard needs the `plotly` package for its charts: pip install -e . (plotly>=6)")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise UserError(f"plotly is installed but its bundle is missing: {path}")
    return path


def create_app(run_dirs: list[str | Path], images_roots: list[str | Path] = (), host: str = "127.0.0.1",
               max_image_pixels: int = MAX_DECODE_PIXELS) -> Starlette:
    """The ASGI app over `run_dirs` (raises `UserError` when one is not a directory).

    Args:
        run_dirs: run directories to show.
        images_roots: extra directories whose images may be served.
        host: the address the server binds; requests whose `Host` header names anything else are refused
            (DNS rebinding), see `dashboard.security`.
        max_image_pixels: decode limit of one thumbnail (pixels after draft reduction).
    """
    # pyarrow loads its dataset module on the first filtered read (~0.5 s): paying it at start keeps the first page
    # of a freshly opened run fast.
    import numpy as np
    import pyarrow.dataset  # noqa: F401

    from eval.geometry import rotated_iou

    # numba loads its compiled IoU kernels on the first call (~0.4 s): the step view's boxes need them.
    rotated_iou(np.zeros((1, 8)) + [0, 0, 1, 0, 1, 1, 0, 1], np.zeros((1, 8)) + [0, 0, 1, 0, 1, 1, 0, 1])

    bundle = plotly_bundle()
    dash = Dashboard(run_dirs, images_roots, max_image_pixels)
    routes = [
        Route("/", views.home),
        Route("/run/{r:int}", views.overview),
        Route("/run/{r:int}/charts.json", views.charts),
        Route("/run/{r:int}/step/{step:int}", views.step_page),
        Route("/run/{r:int}/rollout", views.rollout_sample),
        Route("/run/{r:int}/search", views.search_page),
        Route("/eval/{key}", views.eval_page),
        Route("/eval/{key}/sample", views.eval_sample),
        Route("/compare", views.compare_page),
        Route("/thumb/{root:int}/{path:path}", thumb),
        Route("/static/plotly.min.js", lambda request: FileResponse(
            bundle, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(HeaderGuard, host=host)])
    app.state.dash = dash
    return app
