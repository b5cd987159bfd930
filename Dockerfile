# The official Airflow image + Java 17 + this package's pinned requirements + the cached Spark jars.
# Built by docker-compose.yaml; tests/test_docker_compose.py checks it stays in step with requirements.txt.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
    && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17 \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17
# mount points of the compose file's named volumes: created here so the volumes inherit the owner
RUN mkdir -p /opt/airflow/auth /opt/lakehouse \
    && chown airflow:root /opt/airflow/auth /opt/lakehouse && chmod g+rwX /opt/airflow/auth /opt/lakehouse

USER airflow
# the same lock file as the local virtualenv (apache-airflow is pinned in it to the image's version)
COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

# Resolve the Delta Lake and PostgreSQL JDBC jars once, at build time, into the image's ivy cache
# (the coordinates are scripts/spark_packages.sh's: one source of truth).
COPY --chown=airflow:root scripts/spark_packages.sh /opt/airflow/scripts/spark_packages.sh
ENV LAKEHOUSE_IVY_DIR=/opt/airflow/.cache/ivy
RUN ROOT=/opt/airflow source /opt/airflow/scripts/spark_packages.sh \
    && python -c "import os; from pyspark.sql import SparkSession; SparkSession.builder.master('local[1]').config('spark.jars.packages', os.environ['LAKEHOUSE_SPARK_PACKAGES']).config('spark.jars.ivy', os.environ['LAKEHOUSE_IVY_DIR']).getOrCreate().stop()"

# the package itself (the compose file also bind-mounts these for live editing)
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root include /opt/airflow/include
COPY --chown=airflow:root lakehouse_contract /opt/airflow/lakehouse_contract
COPY --chown=airflow:root spark_jobs /opt/airflow/spark_jobs
COPY --chown=airflow:root seed /opt/airflow/seed
COPY --chown=airflow:root scripts /opt/airflow/scripts
ENV PYTHONPATH=/opt/airflow:/opt/airflow/plugins
