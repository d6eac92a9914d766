-- Couriers say "delivered" themselves (Steadfast and Pathao webhooks).
--
-- * An order knows its parcel: the courier, the consignment id the courier gave it, the
--   tracking code, and what the courier last reported (its own status name, the event's
--   time, the cash it collected and its charge). A consignment belongs to one order
--   (`sales_orders_consignment_key`, answered 409 `consignment_taken`).
-- * Every webhook delivery is kept raw in `courier_inbox`, once per (courier, consignment,
--   status, event time) (`courier_inbox_dedupe_key`): a courier's retry is a duplicate
--   that changes nothing. Each row records what became of it and the order it matched.
--
-- The order's status is never written here: the courier's status goes through
-- `apply_order_status`, the transition of `POST /api/orders/:id/status`.

create type courier as enum ('steadfast', 'pathao');

-- What became of one courier event (docs/ARCHITECTURE.md, "Couriers").
create type courier_event_outcome as enum (
    -- No order has the consignment (nor the invoice / merchant order id) yet; matched
    -- when `PUT /api/orders/:id` links the consignment.
    'unmatched',
    -- The order moved to the mapped status through `apply_order_status`.
    'applied',
    -- Older than what was applied for the consignment, or a forward status after a
    -- reversal or a delivery: kept, changed nothing.
    'stale',
    -- Tracking-only or informational: kept, changed nothing.
    'ignored'
);

-- Why an event was stale or ignored.
create type courier_event_reason as enum (
    'older_than_applied',
    'after_reversal',
    'after_delivery',
    'tracking_only',
    'informational',
    'unknown_status'
);

alter table sales_orders
    add column courier               courier,
    add column consignment_id        varchar(64),
    add column tracking_code         varchar(64),
    -- The courier's own name of the last status applied (`partial_delivered`,
    -- `order.partial-delivery`, …) and when the courier says it happened: the clock that
    -- orders the consignment's events.
    add column courier_status        varchar(64),
    add column courier_event_at      timestamptz,
    add column cash_collected_amount numeric(12,2),
    add column delivery_charge       numeric(12,2),
    add constraint sales_orders_consignment_key unique (courier, consignment_id),
    add constraint sales_orders_consignment_has_courier
        check (consignment_id is null or courier is not null),
    add constraint sales_orders_cash_collected_non_negative check (cash_collected_amount >= 0),
    add constraint sales_orders_delivery_charge_non_negative check (delivery_charge >= 0);

-- Webhooks find an order by the invoice / merchant order id the shop gave the courier.
create index sales_orders_number_idx on sales_orders (sales_order_number);

create table courier_inbox (
    id              bigint                generated always as identity primary key,
    courier         courier               not null,
    -- Null only for events about no parcel (Pathao's store events).
    consignment_id  varchar(64),
    -- Steadfast's `status` (or the notification type when it has none), Pathao's `event`;
    -- lower case.
    event           varchar(64)           not null,
    -- When the courier says it happened (its `updated_at` / `timestamp`).
    event_at        timestamptz           not null,
    -- What the shop sent the courier: Steadfast's `invoice`, Pathao's `merchant_order_id`.
    reference       varchar(100),
    -- Cash the courier says it collected, and its charge, when the event carries them.
    cash_amount     numeric(12,2),
    delivery_charge numeric(12,2),
    message         text,
    payload         jsonb                 not null,
    -- The request's headers, without credentials.
    headers         jsonb                 not null,
    received_at     timestamptz           not null default now(),
    outcome         courier_event_outcome not null,
    reason          courier_event_reason,
    order_id        integer               references sales_orders (id),
    -- The status the event moved the order to (applied events only).
    order_status    order_status_enum,
    processed_at    timestamptz,
    constraint courier_inbox_dedupe_key
        unique nulls not distinct (courier, consignment_id, event, event_at),
    constraint courier_inbox_unmatched_has_consignment
        check (outcome <> 'unmatched' or (consignment_id is not null and order_id is null)),
    constraint courier_inbox_settled_has_order
        check (outcome not in ('applied', 'stale') or order_id is not null),
    constraint courier_inbox_applied_has_status
        check ((outcome = 'applied') = (order_status is not null)),
    constraint courier_inbox_cash_non_negative check (cash_amount >= 0),
    constraint courier_inbox_charge_non_negative check (delivery_charge >= 0)
);
-- The unmatched events of a consignment, in the order they happened (matching on PUT),
-- and the unmatched list, newest first.
create index courier_inbox_unmatched_idx on courier_inbox (courier, consignment_id, event_at)
    where outcome = 'unmatched';
create index courier_inbox_unmatched_list_idx on courier_inbox (id) where outcome = 'unmatched';
create index courier_inbox_order_idx on courier_inbox (order_id) where order_id is not null;
