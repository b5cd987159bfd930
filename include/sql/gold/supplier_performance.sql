-- supplier_performance: shipments that carried at least one of the supplier's products.
-- Lead time = order -> delivery in days; on time = delivered within 7 days of the order
-- (undelivered shipments do not count towards the rate).
WITH supplier_orders AS (
    SELECT DISTINCT p.supplier_id, d.order_id
    FROM order_details AS d
    JOIN products AS p ON p.product_id = d.product_id
)
SELECT
    s.supplier_id,
    s.supplier_name,
    s.country,
    COUNT(sh.shipment_id)                                                     AS shipments,
    CAST(AVG(datediff(sh.shipment_date, o.order_date)) AS DECIMAL(8, 2))      AS avg_days_to_ship,
    CAST(AVG(datediff(sh.delivery_date, sh.shipment_date)) AS DECIMAL(8, 2))  AS avg_days_in_transit,
    CAST(AVG(datediff(sh.delivery_date, o.order_date)) AS DECIMAL(8, 2))      AS avg_lead_time_days,
    CAST(AVG(CASE WHEN sh.delivery_date IS NULL THEN NULL
                  WHEN datediff(sh.delivery_date, o.order_date) <= 7 THEN 1.0 ELSE 0.0 END)
         AS DECIMAL(6, 4))                                                    AS on_time_rate
FROM suppliers AS s
LEFT JOIN supplier_orders AS so ON so.supplier_id = s.supplier_id
LEFT JOIN shipments AS sh ON sh.order_id = so.order_id
LEFT JOIN orders AS o ON o.order_id = sh.order_id
GROUP BY s.supplier_id, s.supplier_name, s.country
