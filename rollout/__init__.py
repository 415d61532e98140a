"""Rollouts: generation backends (Hugging Face `generate`, vLLM) behind one interface, the multi-turn zoom-chain
executor, and the rollout store (writer and reader). Serves `rl` and `eval`; may import `data_engine` and `models`.
"""
