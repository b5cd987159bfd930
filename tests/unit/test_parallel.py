"""``spark_jobs.runtime.parallel.run_all``: silver's quarantine and silver commits side by side."""

from __future__ import annotations

import threading
import time

import pytest

from spark_jobs.runtime.parallel import run_all


def test_results_come_back_in_the_order_given_and_the_actions_overlap() -> None:
    started = threading.Barrier(3, timeout=5)  # each action waits until all three are running

    def action(value: int):
        def run() -> int:
            started.wait()
            return value

        return run

    assert run_all([action(1), action(2), action(3)]) == [1, 2, 3]


def test_a_failure_is_raised_only_once_every_other_action_has_ended() -> None:
    finished: list[str] = []

    def fails() -> None:
        raise ValueError("quarantine MERGE failed")

    def slow_commit() -> str:
        time.sleep(0.3)
        finished.append("silver")
        return "silver"

    with pytest.raises(ValueError, match="quarantine MERGE failed"):
        run_all([fails, slow_commit])
    assert finished == ["silver"]  # no write left in flight behind the error


def test_the_first_failure_in_the_order_given_wins() -> None:
    def late() -> None:
        time.sleep(0.2)
        raise KeyError("first in order")

    def early() -> None:
        raise ValueError("second in order")

    with pytest.raises(KeyError, match="first in order"):
        run_all([late, early])
