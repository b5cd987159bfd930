-- delivery_quality: per day and CDN -- volume, bitrate, buffering and errors of the player events.
SELECT
    event_date                                                   AS day,
    cdn,
    COUNT(*)                                                     AS events,
    COUNT(DISTINCT session_id)                                   AS sessions,
    CAST(AVG(bitrate_kbps) AS DECIMAL(12, 2))                    AS avg_bitrate_kbps,
    CAST(AVG(buffering_ms) AS DECIMAL(12, 2))                    AS avg_buffering_ms,
    MAX(buffering_ms)                                            AS max_buffering_ms,
    SUM(CASE WHEN is_error THEN 1 ELSE 0 END)                    AS errors,
    CAST(SUM(CASE WHEN is_error THEN 1 ELSE 0 END) / COUNT(*) AS DECIMAL(9, 6)) AS error_rate,
    CAST(SUM(bytes_delivered) / 1e9 AS DECIMAL(18, 3))           AS gb_delivered
FROM delivery
GROUP BY event_date, cdn
