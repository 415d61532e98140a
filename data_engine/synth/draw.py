"""Procedural aerial scenes: textured ground, roads, water and rotated objects of a few very distinct classes.

Made for learnability by a ~1M-parameter model at 112-224 px: few classes, each with its own silhouette and (except
vehicles, whose colour is a question target) its own strong colour, objects large relative to the image.

| class | silhouette | colour |
|---|---|---|
| plane | cross: fuselage, wings, tail | white |
| ship | long hull with a pointed bow | red |
| storage-tank | disc with a dark rim | yellow |
| vehicle | small rectangle with a dark windscreen band | blue / green / black / purple |

Every object is stored as the 4-corner polygon of its oriented box, corners ``(-L/2,-W/2), (L/2,-W/2), (L/2,W/2),
(-L/2,W/2)`` rotated by the heading and shifted to the centre (original pixels, floats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("plane", "ship", "storage-tank", "vehicle")
PLURALS = {"plane": "planes", "ship": "ships", "storage-tank": "storage tanks", "vehicle": "vehicles"}
NAMES = {"plane": "plane", "ship": "ship", "storage-tank": "storage tank", "vehicle": "vehicle"}
CLASS_COLOURS = {"plane": (240, 240, 240), "ship": (215, 35, 35), "storage-tank": (245, 205, 35)}
VEHICLE_COLOURS = {"blue": (35, 75, 235), "green": (30, 175, 60), "black": (20, 20, 20), "purple": (150, 40, 200)}
GROUNDS = {"sandy": (172, 156, 118), "grey": (128, 128, 122), "brown": (138, 112, 82),
           "concrete": (190, 190, 184), "asphalt": (58, 58, 64)}
# Grounds drawn at random; "concrete" and "asphalt" are kept for the scene classes that prescribe them, so that each
# scene class has a ground tone of its own (see data_engine.synth.world.scene_objects).
RANDOM_GROUNDS = ("sandy", "grey", "brown")
WATER = (38, 78, 140)
ROAD = (92, 92, 96)

# Object length range (pixels) per class at scale 1 (224-px scenes) and width/length ratio. Sized so that every
# class's oriented box covers >= ~4 % of a 224-px scene (the demo shows it as a 112-px view): tiny from-scratch
# models learnt counting and colour questions only with objects that large (1-2 % objects stayed at chance).
LENGTHS = {"plane": (52, 76), "ship": (80, 108), "storage-tank": (44, 58), "vehicle": (50, 66)}
ASPECT = {"plane": 0.9, "ship": 0.3, "storage-tank": 1.0, "vehicle": 0.6}


@dataclass
class Obj:
    """One drawn object.

    Attributes:
        label: class name (one of CLASSES).
        cx, cy: centre in pixels.
        length, width: oriented box sides in pixels (length along the heading).
        angle: heading in radians.
        colour: colour word ("white", "red", "yellow" or a vehicle colour).
    """

    label: str
    cx: float
    cy: float
    length: float
    width: float
    angle: float
    colour: str

    def local_to_image(self, pts) -> np.ndarray:
        """(N, 2) points in the object's frame (x along the heading) -> image pixels."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        p = np.asarray(pts, dtype=np.float64)
        return np.stack([self.cx + p[:, 0] * c - p[:, 1] * s, self.cy + p[:, 0] * s + p[:, 1] * c], axis=1)

    @property
    def poly(self) -> list[float]:
        hl, hw = self.length / 2, self.width / 2
        return self.local_to_image([[-hl, -hw], [hl, -hw], [hl, hw], [-hl, hw]]).reshape(-1).round(2).tolist()

    @property
    def hbb(self) -> list[float]:
        p = np.asarray(self.poly).reshape(4, 2)
        return [float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())]

    @property
    def radius(self) -> float:
        return 0.5 * float(np.hypot(self.length, self.width))


def ground(rng: np.random.Generator, width: int, height: int, name: str | None = None) -> tuple[Image.Image, str]:
    """Textured ground: a base tone (`name`, or one of RANDOM_GROUNDS at random), smooth low-frequency variation
    and fine grain.

    The texture is computed at most ~256 px a side and upsampled, so a 3000-px UHR ground costs about as much as a
    224-px one (its grain is coarser, which compresses better and still reads as terrain).
    """
    name = str(rng.choice(RANDOM_GROUNDS)) if name is None else name
    base = np.asarray(GROUNDS[name], dtype=np.float32)
    r = max(1, min(width, height) // 256)
    tw, th = -(-width // r), -(-height // r)
    coarse = rng.normal(0.0, 14.0, (max(2, th // 32), max(2, tw // 32))).astype(np.float32)
    low = np.asarray(Image.fromarray(coarse).resize((tw, th), Image.Resampling.BILINEAR), dtype=np.float32)
    fine = rng.normal(0.0, 7.0, (th, tw, 1)).astype(np.float32)
    arr = np.clip(base + low[..., None] + fine, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if r > 1:
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    return img, name


def add_water(rng: np.random.Generator, img: Image.Image) -> list[tuple[float, float]]:
    """A water body: an irregular blob hugging one image edge. Returns its outline (pixels)."""
    w, h = img.size
    edge = int(rng.integers(4))
    depth = rng.uniform(0.25, 0.4)
    t = np.linspace(0, 1, 9)
    wobble = depth + rng.uniform(-0.06, 0.06, t.size)
    if edge == 0:
        pts = [(x * w, y * h) for x, y in zip(t, wobble, strict=True)] + [(w, 0), (0, 0)]
    elif edge == 1:
        pts = [(x * w, (1 - y) * h) for x, y in zip(t, wobble, strict=True)] + [(w, h), (0, h)]
    elif edge == 2:
        pts = [(y * w, x * h) for x, y in zip(t, wobble, strict=True)] + [(0, h), (0, 0)]
    else:
        pts = [((1 - y) * w, x * h) for x, y in zip(t, wobble, strict=True)] + [(w, h), (w, 0)]
    ImageDraw.Draw(img).polygon(pts, fill=WATER)
    return pts


def add_road(rng: np.random.Generator, img: Image.Image) -> None:
    """A straight road across the image with a dashed centre line."""
    w, h = img.size
    d = ImageDraw.Draw(img)
    width = max(4, int(min(w, h) * rng.uniform(0.06, 0.09)))
    if rng.random() < 0.5:
        y = rng.uniform(0.2, 0.8) * h
        a, b = (0, y + rng.uniform(-0.1, 0.1) * h), (w, y + rng.uniform(-0.1, 0.1) * h)
    else:
        x = rng.uniform(0.2, 0.8) * w
        a, b = (x + rng.uniform(-0.1, 0.1) * w, 0), (x + rng.uniform(-0.1, 0.1) * w, h)
    d.line([a, b], fill=ROAD, width=width)
    n = 12
    for k in range(0, n, 2):
        p = (a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n)
        q = (a[0] + (b[0] - a[0]) * (k + 1) / n, a[1] + (b[1] - a[1]) * (k + 1) / n)
        d.line([p, q], fill=(225, 225, 225), width=max(1, width // 8))


def draw_object(img: Image.Image, o: Obj) -> None:
    """Draw one object's silhouette inside its oriented box."""
    d = ImageDraw.Draw(img)
    L, W = o.length, o.width
    rgb = CLASS_COLOURS.get(o.label) or VEHICLE_COLOURS[o.colour]

    def poly(pts, fill):
        d.polygon([tuple(p) for p in o.local_to_image(pts).tolist()], fill=fill)

    if o.label == "plane":
        f = L * 0.09
        poly([[-L / 2, -f], [L / 2 - f, -f], [L / 2, 0], [L / 2 - f, f], [-L / 2, f]], rgb)  # fuselage
        for side in (-1, 1):  # swept wings
            poly([[L * 0.22, side * f], [-L * 0.06, side * W / 2], [-L * 0.2, side * W / 2], [-L * 0.02, side * f]], rgb)
        poly([[-L / 2, -W * 0.22], [-L * 0.36, -W * 0.22], [-L * 0.36, W * 0.22], [-L / 2, W * 0.22]], rgb)  # tail
    elif o.label == "ship":
        poly([[-L / 2, -W / 2], [L * 0.25, -W / 2], [L / 2, 0], [L * 0.25, W / 2], [-L / 2, W / 2]], rgb)
        poly([[-L * 0.3, -W * 0.2], [L * 0.05, -W * 0.2], [L * 0.05, W * 0.2], [-L * 0.3, W * 0.2]], (240, 240, 240))
    elif o.label == "storage-tank":
        r = L / 2
        d.ellipse([o.cx - r, o.cy - r, o.cx + r, o.cy + r], fill=(70, 60, 30))
        r2 = r * 0.8
        d.ellipse([o.cx - r2, o.cy - r2, o.cx + r2, o.cy + r2], fill=rgb)
    else:  # vehicle
        poly([[-L / 2, -W / 2], [L / 2, -W / 2], [L / 2, W / 2], [-L / 2, W / 2]], rgb)
        poly([[L * 0.12, -W * 0.4], [L * 0.28, -W * 0.4], [L * 0.28, W * 0.4], [L * 0.12, W * 0.4]], (200, 220, 235))


def colour_of(label: str, rng: np.random.Generator, colour: str | None = None) -> str:
    """Colour word of a new object: fixed per class, random (or given) for vehicles."""
    if label == "vehicle":
        return colour or str(rng.choice(list(VEHICLE_COLOURS)))
    return {"plane": "white", "ship": "red", "storage-tank": "yellow"}[label]


def place(rng: np.random.Generator, labels: list[str], width: int, height: int, scale: float = 1.0,
          colours: dict[int, str] | None = None, tries: int = 256) -> list[Obj] | None:
    """Non-overlapping objects for `labels` (in order), or None when they do not fit.

    Args:
        labels: class of each object.
        width, height: image size.
        scale: multiplies the class length ranges (1 for 224-px scenes).
        colours: {index: colour word} for objects whose colour is prescribed (vehicles).
    """
    objs: list[Obj] = []
    for i, lab in enumerate(labels):
        lo, hi = LENGTHS[lab]
        length = rng.uniform(lo, hi) * scale
        width_ = length * ASPECT[lab]
        angle = 0.0 if lab == "storage-tank" else rng.uniform(-np.pi, np.pi)
        colour = colour_of(lab, rng, (colours or {}).get(i))
        r = 0.5 * np.hypot(length, width_)
        if width - 2 * r - 4 <= 0 or height - 2 * r - 4 <= 0:
            return None
        # Draw candidate centres in one batch and keep the first that clears every placed object.
        cand = rng.uniform((r + 2, r + 2), (width - r - 2, height - r - 2), size=(tries, 2))
        if objs:
            placed = np.array([[o.cx, o.cy, o.radius] for o in objs])
            dist = np.hypot(cand[:, None, 0] - placed[None, :, 0], cand[:, None, 1] - placed[None, :, 1])
            ok = np.all(dist > r + placed[None, :, 2] + 3, axis=1)
        else:
            ok = np.ones(tries, dtype=bool)
        if not ok.any():
            return None
        cx, cy = cand[int(np.argmax(ok))]
        objs.append(Obj(lab, float(cx), float(cy), float(length), float(width_), float(angle), colour))
    return objs


def scene(rng: np.random.Generator, labels: list[str], width: int = 224, height: int = 224,
          colours: dict[int, str] | None = None, scale: float = 1.0, water: bool | None = None,
          road: bool | None = None, ground_name: str | None = None) -> tuple[Image.Image, list[Obj], dict]:
    """A full scene with the given objects; shrinks objects until they fit. `ground_name` prescribes the ground.

    Returns:
        (RGB image, objects in the order of `labels`, context {"ground", "water", "road"}).
    """
    img, ground_name = ground(rng, width, height, ground_name)
    has_water = bool(rng.random() < 0.35) if water is None else water
    has_road = bool(rng.random() < 0.5) if road is None else road
    if has_water:
        add_water(rng, img)
    if has_road:
        add_road(rng, img)
    objs = None
    while objs is None:
        objs = place(rng, labels, width, height, scale, colours)
        scale *= 0.85
    for o in objs:
        draw_object(img, o)
    return img, objs, {"ground": ground_name, "water": has_water, "road": has_road}
