-- The lines of an order, as the shop's system reports them with `PUT /api/orders/:id`
-- (`items`): what was bought, by product and category, for repeat-purchase reminders,
-- price-lock savings and reports. An update that carries items replaces them all.
-- Products live in the shop's catalogue, not here: ids and names are copied as reported.
create table sales_order_lines (
    order_id     integer       not null references sales_orders (id),
    line_no      integer       not null,
    product_id   integer       not null,
    product_name varchar(200)  not null,
    category_id  integer,
    quantity     integer       not null,
    unit_price   numeric(12,2) not null,
    primary key (order_id, line_no),
    constraint sales_order_lines_product_positive check (product_id > 0),
    constraint sales_order_lines_category_positive check (category_id is null or category_id > 0),
    constraint sales_order_lines_name_present check (length(btrim(product_name)) > 0),
    constraint sales_order_lines_quantity_positive check (quantity between 1 and 100000),
    constraint sales_order_lines_price_non_negative check (unit_price >= 0)
);
-- Who bought a product (reminders, price locks): from the product to its orders.
create index sales_order_lines_product_idx on sales_order_lines (product_id, order_id);
create index sales_order_lines_category_idx on sales_order_lines (category_id, order_id)
    where category_id is not null;
