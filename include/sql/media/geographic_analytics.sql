-- geographic_analytics: per country and region -- reach, volume and quality of delivery (events whose
-- place is unknown count under 'unknown').
SELECT
    COALESCE(g.country, 'unknown')                               AS country,
    COALESCE(g.region, 'unknown')                                AS region,
    COUNT(DISTINCT e.session_id)                                 AS sessions,
    COUNT(DISTINCT e.device_id)                                  AS unique_devices,
    COUNT(*)                                                     AS events,
    CAST(SUM(e.bytes_delivered) / 1e9 AS DECIMAL(18, 3))         AS gb_delivered,
    CAST(AVG(e.bitrate_kbps) AS DECIMAL(12, 2))                  AS avg_bitrate_kbps,
    CAST(SUM(CASE WHEN e.is_error THEN 1 ELSE 0 END) / COUNT(*) AS DECIMAL(9, 6)) AS error_rate
FROM delivery AS e
LEFT JOIN geo AS g ON g.geo_id = e.geo_id
GROUP BY COALESCE(g.country, 'unknown'), COALESCE(g.region, 'unknown')
