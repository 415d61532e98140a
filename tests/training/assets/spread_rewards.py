"""Toy rewards whose values spread over any random completions (loaded as `.../spread_rewards.py:<name>`): the
per-task reward-scaling test needs reward variance from an untrained model."""

columns = ("task", "target")


def _text(completion) -> str:
    return completion if isinstance(completion, str) else str(completion[-1]["content"])


def char_share(completion, sample, frame=None, **kwargs):
    """Share of ASCII letters among the characters, in [0, 1] (a wide-range reward)."""
    t = _text(completion)
    return {"overall": sum(c.isascii() and c.isalpha() for c in t) / len(t) if t else 0.0}


def has_vowel_start(completion, sample, frame=None, **kwargs):
    """0.1 when the completion starts with a vowel (a narrow-range reward)."""
    t = _text(completion).strip().lower()
    return {"overall": 0.1 * float(bool(t) and t[0] in "aeiou")}
