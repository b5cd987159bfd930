"""The Airflow operators of the local backend: spark-submit of a job with its spec, the source
checks, the run summary; and how connections become a job's secret environment."""
