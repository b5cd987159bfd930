"""Static validation of docker-compose.yaml and the Dockerfile (no Docker engine here).

What `docker compose config` and a first `up` would catch: the YAML parses with its anchors, every
variable is defined or defaulted, every bind-mounted file and named volume exists, dependencies
point at real services with the health/one-shot semantics their conditions need, healthchecks probe
the ports the services really use, and the image installs the same lock file as the virtualenv."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from lakehouse_airflow.config import load_pipeline
from support.env import ROOT

COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
VAR = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z][A-Z0-9_]*=", line)
    )
    return {k: v.split("#")[0].strip() for k, v in pairs}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} against an .env; $$ escapes."""

    def sub(m: re.Match) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        if name in env and (env[name] or op not in (":-", ":?")):
            return env[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"${{{name}}} is not defined in .env.example and has no default")

    return VAR.sub(sub, text).replace("$$", "$")


def test_services_follow_the_official_airflow_layout(compose: dict) -> None:
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"airflow-init", "airflow-db", "source-db", "source-seed", "spark-connect"} <= set(
        services
    )
    assert {"spark-master", "spark-worker-1", "spark-worker-2"} <= set(services)
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["build"] == "." and svc["image"], name
        assert svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    commands = {services[n]["command"] for n in AIRFLOW_SERVICES}
    assert commands == {"api-server", "scheduler", "dag-processor", "triggerer"}
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    # the Spark standalone cluster is opt-in, shaped like scripts/localcluster.sh: a master, two workers
    workers = [services[f"spark-worker-{n}"] for n in (1, 2)]
    assert all(s["profiles"] == ["spark-standalone"] for s in [services["spark-master"], *workers])
    assert workers[0]["command"] == workers[1]["command"]
    assert "Worker --cores ${SPARK_WORKER_CORES:-1}" in workers[0]["command"][-1]
    assert "spark://spark-master:7077" in workers[0]["command"][-1]


def test_every_variable_is_defined_or_defaulted_and_env_example_has_placeholders_only(
    compose: dict, env_example: dict[str, str]
) -> None:
    text = COMPOSE.read_text()
    rendered = yaml.safe_load(interpolate(text, env_example))  # raises on an undefined required variable
    used = {m["name"] for m in VAR.finditer(text)}
    assert set(env_example) <= used, f".env.example defines variables compose never uses: {set(env_example) - used}"
    for name, value in env_example.items():
        if any(word in name for word in ("PASSWORD", "SECRET", "KEY")):
            assert value.startswith("<") and value.endswith(">"), f"{name} must be a placeholder, not a value"
    # the connections are valid Airflow JSON connections once interpolated
    env = rendered["services"]["airflow-scheduler"]["environment"]
    for name in ("AIRFLOW_CONN_PII_HASH_KEY", "AIRFLOW_CONN_SPARK_LOCAL"):
        assert "conn_type" in json.loads(env[name])


def test_connections_cover_the_pipeline_config(compose: dict) -> None:
    cfg = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
    env = compose["services"]["airflow-scheduler"]["environment"]
    for conn_id in (cfg.source.conn_id, cfg.spark.conn_id, cfg.privacy.key_conn_id, cfg.monitor.conn_id):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in env, conn_id
    monitor_db = compose["services"]["airflow-db"]["environment"]["POSTGRES_DB"]
    assert env["AIRFLOW_CONN_LAKEHOUSE_MONITOR"].endswith(f"@airflow-db:5432/{monitor_db}")
    source = compose["services"]["source-db"]["environment"]
    assert env["AIRFLOW_CONN_INVENTORY_SOURCE"].endswith(f"@source-db:5432/{source['POSTGRES_DB']}")
    assert source["POSTGRES_DB"] == cfg.source.database
    assert env["LAKEHOUSE_PIPELINES_DIR"] == "/opt/airflow/include/pipelines"
    # each task reaches the API server's execution API by its service name
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_the_source_database_runs_with_logical_decoding(compose: dict) -> None:
    """cadence: cdc tables read the source's logical replication log (pgoutput slots)."""
    command = compose["services"]["source-db"]["command"]
    assert command[0] == "postgres" and "wal_level=logical" in command


def test_mounts_exist_and_named_volumes_are_declared(compose: dict) -> None:
    declared = set(compose["volumes"])
    for name, svc in compose["services"].items():
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def test_dependencies_are_coherent(compose: dict) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            target = services[dep]
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dep} to be healthy but it has no healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dep} is waited on to complete: it must be one-shot"
            if "profiles" in target:
                assert svc.get("profiles") == target["profiles"], f"{name} needs {dep}, which is opt-in"
    # no cycles
    graph = {n: set(s.get("depends_on") or {}) for n, s in services.items()}
    while graph:
        leaves = {n for n, deps in graph.items() if not deps & set(graph)}
        assert leaves, f"dependency cycle among {sorted(graph)}"
        graph = {n: d for n, d in graph.items() if n not in leaves}
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    sched = services["airflow-scheduler"]["depends_on"]
    assert sched["source-seed"]["condition"] == "service_completed_successfully"
    assert sched["spark-connect"]["condition"] == "service_healthy"


def test_healthchecks_probe_the_ports_the_services_use(compose: dict) -> None:
    services = compose["services"]
    for name, svc in services.items():
        if "healthcheck" in svc:
            assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "localhost:8080" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    sched = services["airflow-scheduler"]
    assert "localhost:8974/health" in " ".join(sched["healthcheck"]["test"])
    assert sched["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    spark = services["spark-connect"]
    port = spark["environment"]["LAKEHOUSE_SPARK_PORT"]
    assert f"/127.0.0.1/{port}" in " ".join(spark["healthcheck"]["test"])
    assert spark["environment"]["LAKEHOUSE_SPARK_REMOTE"].endswith(f"spark-connect:{port}}}")
    assert spark["environment"]["LAKEHOUSE_SPARK_BIND"] == "0.0.0.0"
    for script in ("scripts/localspark.sh", "scripts/spark_packages.sh"):
        assert (ROOT / script).exists()
    assert " run" in spark["command"][-1] and "run)" in (ROOT / "scripts" / "localspark.sh").read_text()


def test_image_installs_the_same_lock_file_java_17_and_the_spark_jars() -> None:
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M))
    assert args["AIRFLOW_VERSION"] == pins["apache-airflow"]
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python\$\{PYTHON_VERSION\}$", text, re.M)
    assert args["PYTHON_VERSION"] == "3.11"
    assert re.search(r"^COPY .*requirements\.txt (\S+)$", text, re.M)
    copied_to = re.search(r"^COPY .*requirements\.txt (\S+)$", text, re.M)[1]
    assert re.search(rf"pip install --no-cache-dir -r {re.escape(copied_to)}$", text, re.M)
    assert "openjdk-17-jre-headless" in text and "JAVA_HOME" in text
    # the jars come from the same coordinates the local scripts use, into the ivy cache the jobs read
    assert "spark_packages.sh" in text and "spark.jars.packages" in text and "LAKEHOUSE_IVY_DIR" in text
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+) \S+$", text, re.M):
        assert (ROOT / source).exists(), f"COPY source {source} does not exist"


def test_the_object_store_profile_serves_the_lakehouse_with_one_key_pair(env_example: dict[str, str]) -> None:
    """`--profile object-store`: SeaweedFS with the .env key pair as its only identity, its bucket
    created once, and the jobs (lakehouse_s3 connection) and the Spark server (S3A's environment
    provider) holding that same pair and pointing at the store's S3 port."""
    rendered = yaml.safe_load(interpolate(COMPOSE.read_text(), env_example))
    services = rendered["services"]
    store, init = services["object-store"], services["object-store-init"]
    assert store["profiles"] == init["profiles"] == ["object-store"]
    assert store["image"] == init["image"] and "seaweedfs" in store["image"]
    port = next(a.split("=", 1)[1] for a in store["command"] if a.startswith("-s3.port="))
    assert "-s3" in store["command"] and f"127.0.0.1:{port}/healthz" in " ".join(store["healthcheck"]["test"])
    (config,) = store["configs"]
    assert f"-s3.config={config['target']}" in store["command"]
    identities = json.loads(rendered["configs"][config["source"]]["content"])["identities"]
    pair = (env_example["S3_ACCESS_KEY"], env_example["S3_SECRET_KEY"])
    assert [(c["accessKey"], c["secretKey"]) for i in identities for c in i["credentials"]] == [pair]
    assert {"Read", "Write", "List"} <= set(identities[0]["actions"])
    assert (
        "s3.bucket.create -name lakehouse" in init["command"][-1] and "-master=object-store:9333" in init["command"][-1]
    )
    assert init["depends_on"]["object-store"]["condition"] == "service_healthy"
    # the jobs' connection: the conn id the pipeline config names, the same pair, the store's S3 port
    cfg = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
    conn = json.loads(
        services["airflow-scheduler"]["environment"][f"AIRFLOW_CONN_{cfg.lakehouse.storage_conn_id.upper()}"]
    )
    assert conn["conn_type"] == "aws" and (conn["login"], conn["password"]) == pair
    assert conn["extra"]["endpoint_url"] == f"http://object-store:{port}"
    # the Spark server: the endpoint as configuration, the pair in its environment (scripts/localspark.sh)
    spark = services["spark-connect"]["environment"]
    assert spark["LAKEHOUSE_S3_ENDPOINT"] == conn["extra"]["endpoint_url"]
    assert (spark["AWS_ACCESS_KEY_ID"], spark["AWS_SECRET_ACCESS_KEY"]) == pair
    assert 'S3_ENDPOINT="${LAKEHOUSE_S3_ENDPOINT:-' in (ROOT / "scripts" / "localspark.sh").read_text()
    assert services["airflow-scheduler"]["environment"]["LAKEHOUSE_ROOT"] == "/opt/lakehouse"  # the default
    assert "object-store" in rendered["volumes"] and "object-store:/data" in store["volumes"]
