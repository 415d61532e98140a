"""SFT stage: `sft/train.py: main(cfg)` co-trains a Qwen-VL model on the data engine's multi-task mixture with TRL's
`SFTTrainer`. May import `data_engine` and `models` only.
"""
