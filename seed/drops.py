"""What every file-drop generator is asked for: a day of drops under a root, at a scale, from a seed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DropDay:
    root: Path | str  # a folder, or s3a://bucket/prefix (written through the storage connection)
    day: dt.date
    sf: float = 1.0
    seed: int = 42
    files: int = 3  # files per table (or channel) and day

    def size(self, base: int, floor: int = 5) -> int:
        """``base`` rows at SF=1, scaled, never fewer than ``floor``."""
        return max(floor, int(base * self.sf))
