"""The generator's vocabulary: colours, shapes, sign words, image sizes and the sample-type mix.

Everything here is a tuple or a plain dict literal, so iteration order (and therefore the generated
bytes for a seed) never depends on hashing.
"""

from __future__ import annotations

from pixelis_data.schema import TASK_TYPES

# name -> RGB. Pairs of look-alike colours (see LOOKALIKE) are close in hue on purpose: they are what a
# perceptual trap puts side by side.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "orange": (236, 104, 28),
    "yellow": (238, 200, 30),
    "green": (44, 160, 44),
    "teal": (23, 150, 130),
    "blue": (31, 90, 200),
    "purple": (118, 70, 190),
    "pink": (230, 110, 170),
    "brown": (140, 86, 60),
    "gray": (120, 120, 120),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
LOOKALIKE: dict[str, str] = {
    "red": "orange",
    "orange": "red",
    "yellow": "orange",
    "green": "teal",
    "teal": "green",
    "blue": "purple",
    "purple": "blue",
    "pink": "purple",
    "brown": "orange",
    "gray": "brown",
}
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((250, 250, 247), (242, 244, 248), (247, 243, 235), (236, 240, 236))

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "hexagon")
# Filled area as a fraction of the bounding square (what the images really cover).
SHAPE_AREA: dict[str, float] = {
    "circle": 0.7854,
    "square": 1.0,
    "triangle": 0.5,
    "diamond": 0.5,
    "hexagon": 0.6495,
    "sign": 1.0,
}

# Sign words with a near miss each: what a careless reader (or a perceptual trap) confuses them with.
SIGN_WORDS: tuple[tuple[str, str], ...] = (
    ("EXIT", "EDIT"),
    ("OPEN", "OVEN"),
    ("STOP", "SHOP"),
    ("SALE", "SAFE"),
    ("CAFE", "CAKE"),
    ("GATE 7", "GATE 1"),
    ("ROOM 18", "ROOM 16"),
    ("BUS 42", "BUS 47"),
    ("LANE 3", "LANE 8"),
    ("PUSH", "PUSS"),
    ("HALL B", "HALL 8"),
    ("TAXI", "TAX1"),
)

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
OPPOSITE: dict[str, str] = {"left": "right", "right": "left", "up": "down", "down": "up"}

IMAGE_SIZES: tuple[tuple[int, int], ...] = ((224, 224), (320, 240), (256, 256), (336, 252))

TASKS: tuple[str, ...] = TASK_TYPES
# Share of each sample type; looked up in the order of schema.SAMPLE_TYPES.
SAMPLE_TYPE_SHARE: dict[str, float] = {
    "positive": 0.40,
    "outcome_negative": 0.15,
    "trap_perceptual": 0.15,
    "trap_logical": 0.15,
    "self_correction": 0.15,
}
SAMPLING_WEIGHTS: dict[str, float] = {
    "positive": 1.0,
    "outcome_negative": 1.0,
    "trap_perceptual": 1.5,
    "trap_logical": 1.5,
    "self_correction": 1.2,
}

# Trajectory length targets (before self-correction / repetition extras): mean close to 8, from 2 to 15.
LENGTHS: tuple[int, ...] = tuple(range(2, 16))
LENGTH_WEIGHTS: tuple[int, ...] = (3, 4, 6, 8, 10, 12, 12, 11, 10, 8, 6, 5, 3, 2)

# Chance that a sample gets three equal operations in a row, and a repeated SEGMENT_OBJECT_AT point.
P_TRIPLE_ZOOM = 0.08
P_REPEAT_SEGMENT = 0.07

SELF_CORRECTION_OPENERS: tuple[str, ...] = (
    "Wait, that doesn't seem right.",
    "Actually, this is the wrong region.",
    "Wait, I looked at the wrong place.",
    "Hmm, that doesn't seem right.",
    "Correction: that was not the object I wanted.",
)
