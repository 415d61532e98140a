"""Models: building the offline tiny Qwen-VL models and loading any Qwen-VL checkpoint for training.

Serves `sft`, `rl`, `rollout` and `eval`; imports only `data_engine` (model families) and the Hugging Face stack.
"""
