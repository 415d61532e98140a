"""GRPO stage: `rl/train.py: main(cfg)` on TRL's `GRPOTrainer` with the task-aware rewards, and the callbacks that
write the rollout store. May import `data_engine`, `rewards`, `rollout` and `models`.
"""
