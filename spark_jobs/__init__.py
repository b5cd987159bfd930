"""Everything that runs inside Spark. Never imports airflow: it ships to clusters as a wheel."""
