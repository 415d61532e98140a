"""Dataset-format adapters, chosen by name in a recipe's `format:` (registry `FORMATS`).

Each adapter is ``iter_<format>(spec: SourceSpec) -> Iterator[row dict | Skip]`` and documents the on-disk layout
it expects in its module docstring. To add a format, write `data_engine/adapters/<name>.py` with such a function and
register it here.
"""

from __future__ import annotations

from data_engine.adapters.base import Skip, SourceSpec
from data_engine.adapters.bigearthnet import iter_bigearthnet, iter_bigearthnet19
from data_engine.adapters.captions_karpathy import iter_captions_karpathy
from data_engine.adapters.coco import iter_coco
from data_engine.adapters.dior_r import iter_dior_r
from data_engine.adapters.dior_rsvg import iter_dior_rsvg
from data_engine.adapters.dota import iter_dota, iter_dota_test
from data_engine.adapters.fair1m import iter_fair1m
from data_engine.adapters.fmow import iter_fmow
from data_engine.adapters.folder_classification import iter_folder_classification
from data_engine.adapters.geochat import iter_geochat, iter_geochat_referring
from data_engine.adapters.geochat_bench import iter_geochat_bench_region, iter_geochat_bench_scene
from data_engine.adapters.isprs import iter_isprs
from data_engine.adapters.levir_cc import iter_levir_cc
from data_engine.adapters.levir_cd import iter_levir_cd
from data_engine.adapters.llava import iter_llava
from data_engine.adapters.loveda import iter_loveda
from data_engine.adapters.lrs_vqa import iter_lrs_vqa
from data_engine.adapters.mme_realworld import iter_mme_realworld
from data_engine.adapters.mmseg import iter_mmseg
from data_engine.adapters.nwpu_captions import iter_nwpu_captions
from data_engine.adapters.nwpu_vhr10 import iter_nwpu_vhr10
from data_engine.adapters.refgeo import iter_refgeo
from data_engine.adapters.rrsisd import iter_rrsisd
from data_engine.adapters.rsvqa import iter_rsvqa
from data_engine.adapters.vrsbench import iter_vrsbench
from data_engine.adapters.xbd import iter_xbd
from data_engine.adapters.xlrs_bench import iter_xlrs_bench
from data_engine.registry import Registry

FORMATS: Registry = Registry("dataset format")
for _name, _fn in (
    ("dota", iter_dota),
    ("dota_test", iter_dota_test),
    ("dior_r", iter_dior_r),
    ("fair1m", iter_fair1m),
    ("dior_rsvg", iter_dior_rsvg),
    ("refgeo", iter_refgeo),
    ("rsvqa", iter_rsvqa),
    ("captions_karpathy", iter_captions_karpathy),
    ("folder_classification", iter_folder_classification),
    ("lrs_vqa", iter_lrs_vqa),
    ("llava", iter_llava),
    ("coco", iter_coco),
    ("mmseg", iter_mmseg),
    ("loveda", iter_loveda),
    ("rrsisd", iter_rrsisd),
    ("isprs", iter_isprs),
    ("levir_cc", iter_levir_cc),
    ("levir_cd", iter_levir_cd),
    ("xbd", iter_xbd),
    ("fmow", iter_fmow),
    ("geochat", iter_geochat),
    ("geochat_referring", iter_geochat_referring),
    ("geochat_bench_region", iter_geochat_bench_region),
    ("geochat_bench_scene", iter_geochat_bench_scene),
    ("nwpu_vhr10", iter_nwpu_vhr10),
    ("nwpu_captions", iter_nwpu_captions),
    ("vrsbench", iter_vrsbench),
    ("mme_realworld", iter_mme_realworld),
    ("xlrs_bench", iter_xlrs_bench),
    ("bigearthnet", iter_bigearthnet),
    ("bigearthnet19", iter_bigearthnet19),
):
    FORMATS.add(_name, _fn)

__all__ = ["FORMATS", "Skip", "SourceSpec"]
