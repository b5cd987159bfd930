-- ETL monitor control plane. Idempotent: run on first use by every writer (under an advisory lock).
-- __SCHEMA__ is replaced by the configured schema name (a validated lower-case identifier).
CREATE SCHEMA IF NOT EXISTS __SCHEMA__;

CREATE TABLE IF NOT EXISTS __SCHEMA__.process_registry (
    workflow_id    text PRIMARY KEY,            -- the DAG id
    project_code   text NOT NULL,
    process_load   text NOT NULL,
    process_name   text NOT NULL,
    owner          text NOT NULL,
    frequency      text NOT NULL,
    schedule       text,
    timezone       text,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.task_catalogue (
    workflow_id  text NOT NULL REFERENCES __SCHEMA__.process_registry (workflow_id),
    task_id      text NOT NULL,
    task_name    text NOT NULL,
    sequence_id  integer NOT NULL,
    stage        integer NOT NULL,                -- 1 bronze, 2 silver, 3 gold
    layer        text NOT NULL,
    table_name   text NOT NULL,
    step         text,
    mandatory    boolean NOT NULL,
    sla_minutes  integer NOT NULL,
    active       boolean NOT NULL DEFAULT true,   -- false: no longer in the pipeline (history kept)
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, task_id)
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.process_runs (
    workflow_id       text NOT NULL,
    run_id            text NOT NULL,
    processing_date   date NOT NULL,
    processing_mode   text NOT NULL CHECK (processing_mode IN ('LIVE', 'HISTORIC', 'BULK')),
    run_type          text,
    state             text NOT NULL DEFAULT 'RUNNING',   -- RUNNING | SUCCESS | FAILED
    started_at        timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    deadline_minutes  integer,
    deadline_breached boolean NOT NULL DEFAULT false,
    PRIMARY KEY (workflow_id, run_id)
);

-- one row per run x task, mutable: NQUE -> DONE, NQUE -> FAIL -> RQUE -> DONE (SKIP: not selected)
CREATE TABLE IF NOT EXISTS __SCHEMA__.processing_steps (
    workflow_id      text NOT NULL,
    run_id           text NOT NULL,
    task_id          text NOT NULL,
    processing_date  date NOT NULL,
    task_name        text NOT NULL,      -- snapshot of the catalogue when the run started
    sequence_id      integer NOT NULL,
    stage            integer NOT NULL,
    layer            text NOT NULL,
    table_name       text NOT NULL,
    mandatory        boolean NOT NULL,
    sla_minutes      integer NOT NULL,
    status           text NOT NULL DEFAULT 'NQUE' CHECK (status IN ('NQUE', 'RQUE', 'DONE', 'FAIL', 'SKIP')),
    attempt_count    integer NOT NULL DEFAULT 0,
    start_time       timestamptz,
    end_time         timestamptz,
    rows_read        bigint,
    rows_written     bigint,
    rows_quarantined bigint,
    dq_score         double precision,
    message          text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, run_id, task_id)
);

-- every listener event as received, never updated
CREATE TABLE IF NOT EXISTS __SCHEMA__.run_receipts (
    receipt_id   bigserial PRIMARY KEY,
    workflow_id  text NOT NULL,
    run_id       text NOT NULL,
    task_id      text,                 -- NULL: a run-level event
    try_number   integer,
    event        text NOT NULL,
    state        text,                 -- the Airflow state reported
    step_status  text,                 -- the processing step's status after the event
    hostname     text,
    message      text,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.parameter_registry (
    workflow_id  text NOT NULL,
    param_name   text NOT NULL,
    param_type   text NOT NULL CHECK (param_type IN ('DELTA_DATE', 'DELTA_ID', 'FLAG', 'SYSTEM')),
    table_name   text,
    task_id      text,                 -- DELTA_DATE: DONE of this task advances it to the task's start
    date_value   timestamptz,
    id_value     bigint,
    flag_value   boolean,
    text_value   text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, param_name)
);

-- one row per run, written by the run's summary task (its latest attempt)
CREATE TABLE IF NOT EXISTS __SCHEMA__.run_summary (
    workflow_id       text NOT NULL,
    run_id            text NOT NULL,
    try_number        integer NOT NULL,
    tables_processed  integer NOT NULL,
    tables_succeeded  integer NOT NULL,
    tables_failed     integer NOT NULL,
    gold_failed       integer NOT NULL,
    total_rows        bigint NOT NULL,
    total_seconds     double precision,
    written_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, run_id)
);

-- the restore points of the pipeline's lakehouse (the DR DAG's and the dr CLI's restore_point steps),
-- with the replica that holds a verified copy and the last restore to the point
CREATE TABLE IF NOT EXISTS __SCHEMA__.restore_points (
    workflow_id       text NOT NULL,           -- the pipeline's DAG id
    point_id          text NOT NULL,
    taken_at          timestamptz NOT NULL,
    lakehouse_root    text NOT NULL,
    tables            integer NOT NULL,
    versions          jsonb NOT NULL,          -- schema.table -> Delta version
    taken_by          text NOT NULL,           -- <dag id>/<run id> of the step that took it
    replica_root      text,
    replicated_at     timestamptz,
    rows_verified     bigint,
    restored_at       timestamptz,
    PRIMARY KEY (workflow_id, point_id)
);

CREATE INDEX IF NOT EXISTS processing_steps_by_date ON __SCHEMA__.processing_steps (workflow_id, processing_date);
CREATE INDEX IF NOT EXISTS run_receipts_by_run ON __SCHEMA__.run_receipts (workflow_id, run_id);

-- cross-process dashboard: the latest run of each process per processing date
CREATE OR REPLACE VIEW __SCHEMA__.v_process_status AS
WITH latest AS (
    SELECT DISTINCT ON (workflow_id, processing_date) *
    FROM __SCHEMA__.process_runs
    ORDER BY workflow_id, processing_date, started_at DESC
)
SELECT r.processing_date, p.project_code, p.process_load, r.workflow_id, p.process_name, p.owner, p.frequency,
       r.run_id, r.processing_mode, r.state AS run_state, r.started_at, r.ended_at,
       count(s.task_id) AS tasks,
       count(*) FILTER (WHERE s.status = 'DONE') AS done,
       count(*) FILTER (WHERE s.status = 'FAIL') AS failed,
       count(*) FILTER (WHERE s.status IN ('NQUE', 'RQUE')) AS pending,
       count(*) FILTER (WHERE s.status = 'SKIP') AS skipped,
       CASE WHEN count(*) FILTER (WHERE s.status = 'FAIL') > 0 THEN 'FAILED'
            WHEN count(*) FILTER (WHERE s.status IN ('NQUE', 'RQUE')) > 0 THEN 'IN PROGRESS'
            ELSE 'COMPLETE' END AS process_status,
       r.deadline_breached
FROM latest r
JOIN __SCHEMA__.process_registry p USING (workflow_id)
LEFT JOIN __SCHEMA__.processing_steps s USING (workflow_id, run_id)
GROUP BY r.processing_date, p.project_code, p.process_load, r.workflow_id, p.process_name, p.owner, p.frequency,
         r.run_id, r.processing_mode, r.state, r.started_at, r.ended_at, r.deadline_breached;

-- task counts per status per run and attempt
CREATE OR REPLACE VIEW __SCHEMA__.v_run_summary AS
SELECT workflow_id, run_id, processing_date, attempt_count AS attempt,
       count(*) AS tasks,
       count(*) FILTER (WHERE status = 'NQUE') AS nque,
       count(*) FILTER (WHERE status = 'RQUE') AS rque,
       count(*) FILTER (WHERE status = 'DONE') AS done,
       count(*) FILTER (WHERE status = 'FAIL') AS fail,
       count(*) FILTER (WHERE status = 'SKIP') AS skip,
       sum(rows_written) AS rows_written,
       min(start_time) AS first_start, max(end_time) AS last_end
FROM __SCHEMA__.processing_steps
GROUP BY workflow_id, run_id, processing_date, attempt_count;

CREATE OR REPLACE VIEW __SCHEMA__.v_task_detail AS
SELECT s.*,
       round(extract(epoch FROM (coalesce(s.end_time, now()) - s.start_time))::numeric / 60, 2) AS duration_minutes,
       s.start_time IS NOT NULL
         AND coalesce(s.end_time, now()) - s.start_time > make_interval(mins => s.sla_minutes) AS sla_breached
FROM __SCHEMA__.processing_steps s;

-- failed mandatory tasks and what they hold up: not-DONE tasks of later stages of the same run
CREATE OR REPLACE VIEW __SCHEMA__.v_mandatory_blockers AS
SELECT f.workflow_id, f.run_id, f.processing_date, f.task_id AS blocking_task, f.stage AS blocking_stage,
       f.attempt_count, f.message,
       count(b.task_id) AS blocked_tasks,
       string_agg(b.task_id, ', ' ORDER BY b.sequence_id) AS blocked_task_ids
FROM __SCHEMA__.processing_steps f
LEFT JOIN __SCHEMA__.processing_steps b
  ON b.workflow_id = f.workflow_id AND b.run_id = f.run_id AND b.stage > f.stage AND b.status <> 'DONE'
WHERE f.status = 'FAIL' AND f.mandatory
GROUP BY f.workflow_id, f.run_id, f.processing_date, f.task_id, f.stage, f.attempt_count, f.message;

-- tasks failed and not (yet) re-run successfully, newest first
CREATE OR REPLACE VIEW __SCHEMA__.v_current_failures AS
SELECT workflow_id, run_id, processing_date, task_id, task_name, stage, mandatory, attempt_count,
       start_time, end_time, message
FROM __SCHEMA__.processing_steps
WHERE status = 'FAIL'
ORDER BY end_time DESC NULLS LAST;

CREATE OR REPLACE VIEW __SCHEMA__.v_watermarks AS
SELECT workflow_id, param_name, param_type, table_name, task_id,
       CASE param_type
           WHEN 'DELTA_DATE' THEN to_char(date_value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
           WHEN 'DELTA_ID' THEN id_value::text
           WHEN 'FLAG' THEN CASE WHEN flag_value THEN 'Y' ELSE 'N' END
           ELSE text_value
       END AS "ActiveValue",
       date_value, id_value, flag_value, text_value, updated_at
FROM __SCHEMA__.parameter_registry;
