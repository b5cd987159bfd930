-- device_analytics: per device type and OS -- sessions, devices and engagement (devices missing from
-- the device snapshot count as type 'unknown').
SELECT
    COALESCE(d.device_type, 'unknown')                           AS device_type,
    COALESCE(d.os, 'unknown')                                    AS os,
    COUNT(*)                                                     AS sessions,
    COUNT(DISTINCT m.device_id)                                  AS unique_devices,
    CAST(SUM(m.watch_seconds) / 3600.0 AS DECIMAL(18, 2))        AS watch_hours,
    CAST(AVG(m.watch_seconds) / 60.0 AS DECIMAL(12, 2))          AS avg_watch_minutes,
    CAST(SUM(CASE WHEN m.completed_flag THEN 1 ELSE 0 END) / COUNT(*) AS DECIMAL(9, 6)) AS completion_rate
FROM metrics AS m
LEFT JOIN devices AS d ON d.device_id = m.device_id
GROUP BY COALESCE(d.device_type, 'unknown'), COALESCE(d.os, 'unknown')
