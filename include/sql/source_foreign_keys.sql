-- Added after the load, NOT VALID (see source_schema.sql), with the indexes the order keys need.
ALTER TABLE {schema}.products      ADD CONSTRAINT products_supplier_fk      FOREIGN KEY (supplier_id)  REFERENCES {schema}.suppliers (supplier_id)   NOT VALID;
ALTER TABLE {schema}.inventory     ADD CONSTRAINT inventory_product_fk      FOREIGN KEY (product_id)   REFERENCES {schema}.products (product_id)     NOT VALID;
ALTER TABLE {schema}.inventory     ADD CONSTRAINT inventory_warehouse_fk    FOREIGN KEY (warehouse_id) REFERENCES {schema}.warehouses (warehouse_id) NOT VALID;
ALTER TABLE {schema}.orders        ADD CONSTRAINT orders_customer_fk        FOREIGN KEY (customer_id)  REFERENCES {schema}.customers (customer_id)   NOT VALID;
ALTER TABLE {schema}.order_details ADD CONSTRAINT order_details_order_fk    FOREIGN KEY (order_id)     REFERENCES {schema}.orders (order_id)         NOT VALID;
ALTER TABLE {schema}.order_details ADD CONSTRAINT order_details_product_fk  FOREIGN KEY (product_id)   REFERENCES {schema}.products (product_id)     NOT VALID;
ALTER TABLE {schema}.shipments     ADD CONSTRAINT shipments_order_fk        FOREIGN KEY (order_id)     REFERENCES {schema}.orders (order_id)         NOT VALID;
ALTER TABLE {schema}.shipments     ADD CONSTRAINT shipments_warehouse_fk    FOREIGN KEY (warehouse_id) REFERENCES {schema}.warehouses (warehouse_id) NOT VALID;
ALTER TABLE {schema}.returns       ADD CONSTRAINT returns_order_fk          FOREIGN KEY (order_id)     REFERENCES {schema}.orders (order_id)         NOT VALID;
ALTER TABLE {schema}.returns       ADD CONSTRAINT returns_product_fk        FOREIGN KEY (product_id)   REFERENCES {schema}.products (product_id)     NOT VALID;
ALTER TABLE {schema}.stock_levels  ADD CONSTRAINT stock_levels_product_fk   FOREIGN KEY (product_id)   REFERENCES {schema}.products (product_id)     NOT VALID;
ALTER TABLE {schema}.stock_levels  ADD CONSTRAINT stock_levels_warehouse_fk FOREIGN KEY (warehouse_id) REFERENCES {schema}.warehouses (warehouse_id) NOT VALID;
-- The referencing side of the order keys is indexed, as in any OLTP schema: deleting an order
-- checks its lines, shipments and returns, a full scan of each table per deleted order without it
-- (the activity's 5,000 deleted orders at SF=10 ran for over seven minutes and did not finish).
CREATE INDEX order_details_order_idx ON {schema}.order_details (order_id);
CREATE INDEX shipments_order_idx     ON {schema}.shipments (order_id);
CREATE INDEX returns_order_idx       ON {schema}.returns (order_id);
