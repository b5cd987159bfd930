"""The contract between the Airflow side and the Spark side (stdlib only: no pyspark, no airflow).

Both sides import names, layouts, secret references and job specs from here and nowhere else:

- :mod:`.naming`   table and control-table names of every layer, and where a name is stored;
- :mod:`.layout`   landing files and step results under the lakehouse root;
- :mod:`.secrets`  how secrets travel by reference (environment variables, secret-scope keys);
- :mod:`.specs`    one typed spec per job, serialised as one JSON document;
- :mod:`.run`      the run context only Airflow knows at run time, as command-line flags;
- :mod:`.results`  the step result each job records and the typed outcome the next job reads;
- :mod:`.audit`    the audit row (the Spark schema is derived from it);
- :mod:`.checks`   the source checks (SQL and messages as data), run by either side;
- :mod:`.runtime`  where the jobs' Spark is (the Spark Connect variable) and their Databricks libraries.

It ships in the Databricks wheel next to ``spark_jobs`` and is importable by the plugins.
"""
