"""Evaluation core: output parsers (eval/parsers), geometry, metrics (pure functions), later the runner and report.
May import data_engine and rollout."""
