"""User rewards for the GRPO tests, loaded by path (`tests/training/assets/rewards.py:<name>`)."""


def raise_on_model_output(completion, sample, frame=None, **kwargs):
    """Scores the probe (the target's own answer) but raises on anything a model writes: a plug-in bug that only
    shows up mid-run, after the pre-flight check passed."""
    import json

    text = completion if isinstance(completion, str) else completion[-1]["content"]
    answer = json.loads(sample["target"])["answer"] if isinstance(sample["target"], str) else sample["target"]["answer"]
    if text != str(answer):
        raise ValueError("cannot handle this output")
    return {"overall": 1.0}
