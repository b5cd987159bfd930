"""What every job runs inside: the run context (spec + run flags), the Spark session, the step
frame that records results, JSON logs, errors, the native run clock."""
