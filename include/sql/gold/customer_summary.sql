-- customer_summary: per customer, identified only by the keyed hash customer_key (no raw PII).
-- Cancelled orders do not count.
WITH o AS (
    SELECT customer_id,
           COUNT(*)          AS orders,
           SUM(total_amount) AS revenue,
           MIN(order_date)   AS first_order_date,
           MAX(order_date)   AS last_order_date
    FROM orders
    WHERE status <> 'CANCELLED'
    GROUP BY customer_id
),
r AS (
    SELECT o.customer_id, COUNT(*) AS returns, SUM(r.refund_amount) AS refunded
    FROM returns AS r
    JOIN orders AS o ON o.order_id = r.order_id
    GROUP BY o.customer_id
)
SELECT
    c.customer_key,
    c.city,
    c.country,
    COALESCE(o.orders, 0)                               AS orders,
    CAST(COALESCE(o.revenue, 0) AS DECIMAL(18, 2))      AS revenue,
    COALESCE(r.returns, 0)                              AS returns,
    CAST(COALESCE(r.refunded, 0) AS DECIMAL(18, 2))     AS refunded,
    o.first_order_date,
    o.last_order_date
FROM customers AS c
LEFT JOIN o ON o.customer_id = c.customer_id
LEFT JOIN r ON r.customer_id = c.customer_id
