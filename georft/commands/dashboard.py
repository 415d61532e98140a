"""Inspect rollouts and eval outputs in a local web app: `georft dashboard RUN_DIR [RUN_DIR ...]`.

Serves a read-only app (overview plots, step/group view, sample view with boxes, SFT-vs-RL compare) over the
rollout stores and eval dirs inside the given run directories; only files under those directories (and any
`--images-root`) are served. Binds 127.0.0.1 unless `--host` says otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (rollouts/ and/or eval dirs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    parser.add_argument("--images-root", action="append", default=[], metavar="DIR",
                        help="also serve images under DIR (e.g. the dataset folder rollouts point to); repeatable")
    parser.add_argument("--max-image-pixels", type=int, default=None, metavar="N",
                        help="refuse to decode a thumbnail above N pixels after JPEG draft reduction "
                             "(default: 100000000; raise it for genuine UHR PNG/TIFF scenes)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from dashboard.app import create_app
    from dashboard.files import MAX_DECODE_PIXELS
    from data_engine.errors import UserError

    if args.max_image_pixels is not None and args.max_image_pixels <= 0:
        raise UserError(f"--max-image-pixels must be a positive pixel count, got {args.max_image_pixels}")

    app = create_app(args.run_dirs, args.images_root, host=args.host,
                     max_image_pixels=args.max_image_pixels or MAX_DECODE_PIXELS)
    url = f"http://{args.host}:{args.port}/"
    scope = "this machine only" if _is_loopback(args.host) else "reachable from the network: anyone who can " \
        "reach this address can read these runs"
    print(f"georft dashboard: serving {len(args.run_dirs)} run(s) on {url} ({scope}); Ctrl-C stops",  # noqa: T201
          file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
