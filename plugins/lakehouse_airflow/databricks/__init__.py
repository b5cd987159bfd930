"""The Databricks backend: runs/submit payloads, the submit operator, deploy, native job export."""
