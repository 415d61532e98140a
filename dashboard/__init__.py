"""Local, read-only web app over a run's rollout store and eval outputs (`georft dashboard RUN_DIR ...`).

`dashboard.app.create_app(run_dirs)` builds the ASGI app; nothing in the project imports this package.
"""
