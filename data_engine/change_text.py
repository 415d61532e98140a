"""Fixed strings of the multi-image (change) tasks and the one test for a "no change" caption.

`is_no_change_caption` is shared by the LEVIR-CC adapter (``changed`` when the file has no ``changeflag``), the
change-caption reward's consistency term and the change-caption metrics, so they can never disagree about what
counts as saying "nothing changed" (docs/multi-image.md §2).
"""

from __future__ import annotations

import re

# Our wording; frame names ("Image 1", "Image 2") are the ones `task_render.user_turn` writes before each image.
CHANGE_CAPTION_PROMPT = (
    "Image 1 was taken before image 2 over the same area. Describe the changes from image 1 to image 2 in one "
    "sentence."
)
# Change detection: said before the detection prompt (``find the change``); boxes are in image 2's frame, which is
# image 1's (co-registered frames).
CHANGE_DETECTION_PREFIX = "Image 1 was taken before image 2 over the same area. Mark the regions that changed: "
# xBD (docs/multi-image.md §5): damage levels in ordinal order (the xView2 encoding 1-4), questions about a pair.
DAMAGE_LEVELS = ("no-damage", "minor-damage", "major-damage", "destroyed")
DAMAGE_PREFIX = "Image 1 was taken before image 2, after a disaster, over the same area. "
DISASTER_TYPE_QUESTION = "What type of disaster happened?"
DAMAGE_LEVEL_QUESTION = "What is the damage level of the building at {box}?"
ANSWER_WITH = " Answer with one of: {classes}."
# fMoW (docs/multi-image.md §6): frames of one site, oldest first.
TEMPORAL_PREFIX = "The images show the same site at different times, in chronological order (image 1 is the oldest). "
FMOW_CATEGORIES = (  # the 62 categories, in the fMoW dataset README's order
    "airport", "airport_hangar", "airport_terminal", "amusement_park", "aquaculture", "archaeological_site", "barn",
    "border_checkpoint", "burial_site", "car_dealership", "construction_site", "crop_field", "dam", "debris_or_rubble",
    "educational_institution", "electric_substation", "factory_or_powerplant", "fire_station", "flooded_road",
    "fountain", "gas_station", "golf_course", "ground_transportation_station", "helipad", "hospital",
    "impoverished_settlement", "interchange", "lake_or_pond", "lighthouse", "military_facility",
    "multi-unit_residential", "nuclear_powerplant", "office_building", "oil_or_gas_facility", "park",
    "parking_lot_or_garage", "place_of_worship", "police_station", "port", "prison", "race_track", "railway_bridge",
    "recreational_facility", "road_bridge", "runway", "shipyard", "shopping_mall", "single-unit_residential",
    "smokestack", "solar_farm", "space_facility", "stadium", "storage_tank", "surface_mine", "swimming_pool",
    "toll_booth", "tower", "tunnel_opening", "waste_disposal", "water_treatment_facility", "wind_farm", "zoo",
)
# LEVIR-CC's no-change sentence (RSICC / Change-Agent preprocessing), docs/multi-image.md §3.
LEVIR_NO_CHANGE = "the scene is the same as before"

_NO_CHANGE = re.compile(
    r"\bsame as before\b"
    r"|\bno (?:obvious |apparent |significant |visible )?(?:change|changes|difference|differences)\b"
    r"|\b(?:nothing|not)(?: much)? (?:has |have |is |was )?(?:been )?changed\b"
    r"|\bunchanged\b|\bidentical\b|\bremains? the same\b|\bstays? the same\b"
)


def is_no_change_caption(text) -> bool:
    """Whether a caption says that nothing changed ("the scene is the same as before", "no change has occurred",
    "the two scenes seem identical", ...). Never raises; non-strings are False."""
    if not isinstance(text, str):
        return False
    return bool(_NO_CHANGE.search(" ".join(re.findall(r"[a-z0-9]+", text.lower()))))
