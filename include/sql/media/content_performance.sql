-- content_performance: per asset, the engagement of its sessions and the asset's catalogue attributes
-- (an asset missing from the catalogue, or quarantined there, is kept with NULL attributes).
SELECT
    m.asset_id,
    a.title,
    a.genre_name                                                 AS genre,
    a.content_type,
    COUNT(*)                                                     AS sessions,
    COUNT(DISTINCT m.device_id)                                  AS unique_devices,
    CAST(SUM(m.watch_seconds) / 3600.0 AS DECIMAL(18, 2))        AS watch_hours,
    CAST(SUM(CASE WHEN m.completed_flag THEN 1 ELSE 0 END) / COUNT(*) AS DECIMAL(9, 6)) AS completion_rate,
    SUM(m.likes)                                                 AS likes,
    SUM(m.shares)                                                AS shares
FROM metrics AS m
LEFT JOIN assets AS a ON a.asset_id = m.asset_id
GROUP BY m.asset_id, a.title, a.genre_name, a.content_type
