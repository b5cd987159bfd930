"""ETL monitor: the control plane of every pipeline run (process registry, task catalogue,
processing steps, run receipts, parameter registry) in PostgreSQL, fed by an Airflow listener."""
