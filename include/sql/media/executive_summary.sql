-- executive_summary: one row per day -- delivery (events, sessions, devices, errors, volume, bitrate)
-- beside engagement (sessions with metrics, watch hours, completions), from silver's valid rows.
WITH d AS (
    SELECT event_date                                   AS day,
           COUNT(*)                                     AS events,
           COUNT(DISTINCT session_id)                   AS sessions,
           COUNT(DISTINCT device_id)                    AS active_devices,
           SUM(CASE WHEN is_error THEN 1 ELSE 0 END)    AS errors,
           SUM(bytes_delivered)                         AS bytes_delivered,
           AVG(bitrate_kbps)                            AS avg_bitrate_kbps
    FROM delivery
    GROUP BY event_date
),
m AS (
    SELECT metric_date                                        AS day,
           COUNT(*)                                           AS engaged_sessions,
           SUM(watch_seconds)                                 AS watch_seconds,
           SUM(CASE WHEN completed_flag THEN 1 ELSE 0 END)    AS completions
    FROM metrics
    GROUP BY metric_date
)
SELECT
    COALESCE(d.day, m.day)                                              AS day,
    COALESCE(d.events, 0)                                               AS events,
    COALESCE(d.sessions, 0)                                             AS sessions,
    COALESCE(d.active_devices, 0)                                       AS active_devices,
    CAST(d.errors / d.events AS DECIMAL(9, 6))                          AS error_rate,
    CAST(COALESCE(d.bytes_delivered, 0) / 1e9 AS DECIMAL(18, 3))        AS gb_delivered,
    CAST(d.avg_bitrate_kbps AS DECIMAL(12, 2))                          AS avg_bitrate_kbps,
    COALESCE(m.engaged_sessions, 0)                                     AS engaged_sessions,
    CAST(COALESCE(m.watch_seconds, 0) / 3600.0 AS DECIMAL(18, 2))       AS watch_hours,
    CAST(m.completions / m.engaged_sessions AS DECIMAL(9, 6))           AS completion_rate
FROM d FULL OUTER JOIN m ON d.day = m.day
