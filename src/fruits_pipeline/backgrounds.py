"""Which no-fruit background photos serve which purpose: one fixed rule for every user.

The unknown-photo calibration, its check and the compositing augmentation must never
share a photo, or the calibration would be measured on what training has seen. The part
is a hash of the file name, so it is the same on every machine and run, and adding
photos never moves the existing ones.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Literal

Role = Literal["calibration", "check", "augmentation"]


def background_role(path: str) -> Role:
    """``calibration`` (15%), ``check`` (15%) or ``augmentation`` (70%) for a file."""
    name = PurePosixPath(path).name
    bucket = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 100
    if bucket < 15:
        return "calibration"
    if bucket < 30:
        return "check"
    return "augmentation"
