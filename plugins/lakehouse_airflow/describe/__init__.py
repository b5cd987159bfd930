"""Config -> typed task specs (pure data): ``tasks`` (the task kinds), ``pipeline`` (a pipeline's
DAG), ``maintenance`` (its maintenance DAG). No Airflow objects are made here."""
