"""The reward contract: what every reward function receives and returns, in one place.

A reward is a plain function of ONE completion and ONE sample::

    fn(completion, sample: RewardInput, frame: Frame | None = None, **kwargs) -> RewardOutput

- ``completion``: the model's answer: a string, or a TRL conversational completion (a message list; for a zoom
  chain the whole episode, assistant turns with their tool calls). Rewards read it with
  `eval.parsers.completion_text`, and treat it as hostile input: no completion makes a reward raise.
- ``sample``: a `RewardInput`, i.e. a schema row (`data_engine.schema`) as a GRPO row carries it. Rewards decode
  its ``target`` with `rewards.common.target_of`.
- ``frame``: the model's coordinate frame of the shown image (`data_engine.frames.Frame`, rebuilt by the adapter
  from the row's ``frame`` column); None means the completion's coordinates are in original pixels.
- ``**kwargs``: the config's ``kwargs`` for this reward (``rewards.<task>[i].kwargs``), plus what the reward
  declares it needs (below). A reward accepts and ignores unknown keywords (``**_``).
- returns a `RewardOutput`: ``"overall"`` (in [0, 1] for built-in rewards; the adapter clamps it to [-1, 1])
  plus named parts, all finite floats. A user reward may return a bare float (= ``overall``).

A reward may also have a batch form ``batch(completions, samples, **kwargs) -> list[RewardOutput]`` (`BatchRewardFn`)
giving the same results row by row; the TRL adapter uses it for speed.

Per-reward needs are declared by the reward, never special-cased by name in the adapter (`rewards.adapter`):

| need | declared as | the adapter then passes |
|---|---|---|
| the rollout's zoom steps | ``RewardDef.needs_turns`` (user reward: a ``needs_turns = True`` attribute) | ``turns=`` a list of `ZoomTurn`, when the row has them |
| a corpus document-frequency table | ``RewardDef.needs_doc_freq`` (user reward: ``needs_doc_freq = True``) | ``df=`` the training references' table (`rewards.caption.training_df`), unless the config sets ``df`` or ``df_path`` |
| dataset columns | ``RewardDef.columns`` (user reward: a ``columns`` attribute) | checked present before training (`rewards.adapter.check_rewards`) |
"""

from __future__ import annotations

from typing import Any, Protocol, TypedDict

from data_engine.frames import Frame


class ZoomTurn(TypedDict, total=False):
    """One zoom step of a rollout (`rl.zoom`), boxes in ORIGINAL pixels.

    Attributes:
        box: the region the step's call mapped to, ``[x1, y1, x2, y2]``; None when the call failed.
        view: the region shown when the call was made, ``[x1, y1, x2, y2]``.
    """

    box: list[float] | None
    view: list[float]


class RewardInput(TypedDict, total=False):
    """The ``sample`` a reward gets: one schema row as a GRPO row carries it (only ``task`` and ``target`` always).

    Attributes:
        task: the row's task (`data_engine.tasks`).
        target: the task's target, a JSON string or an already-decoded dict, coordinates in original pixels.
        frame: JSON (or dict) of `Frame.to_dict` of the shown image; the adapter also passes it decoded as ``frame``.
        width, height: original pixel size of the first image (from the frame when the row has no such columns).
        id, sample_id: the row's id (GRPO rows carry ``sample_id``; the adapter copies it to ``id``).
        source: the recipe's source name.
        turns: the rollout's zoom steps (only for rewards that declare ``needs_turns``).
        mask_format: the mask answer format the prompt was rendered for (`data_engine.options.MASK_FORMATS`;
            absent: ``seg_grid``), read by the segmentation rewards.
    """

    task: str
    target: str | dict[str, Any]
    frame: str | dict[str, Any] | None
    width: int
    height: int
    id: str
    sample_id: str
    source: str
    turns: list[ZoomTurn]
    mask_format: str


class RewardOutput(TypedDict):
    """What a reward returns: ``overall`` plus any number of named parts (more ``str -> float`` keys, each listed
    in the reward's ``parts``), all finite floats."""

    overall: float


class RewardFn(Protocol):
    """``fn(completion, sample, frame=None, **kwargs) -> RewardOutput`` (see the module docstring)."""

    def __call__(self, completion: Any, sample: RewardInput, frame: Frame | None = None,
                 **kwargs: Any) -> RewardOutput | dict[str, float] | float: ...


class BatchRewardFn(Protocol):
    """``batch(completions, samples, **kwargs) -> [RewardOutput]``: `RewardFn` over many rows at once."""

    def __call__(self, completions: list[Any], samples: list[RewardInput],
                 **kwargs: Any) -> list[RewardOutput | dict[str, float]]: ...
