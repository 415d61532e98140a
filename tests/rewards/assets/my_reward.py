"""Example user reward, loaded by configs as `tests/rewards/assets/my_reward.py:short_answer`."""

columns = ("task", "target")


def short_answer(completion, sample, frame=None, max_words=3, **kwargs):
    """1 when the answer has at most `max_words` words, else 0 (a toy length reward)."""
    text = completion if isinstance(completion, str) else completion[-1]["content"]
    n = len(text.split())
    return {"overall": float(0 < n <= max_words), "n_words": float(n)}


def broken(completion, sample, frame=None, **kwargs):
    """Always raises, to test that errors name the reward and the sample."""
    raise RuntimeError("boom")
