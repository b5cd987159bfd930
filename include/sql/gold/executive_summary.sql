-- executive_summary: one row of KPIs per day (order day for sales, return day for returns).
-- stock_outs (product x warehouse pairs with nothing on hand) and dq_score (mean silver
-- data-quality score of this run) are snapshots taken by this run, repeated on every row.
WITH sales AS (
    SELECT o.order_date                                  AS day,
           COUNT(DISTINCT o.order_id)                    AS orders,
           SUM(d.quantity * d.unit_price * (1 - d.discount)) AS revenue,
           SUM(d.quantity)                               AS units_sold
    FROM orders AS o
    JOIN order_details AS d ON d.order_id = o.order_id
    WHERE o.status <> 'CANCELLED'
    GROUP BY o.order_date
),
rets AS (
    SELECT return_date AS day, COUNT(*) AS returns, SUM(quantity) AS units_returned
    FROM returns
    GROUP BY return_date
),
snapshot AS (
    SELECT COUNT(*) AS stock_outs
    FROM (SELECT product_id, warehouse_id, SUM(quantity_available) AS q
          FROM inventory GROUP BY product_id, warehouse_id) AS pairs
    WHERE q <= 0
),
dq AS (
    SELECT CAST(AVG(dq_score) AS DECIMAL(6, 4)) AS dq_score
    FROM (SELECT DISTINCT table_name, dq_score FROM dq_results) AS per_table
)
SELECT
    COALESCE(s.day, r.day)                                     AS day,
    COALESCE(s.orders, 0)                                      AS orders,
    CAST(COALESCE(s.revenue, 0) AS DECIMAL(18, 2))             AS revenue,
    CAST(s.revenue / s.orders AS DECIMAL(18, 2))               AS average_order_value,
    COALESCE(s.units_sold, 0)                                  AS units_sold,
    COALESCE(r.returns, 0)                                     AS returns,
    COALESCE(r.units_returned, 0)                              AS units_returned,
    CAST(r.units_returned / s.units_sold AS DECIMAL(10, 4))    AS return_rate,
    snapshot.stock_outs,
    dq.dq_score
FROM sales AS s
FULL OUTER JOIN rets AS r ON r.day = s.day
CROSS JOIN snapshot
CROSS JOIN dq
