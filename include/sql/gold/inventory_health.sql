-- inventory_health: per product x warehouse, as of the run's logical date (view run_context).
-- Threshold = latest stock_levels row for the pair, else the product's reorder_level.
-- Velocity = units shipped from the warehouse in the trailing 30 days / 30 (cancelled orders excluded).
WITH on_hand AS (
    SELECT product_id, warehouse_id, SUM(quantity_available) AS quantity_on_hand
    FROM inventory
    GROUP BY product_id, warehouse_id
),
threshold AS (
    SELECT product_id, warehouse_id, reorder_threshold, max_stock
    FROM (
        SELECT s.*, ROW_NUMBER() OVER (
            PARTITION BY product_id, warehouse_id ORDER BY recorded_at DESC, stock_level_id DESC) AS rn
        FROM stock_levels AS s
    ) AS ranked
    WHERE rn = 1
),
velocity AS (
    SELECT d.product_id, sh.warehouse_id, SUM(d.quantity) AS units_30d
    FROM order_details AS d
    JOIN orders AS o ON o.order_id = d.order_id
    JOIN shipments AS sh ON sh.order_id = d.order_id
    CROSS JOIN run_context AS rc
    WHERE o.status <> 'CANCELLED'
      AND o.order_date > date_sub(rc.logical_date, 30)
      AND o.order_date <= rc.logical_date
    GROUP BY d.product_id, sh.warehouse_id
)
SELECT
    h.product_id,
    p.sku,
    p.category,
    h.warehouse_id,
    h.quantity_on_hand,
    COALESCE(t.reorder_threshold, p.reorder_level)                         AS reorder_threshold,
    t.max_stock,
    h.quantity_on_hand < COALESCE(t.reorder_threshold, p.reorder_level)    AS below_reorder,
    CAST(COALESCE(v.units_30d, 0) / 30.0 AS DECIMAL(12, 4))                AS units_per_day_30d,
    -- from the 30-day total, not the rounded daily rate (1/30 = 0.033333 would skew the cover)
    CASE WHEN v.units_30d > 0
         THEN CAST(GREATEST(h.quantity_on_hand, 0) * 30 / v.units_30d AS DECIMAL(12, 1)) END AS days_of_cover,
    rc.logical_date                                                        AS as_of_date
FROM on_hand AS h
CROSS JOIN run_context AS rc
JOIN products AS p ON p.product_id = h.product_id
LEFT JOIN threshold AS t ON t.product_id = h.product_id AND t.warehouse_id = h.warehouse_id
LEFT JOIN velocity AS v ON v.product_id = h.product_id AND v.warehouse_id = h.warehouse_id
