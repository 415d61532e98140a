"""Evaluation core: output parsers (`eval.parsers`), geometry (`eval.geometry`), metrics (`eval.metrics`, pure
functions). May import `data_engine` and `rollout`; `rewards` builds on it, never the other way round.
"""
