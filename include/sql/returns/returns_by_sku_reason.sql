-- returns_by_sku_reason: per SKU and return reason over both channels (silver's valid rows).
SELECT
    sku,
    return_reason,
    COUNT(*)                                  AS return_count,
    SUM(units)                                AS units,
    CAST(SUM(amount_filled) AS DECIMAL(18, 2)) AS total_amount
FROM (
    SELECT sku, return_reason, units, amount_filled FROM returns_web
    UNION ALL
    SELECT sku, return_reason, units, amount_filled FROM returns_store
) AS r
GROUP BY sku, return_reason
