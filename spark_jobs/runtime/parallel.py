"""Independent writes of one job, side by side.

A silver run ends with two commits to two different tables (its quarantine and silver itself),
after its DQ results. Each is a small Spark job whose cost is mostly fixed -- planning, reading the
Delta log, scheduling, writing the commit -- so the driver is idle for much of it; run together
they cost about as much as the slower one. Spark schedules jobs from several threads of one session
(Spark Connect and classic sessions alike); a job that holds every core delays the other one's
tasks, it does not block it for good.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any


def run_all(actions: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every action in its own thread and wait for all of them; their results, in order. When
    some fail, the first failure (in the order given) is raised once every action has ended, so no
    write is still in flight behind the error."""
    with ThreadPoolExecutor(max_workers=max(1, len(actions)), thread_name_prefix="commit") as pool:
        futures = [pool.submit(action) for action in actions]
        wait(futures)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]
