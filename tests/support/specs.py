"""Read the typed spec and run flags back out of an operator's command line or a payload."""

from __future__ import annotations

from collections.abc import Sequence

from lakehouse_contract.specs import SPEC_FLAG, JobSpec, parse_spec


def flags(args: Sequence[str]) -> dict[str, str]:
    """``--flag value`` pairs of a command line (the spec's JSON is one value)."""
    return {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}


def spec_of(args: Sequence[str]) -> JobSpec:
    """The job spec a command line carries."""
    return parse_spec(flags(args)[SPEC_FLAG])
