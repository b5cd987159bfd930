"""Commit marks (pure parts): what a mark holds, how it reads back, what it never reveals."""

from __future__ import annotations

import json

import pytest

from spark_jobs.jobs import silver
from spark_jobs.storage import commit_marks


def test_a_mark_reads_back_and_anything_else_reads_as_no_mark() -> None:
    mark = {"inputs": "abc", "built_by": "scheduled__2026-11-21"}
    assert commit_marks._parse(commit_marks.mark_text(mark)) == mark
    for other in (None, "", "not json", json.dumps({"other": 1}), json.dumps({"lakehouse": "x"})):
        assert commit_marks._parse(other) == {}


def test_digests_follow_their_inputs_and_the_key_is_not_derivable() -> None:
    assert commit_marks.digest({"a": "1", "b": "2"}) == commit_marks.digest({"b": "2", "a": "1"})
    assert commit_marks.digest({"a": "1"}) != commit_marks.digest({"a": "2"})
    key = b"k" * 32
    assert commit_marks.key_digest(key) != commit_marks.key_digest(b"j" * 32)
    assert key.hex() not in commit_marks.key_digest(key) and commit_marks.key_digest(b"") == ""
    assert commit_marks.code_digest(silver, commit_marks) != commit_marks.code_digest(silver)
    assert commit_marks.code_digest(json) is not None


def test_a_module_without_a_source_file_means_no_code_digest() -> None:
    import sys

    assert commit_marks.code_digest(sys) is None  # built in: nothing is ever judged unchanged


@pytest.mark.parametrize(
    ("sql", "per_run"),
    [
        ("SELECT * FROM orders CROSS JOIN run_context AS rc", True),
        ("SELECT current_date() AS d FROM orders", True),
        ("SELECT CURRENT_TIMESTAMP AS t FROM orders", True),
        ("SELECT rand() AS r FROM orders", True),
        ("SELECT uuid() AS id FROM orders", True),
        ("SELECT brand, random_sku, known_at, order_date FROM orders", False),
        ("SELECT o.order_date, sum(d.quantity) FROM order_details d JOIN orders o USING (order_id) GROUP BY 1", False),
    ],
)
def test_gold_sql_reading_the_run_or_the_clock_is_recomputed_every_run(sql: str, per_run: bool) -> None:
    from spark_jobs.jobs.gold import PER_RUN_SQL

    assert bool(PER_RUN_SQL.search(sql)) is per_run
