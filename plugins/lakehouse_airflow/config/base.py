"""What every config model shares: strict, frozen pydantic models and readable errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class PipelineConfigError(ValueError):
    """A config file is unreadable or invalid; the message names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_error(err: ValidationError) -> str:
    """``field.path: message; ...`` (an unknown key says so)."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)
