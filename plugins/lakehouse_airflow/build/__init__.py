"""Specs -> Airflow objects: the operator factory (the one backend switch), the pipeline and
maintenance DAGs, trigger params and data intervals."""
