"""The world's colours, to the value (shared/WORLD.md is the contract)."""

# Object colours: caption word -> RGB.
OBJECT_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 100, 240),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 220, 230),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
}

# Background colours: caption word -> RGB.
BACKGROUND_COLORS: dict[str, tuple[int, int, int]] = {
    "black": (12, 12, 14),
    "navy": (18, 24, 70),
    "dark green": (14, 54, 26),
    "gray": (96, 96, 100),
    "maroon": (74, 14, 24),
}

PILLAR_COLOR: tuple[int, int, int] = (150, 150, 160)
PONG_COLOR: tuple[int, int, int] = OBJECT_COLORS["white"]

# Pan stripes: +-12 value around the background colour.
STRIPE_DELTA = 12


def trail_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A painted trail is the object's colour at half value (each channel // 2)."""
    return (rgb[0] // 2, rgb[1] // 2, rgb[2] // 2)
