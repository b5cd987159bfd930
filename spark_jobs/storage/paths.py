"""Where a job's path lives on the machine running it.

Databricks compute mounts Unity Catalog volumes at ``/Volumes``; jobs use those paths as plain
file-system paths. The local Databricks emulator backs ``/Volumes`` with a directory it names in
``LAKEHOUSE_VOLUMES_MOUNT`` (as the runtime's FUSE mount would); everywhere else paths are unchanged.
"""

from __future__ import annotations

import os

VOLUMES_MOUNT_ENV = "LAKEHOUSE_VOLUMES_MOUNT"


def local_path(path: str) -> str:
    mount = os.environ.get(VOLUMES_MOUNT_ENV, "").strip()
    if mount and path.startswith("/Volumes/"):
        return mount.rstrip("/") + path
    return path
