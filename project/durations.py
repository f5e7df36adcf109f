"""Durations as people write them in settings and commands: `90`, `90s`, `30m`, `2h`, `1d`."""

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in `text`; a bare number is seconds. Raises ValueError for anything else."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    if text[-1] in UNITS:
        return float(text[:-1]) * UNITS[text[-1]]
    return float(text)
