"""Helpers of the test suites (imported as ``support.<module>``)."""
