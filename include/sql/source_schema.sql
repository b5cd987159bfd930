-- Source schema of the inventory-management database (the seed contract).
-- {schema} is replaced by the configured schema name (default: tests).
-- Foreign keys are added by the generator *after* loading, as NOT VALID: the legacy rows
-- (including the documented orphans) predate the constraints, new rows are checked.
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE {schema}.suppliers (
    supplier_id     bigint PRIMARY KEY,
    supplier_name   text,
    contact_number  text,
    email           text,
    country         text,
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.products (
    product_id      bigint PRIMARY KEY,
    product_name    text,
    category        text,
    sku             text,
    unit_price      numeric(12,2),
    supplier_id     bigint,
    reorder_level   integer,
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.warehouses (
    warehouse_id    bigint PRIMARY KEY,
    warehouse_name  text,
    city            text,
    capacity        integer,
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.customers (
    customer_id     bigint PRIMARY KEY,
    customer_name   text,
    email           text,
    phone           text,
    city            text,
    country         text,
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.inventory (
    inventory_id        bigint PRIMARY KEY,
    product_id          bigint,
    warehouse_id        bigint,
    quantity_available  integer,
    updated_at          timestamp NOT NULL
);

CREATE TABLE {schema}.orders (
    order_id        bigint PRIMARY KEY,
    customer_id     bigint,
    order_date      date,
    status          text,
    total_amount    numeric(14,2),
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.order_details (
    order_detail_id bigint PRIMARY KEY,
    order_id        bigint,
    product_id      bigint,
    quantity        integer,
    unit_price      numeric(12,2),
    discount        numeric(5,2),
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.shipments (
    shipment_id     bigint PRIMARY KEY,
    order_id        bigint,
    warehouse_id    bigint,
    shipment_date   date,
    delivery_date   date,
    carrier         text,
    status          text,
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.returns (
    return_id       bigint PRIMARY KEY,
    order_id        bigint,
    product_id      bigint,
    return_date     date,
    quantity        integer,
    reason          text,
    refund_amount   numeric(12,2),
    updated_at      timestamp NOT NULL
);

CREATE TABLE {schema}.stock_levels (
    stock_level_id      bigint PRIMARY KEY,
    product_id          bigint,
    warehouse_id        bigint,
    reorder_threshold   integer,
    max_stock           integer,
    recorded_at         timestamp,
    updated_at          timestamp NOT NULL
);
