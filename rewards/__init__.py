"""Task-aware rewards for GRPO, built on `eval`'s parsers, geometry and metrics (one scoring path).
May import `eval` and `data_engine`.
"""
