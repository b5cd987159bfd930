-- returns_by_reason: per SKU and reason. return_rate = units returned / units sold of the SKU
-- (all non-cancelled order lines).
WITH sold AS (
    SELECT d.product_id, SUM(d.quantity) AS units_sold
    FROM order_details AS d
    JOIN orders AS o ON o.order_id = d.order_id
    WHERE o.status <> 'CANCELLED'
    GROUP BY d.product_id
)
SELECT
    p.sku,
    r.reason,
    COUNT(*)                                                  AS return_count,
    SUM(r.quantity)                                           AS units_returned,
    CAST(SUM(r.refund_amount) AS DECIMAL(18, 2))              AS refund_amount,
    MAX(s.units_sold)                                         AS units_sold,
    CAST(SUM(r.quantity) / MAX(s.units_sold) AS DECIMAL(10, 4)) AS return_rate
FROM returns AS r
JOIN products AS p ON p.product_id = r.product_id
LEFT JOIN sold AS s ON s.product_id = r.product_id
GROUP BY p.sku, r.reason
