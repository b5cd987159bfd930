"""What every config model shares: strict, frozen pydantic models and readable errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class PipelineConfigError(ValueError):
    """A config file is unreadable or invalid; the message names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SOURCE_KINDS = ("jdbc", "files")


def describe_error(err: ValidationError) -> str:
    """``field.path: message; ...`` (an unknown key says so)."""
    lines = []
    for e in err.errors():
        parts = list(e["loc"])
        if parts[:1] == ["source"] and len(parts) > 2 and parts[1] in SOURCE_KINDS:
            del parts[1]  # the tagged union's tag (source.kind), not a key of the file
        loc = ".".join(str(p) for p in parts) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)
