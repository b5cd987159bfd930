-- Added after the load, NOT VALID (see source_schema.sql).
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
