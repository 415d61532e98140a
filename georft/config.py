"""Typed config: one YAML file plus dotted `key=value` overrides, validated against a dataclass schema.

Built on OmegaConf structured configs. Unknown keys and wrong types fail with the key path and a "did you mean";
duplicate keys in a YAML file fail instead of silently keeping the last one. Sections that belong to TRL
(`SFTConfig`, `GRPOConfig`) are free-form dicts in the schema and are checked against TRL's own dataclass by
`check_passthrough`, so their fields are never copied here.

Which schema validates which YAML: the first folder under `configs/` (see `CONFIG_KINDS`).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from data_engine.errors import UserError
from data_engine.registry import did_you_mean

T = TypeVar("T")

# configs/<folder>/*.yaml -> "module:Schema". A folder missing here makes `georft config check` fail loudly.
CONFIG_KINDS: dict[str, str] = {
    "model": "models.tiny:TinyModelConfig",
    "sft": "sft.config:SFTRunConfig",
    "grpo": "rl.config:GRPORunConfig",
    "pipeline": "georft.pipeline:PipelineConfig",
    "pretrain": "georft.pretrain:PretrainConfig",
    "eval": "eval.suite:SuiteConfig",
    "data": "data_engine.data_config:DataSection",  # shared `data:` fragments, composed with `_base_`
    "recipes": "georft.config:RecipeFile",
    "rewards": "georft.config:RewardSetFile",
    "paper_tables": "eval.report.paper_table:PaperTableFile",  # seed papers' tables (`georft compare --layout`)
    # Launcher configs of other tools are validated by those tools' own loaders (`from_yaml_file`).
    "accelerate": "accelerate.commands.config.config_args:ClusterConfig",
}


class RecipeFile:
    """Validates a data-build recipe (configs/recipes/) without requiring its dataset roots on this machine."""

    @staticmethod
    def from_yaml_file(path: str) -> list:
        from data_engine.build import load_recipe

        return load_recipe(path, check_roots=False)


class RewardSetFile:
    """Validates a reward-set file (configs/rewards/): task -> [{name, weight, kwargs}], every reward known."""

    @staticmethod
    def from_yaml_file(path: str) -> dict:
        from data_engine.tasks import get_task
        from rewards.config import reward_set
        from rewards.registry import get_reward

        specs = reward_set(path)
        for task, items in specs.items():
            get_task(task)
            for spec in items:
                get_reward(spec.name)
        return specs


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (YAML's last-wins default hides typos)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise UserError(f"{node.start_mark.name}, line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# YAML 1.2 booleans: only true/false. YAML 1.1 also reads yes/no/on/off as booleans, which turns TRL's
# `save_strategy: no` into False; here those stay strings.
_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

# YAML 1.2 floats also without a dot (1e-3); PyYAML's 1.1 resolver reads those as strings.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)


# Aliases let a ~700-byte file describe a tree of 10^9 nodes ("billion laughs"): PyYAML builds it as shared
# references, but composing `_base_` and OmegaConf copy it node by node. Real configs have a few hundred nodes.
MAX_YAML_NODES = 100_000


def _expanded_nodes(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """Nodes of `node`'s tree with every alias expanded (memoised by node identity, so linear in the file)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise UserError("a YAML alias refers to itself (a recursive structure)")
    open_.add(key)
    n = 1
    if isinstance(node, yaml.SequenceNode):
        n += sum(_expanded_nodes(v, sizes, open_) for v in node.value)
    elif isinstance(node, yaml.MappingNode):
        n += sum(_expanded_nodes(k, sizes, open_) + _expanded_nodes(v, sizes, open_) for k, v in node.value)
    open_.discard(key)
    sizes[key] = n
    if n > MAX_YAML_NODES:
        raise UserError(f"expands to more than {MAX_YAML_NODES} values through aliases (an alias bomb?)")
    return n


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # Python's 4300-digit limit on int(str)
        raise _NumberTooLong(f"line {node.start_mark.line + 1}: an integer of {len(node.value)} characters "
                             f"(at most {sys.get_int_max_str_digits()} digits)") from None


class _NumberTooLong(UserError):
    """An integer beyond Python's digit limit (a subclass so overrides can name the key)."""


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _parse_yaml(text: str, name: str) -> Any:
    """Parse YAML text; every failure is one `UserError` line naming `name`, line and column, never the text itself
    (a `_base_` may point anywhere; its content is not echoed)."""
    loader = _StrictLoader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            _expanded_nodes(node, {}, set())
        except UserError as e:
            raise UserError(f"{name}: {e}") from None
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}, line {mark.line + 1}, column {mark.column + 1}" if mark else name
        problem = str(e.problem or e.context or "parse error")[:160]
        if e.context and e.problem and e.context_mark is not None:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise UserError(f"{name}: invalid YAML: {' '.join(str(e).split())[:160]}") from None
    except RecursionError:
        raise UserError(f"{name}: invalid YAML: nested too deeply") from None
    except _NumberTooLong as e:
        raise _NumberTooLong(f"{name}, {e}") from None
    finally:
        loader.dispose()


def _load_yaml_text(text: str) -> Any:
    return _parse_yaml(text, "<text>")


BASE_KEY = "_base_"


def read_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Parse a YAML file into a dict, rejecting duplicate keys; errors name the file and line.

    Configs compose with one mechanism, `_base_` (the key mmengine's configs use): a mapping at any level that holds
    ``_base_: other.yaml`` is that file's mapping with the mapping's other keys merged over it. The path is relative
    to the file that names it; mappings merge key by key, lists and scalars replace; a base may name its own base
    (a cycle is an error). So a pipeline writes ``sft: {_base_: ../sft/demo_cpu.yaml, output_dir: ...}`` and only
    what differs from the stage config. Interpolations (``${output_dir}``) resolve after composition, against the
    composed file's root.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    data = _parse_yaml(read_config_text(path), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return _compose(data, path, _chain + (path.resolve(),))


def read_config_text(path: Path) -> str:
    """A config file's text; a non-UTF-8 byte is one line naming the file, line and byte (never the text)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "save the file as UTF-8") from None


def _compose(node: Any, path: Path, chain: tuple[Path, ...]) -> Any:
    """Resolve every `_base_` inside `node` (read from `path`; `chain` = the files being composed, for cycles)."""
    if isinstance(node, list):
        return [_compose(v, path, chain) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _compose(v, path, chain) for k, v in node.items()}
    if BASE_KEY not in node:
        return node
    ref = node.pop(BASE_KEY)
    if not isinstance(ref, str) or not ref:
        raise UserError(f"{path}: {BASE_KEY} must be a file path, got {ref!r}")
    base_path = (path.parent / ref).resolve()
    if base_path in chain:
        raise UserError(f"{path}: {BASE_KEY} {ref!r} includes itself ({' -> '.join(p.name for p in chain)})")
    if not base_path.is_file():
        raise UserError(f"{path}: {BASE_KEY} file not found: {ref} (resolved to {base_path})")
    if base_path.suffix.lower() not in (".yaml", ".yml"):
        # Refused before reading: an error about a file that is not a config could otherwise quote it.
        raise UserError(f"{path}: {BASE_KEY} must name a .yaml or .yml file, got {ref!r}")
    return merge_dicts(read_yaml(base_path, chain), node)


def merge_dicts(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`: mappings key by key (recursively), anything else replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """`a.b=value` strings -> (key, value) pairs; values are parsed as YAML (`x=3`, `x=[1,2]`, `x=null` work)."""
    out = []
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        bad_index = next((p for p in key.strip().split(".") if re.fullmatch(r"-\d+", p)), None)
        if bad_index is not None:
            raise UserError(f"override {key.strip()!r}: list index {bad_index} is negative; list items are "
                            "numbered from 0")
        try:
            value = _load_yaml_text(raw) if raw != "" else ""
        except _NumberTooLong:
            raise UserError(f"override {key.strip()}: an integer of {len(raw.strip())} characters (at most "
                            f"{sys.get_int_max_str_digits()} digits)") from None
        except UserError:
            value = raw
        out.append((key.strip(), value))
    return out


def _replace(cfg: Any, key: str, value: Any) -> None:
    """Set `key` to `value`. A mapping given for a free-form dict (rewards={vqa: [...]}) replaces it whole, so an
    override never keeps tasks the user left out; a mapping for a dataclass section sets only the fields it names."""
    node = OmegaConf.select(cfg, key, throw_on_missing=False)
    if isinstance(value, dict) and OmegaConf.is_dict(node) and OmegaConf.get_type(node) is dict:
        for k in list(node.keys()):
            del node[k]
    parts = key.split(".")
    if isinstance(value, (dict, list)) and not any(p.isdigit() for p in parts):
        # Merged as a nested mapping, as a file is: mappings inside lists become their dataclasses
        # (rewards.detection=[{name: format, weight: 0.1}]); OmegaConf.update leaves them plain dicts and fails.
        for p in reversed(parts):
            value = {p: value}
        cfg.merge_with(value)
        return
    OmegaConf.update(cfg, key, value, merge=True)


# Keys renamed in a release: an old config names the new key instead of a bare "unknown key".
RENAMED_KEYS = {"zoom.max_steps": "zoom.max_calls"}


def _friendly(e: OmegaConfBaseException, where: str, schema: type) -> UserError:
    key = str(getattr(e, "full_key", None) or getattr(e, "key", None) or "?")
    if isinstance(e, (ConfigKeyError, ConfigAttributeError)):
        parts = [p for p in re.split(r"\.|\[\d+\]", key) if p]
        # OmegaConf names the dataclass that rejected the key; inside lists its key path is often incomplete.
        obj_type = getattr(e, "object_type", None)
        parent = obj_type if dataclasses.is_dataclass(obj_type) else _schema_at(schema, parts[:-1])
        hint = did_you_mean(parts[-1], [f.name for f in dataclasses.fields(parent)]) if parent and parts else ""
        for old, new in RENAMED_KEYS.items():
            if key == old or key.endswith("." + old):
                hint = f" It was renamed to {new!r} (zoom-in calls per chain, not optimizer steps)."
        return UserError(f"{where}: unknown key {key!r}.{hint}")
    if isinstance(e, ValidationError):
        msg = str(e).splitlines()[0]
        return UserError(f"{where}: bad value for {key!r}: {msg}")
    return UserError(f"{where}: {str(e).splitlines()[0]}")


def _schema_at(schema: type, parts: list[str]) -> type | None:
    """The dataclass type at a key path inside `schema` (descending through dict/list fields), or None."""
    tp: Any = schema
    for p in parts:
        # Unwrap containers: a dict key or a list index (already removed from `parts`) selects the value type.
        while typing.get_origin(tp) in (list, dict, typing.Union) or typing.get_origin(tp) is types.UnionType:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if typing.get_origin(tp) is dict:
                tp = args[1] if len(args) == 2 else None
                break  # `p` was the dict key
            tp = args[-1] if args else None
        else:
            if not dataclasses.is_dataclass(tp):
                return None
            tp = typing.get_type_hints(tp).get(p)
            if tp is None:
                return None
            continue
    while typing.get_origin(tp) in (list, typing.Union) or typing.get_origin(tp) is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[-1] if args else None
    return tp if dataclasses.is_dataclass(tp) else None


def load_config(schema: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load `path` (optional) and `overrides` on top of the defaults of `schema`.

    Args:
        schema: a dataclass type; nested dataclass fields are sections.
        path: YAML file, or None for defaults plus overrides only.
        overrides: dotted `key=value` strings, applied after the file.

    Returns:
        An instance of `schema` (real dataclass objects, validated).

    Raises:
        UserError: unknown key (with "did you mean"), wrong type, missing required value, malformed YAML.
    """
    cfg = OmegaConf.structured(schema)
    if path is not None:
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.create(read_yaml(path)))
        except OmegaConfBaseException as e:
            raise _friendly(e, str(path), schema) from None
    # Overrides are applied key by key, so list items can be addressed by index (data.sources.0.path=...);
    for key, value in _parse_overrides(overrides or []):
        try:
            _replace(cfg, key, value)
        except OmegaConfBaseException as e:
            raise _friendly(e, "command-line override", schema) from None
        except (IndexError, TypeError, ValueError) as e:
            raise UserError(f"command-line override {key}={value!r}: {e}") from None
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise _friendly(e, str(path or "config"), schema) from None
    problem = non_finite_field(obj)
    if problem is not None:
        where = f"{path or 'config'}{' with overrides' if overrides else ''}"
        raise UserError(f"{where}: {problem[0]} must be a finite number, got {problem[1]}")
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def non_finite_field(node: Any, key: str = "") -> tuple[str, float] | None:
    """(dotted key, value) of the first NaN or infinite float in a loaded config (dataclasses, dicts, lists), or
    None. No config field means "unbounded" by infinity, so a non-finite number is always a mistake (`.nan` passes
    every `x > 0` check: NaN compares false both ways)."""
    if isinstance(node, float):
        return None if math.isfinite(node) else (key, node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        items = ((f.name, getattr(node, f.name)) for f in dataclasses.fields(node))
    elif isinstance(node, dict):
        items = ((str(k), v) for k, v in node.items())
    elif isinstance(node, (list, tuple)):
        items = ((f"{i}", v) for i, v in enumerate(node))
    else:
        return None
    for k, v in items:
        found = non_finite_field(v, f"{key}.{k}" if key else k)
        if found is not None:
            return found
    return None


def to_yaml(cfg: Any) -> str:
    """The resolved config as YAML text."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config (every default filled in) to `path`, creating folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(cfg), encoding="utf-8")
    return path


def check_passthrough(section: dict[str, Any], target: type, where: str) -> None:
    """Check that a free-form section only holds fields of `target` (e.g. trl.GRPOConfig), with "did you mean", that
    each value has the field's type (`max_steps=abc` fails here, not as a TypeError deep in training), and that the
    counters and rates in `TRAINER_RANGES` are in range."""
    names = {f.name for f in dataclasses.fields(target)}
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve: names are still checked
        hints = {}
    for key, value in section.items():
        if key not in names:
            raise UserError(f"{where}: {key!r} is not a {target.__name__} field.{did_you_mean(key, names)}")
        tp = PASSTHROUGH_TYPES.get(key, hints.get(key))
        if tp is not None and not _has_type(value, tp):
            raise UserError(f"{where}.{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        check = TRAINER_RANGES.get(key)
        if check is not None and isinstance(value, (int, float)) and not check[0](value):
            raise UserError(f"{where}.{key} must be {check[1]}, got {value!r}")


# Fields whose accepted values are wider than TRL's annotation, because the stages resolve them first:
# `resume_from_checkpoint: true` is the newest complete checkpoint (models.loading.resume_checkpoint), `false` none.
PASSTHROUGH_TYPES: dict[str, Any] = {"resume_from_checkpoint": bool | str | None}

# Values TRL accepts without complaint but that silently do something else (max_steps=-5 trains by epochs).
TRAINER_RANGES: dict[str, tuple[Any, str]] = {
    "max_steps": (lambda v: v == -1 or v > 0, "> 0 (or -1: train by num_train_epochs)"),
    "learning_rate": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"),
    "num_train_epochs": (lambda v: math.isfinite(v) and v > 0, "> 0"),
    "per_device_train_batch_size": (lambda v: v >= 1, ">= 1"),
    "per_device_eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, ">= 1"),
    "num_generations": (lambda v: v >= 2, ">= 2 (GRPO compares completions)"),
    "warmup_ratio": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "weight_decay": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"),
    "max_grad_norm": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"),
    "logging_steps": (lambda v: v > 0, "> 0"),
    "save_steps": (lambda v: v > 0, "> 0"),
    "temperature": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"),
}


def _has_type(value: Any, tp: Any) -> bool:
    """Whether a YAML value fits a dataclass annotation (builtins, Optional/Union, Literal, list, dict, str Enums;
    anything else is accepted and left to the target's own checks)."""
    import enum

    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return isinstance(value, (list, tuple)) and (not args or all(_has_type(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(value, tp) or value in {m.value for m in tp}
    return True


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def schema_for(path: str | Path, configs_root: str | Path = "configs") -> type:
    """The schema that validates a YAML under `configs_root`, chosen by its first folder."""
    try:
        rel = Path(path).resolve().relative_to(Path(configs_root).resolve())
    except ValueError:
        raise UserError(f"{path} is not under the configs folder {Path(configs_root).resolve()}: its first folder "
                        "there chooses the schema; run from the repository root or pass --root") from None
    kind = rel.parts[0] if len(rel.parts) > 1 else ""
    if kind not in CONFIG_KINDS:
        raise UserError(f"{path}: no schema for configs/{kind}/.{did_you_mean(kind, CONFIG_KINDS)}")
    module, name = CONFIG_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def check_config_file(path: str | Path, configs_root: str | Path = "configs") -> Any:
    """Validate one YAML under `configs/`: header comment, schema, and any TRL pass-through sections."""
    path = Path(path)
    first = read_config_text(path).lstrip().splitlines()[:1]
    if not first or not first[0].startswith("#"):
        raise UserError(f"{path}: must start with a comment giving its exact launch command")
    schema = schema_for(path, configs_root)
    if hasattr(schema, "from_yaml_file"):  # another tool's config class (accelerate): its loader rejects bad keys
        try:
            return schema.from_yaml_file(str(path))
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"{path}: {e}") from None
    cfg = load_config(schema, path)
    check_trl_sections(cfg, str(path))
    return cfg


def check_trl_sections(cfg: Any, where: str) -> None:
    """Check each free-form section a schema declares in `TRL_SECTIONS` ({"trainer": "trl:SFTConfig"}) against
    that dataclass's fields, in `cfg` and in every nested section (a pipeline holds an SFT and a GRPO config).
    Imports the target lazily (trl costs ~11 s to import)."""
    for section, target in getattr(cfg, "TRL_SECTIONS", {}).items():
        module, name = target.split(":")
        check_passthrough(getattr(cfg, section), getattr(importlib.import_module(module), name), f"{where}: {section}")
    if dataclasses.is_dataclass(cfg):
        for f in dataclasses.fields(cfg):
            value = getattr(cfg, f.name)
            if dataclasses.is_dataclass(value):
                check_trl_sections(value, f"{where}: {f.name}")
