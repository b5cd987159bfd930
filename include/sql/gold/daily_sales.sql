-- daily_sales: revenue, units and orders per order day and product category.
-- Cancelled orders are not sales. Revenue = quantity * unit_price * (1 - discount), per line.
SELECT
    o.order_date                                                          AS sales_date,
    p.category                                                            AS category,
    CAST(SUM(d.quantity * d.unit_price * (1 - d.discount)) AS DECIMAL(18, 2)) AS revenue,
    SUM(d.quantity)                                                       AS units,
    COUNT(DISTINCT o.order_id)                                            AS orders
FROM order_details AS d
JOIN orders AS o ON o.order_id = d.order_id
JOIN products AS p ON p.product_id = d.product_id
WHERE o.status <> 'CANCELLED'
GROUP BY o.order_date, p.category
