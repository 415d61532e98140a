"""Evaluation core: output parsers (eval/parsers), geometry, metrics (pure functions), the evaluation
runner (`georft eval`) and the comparison report (`georft compare`).
May import data_engine and rollout."""
