"""Pure DataFrame -> DataFrame transforms and decisions (no reads, no writes, no sessions)."""
