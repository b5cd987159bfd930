"""A local stand-in for the part of the Databricks REST API this project uses (Jobs runs, Files,
Secrets), executing submitted ``spark_python_task`` runs on the local Spark. Test/dev tooling only:
the real service cannot be reached from a laptop or CI."""
