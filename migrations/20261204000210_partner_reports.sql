-- Partner reports at scale and partner self-service (issue 11: "Reports", "Speed at
-- scale", "Partner self-service").
--
-- 1. What an order came to, in one place: `order_result` (delivered, returned, refused,
--    cancelled, open) and `order_kept_value` (what a successful order kept after refunds),
--    read by the partner report's counts, rates and lifetime value.
-- 2. Covering indexes, so that every query of the report is an index range scan (index-only
--    where the visibility map allows) from the partner to its referrals, to their orders,
--    and to the partner's events; never a scan of a table.
-- 3. `partner_logins`: a partner's password (argon2id, as for customers and staff), whose
--    integer id is the account of the partner's lock-out row in `login_attempts`.
--
-- Locks: a plain `create index` takes a SHARE lock on its table while it builds (reads go
-- on, writes wait): about 1 s per million orders on the 2-core machine. On a large live
-- database, build the three indexes first by hand with `create index concurrently` under
-- the same names: the `if not exists` below then skips them.

-- What became of an order, from its status now and whether it was ever delivered
-- (`delivered_at` is set when an order first reaches a successful status and is never
-- cleared):
--   delivered  in a successful status now (delivered, partial_delivered, completed);
--   returned   delivered, then returned or cancelled: the customer took it and it came back
--              (or the delivery was undone);
--   refused    returned without ever being delivered: the parcel went out and came back
--              from the door (the customer refused it, or could not be reached); this is
--              the courier's return to the merchant;
--   cancelled  cancelled (by the customer or the shop) before any delivery;
--   open       anything else: pending, on its way, on hold.
create type order_result as enum ('delivered', 'returned', 'refused', 'cancelled', 'open');

create function order_result(p_status order_status_enum, p_delivered_at timestamptz)
returns order_result
language sql immutable parallel safe
-- Typed constants in every branch, so that the planner inlines the function into the
-- report's queries (a cast of the CASE's text would be a stable I/O cast: no inlining, and a
-- function call per order).
return case
    when order_status_is_success(p_status) then 'delivered'::order_result
    when order_status_is_reversal(p_status) and p_delivered_at is not null then 'returned'::order_result
    when p_status = 'returned' then 'refused'::order_result
    when order_status_is_reversal(p_status) then 'cancelled'::order_result
    else 'open'::order_result
end;

-- What an order is worth to the shop now: a successful order's total less what was
-- refunded of it; nothing for any other order. The partner report's revenue and its
-- referred customers' lifetime value are sums of it.
create function order_kept_value(p_status order_status_enum, p_total numeric, p_refunded numeric)
returns numeric
language sql immutable parallel safe
return case when order_status_is_success(p_status) then p_total - p_refunded else 0 end;

-- A customer's orders in time order with what the report reads of each, so that a
-- partner's customers' orders are one index range per customer (replaces
-- sales_orders_customer_idx, whose lookups by customer it serves as well).
create index if not exists sales_orders_customer_created_idx on sales_orders
    (customer_id, created_at) include (id, status, total_amount, refunded_amount, delivered_at);
drop index if exists sales_orders_customer_idx;

-- A partner's referrals by when they were made, with what the report reads of each
-- (replaces customer_referrals_partner_idx).
create index if not exists customer_referrals_partner_created_idx on customer_referrals
    (partner_id, created_at)
    include (id, referred_customer_id, status, completed_at, completions, utm_source, utm_campaign)
    where partner_id is not null;
drop index if exists customer_referrals_partner_idx;

-- Events carrying a partner's code by time, with their type: clicks and the total in a
-- window are one index range (replaces referral_events_partner_code_idx). The code itself
-- is included too: PostgreSQL reads a table's column only from an index that holds it, not
-- from an expression of it, so without it the count would visit every event's row.
create index if not exists referral_events_partner_created_idx on referral_events
    (lower(partner_code), created_at) include (event_type, partner_code)
    where partner_code is not null;
drop index if exists referral_events_partner_code_idx;

-- A partner's password for self-service. Set by an admin (`PUT /api/partners/:id/password`
-- or `bondhu partner-password`); only the argon2id hash is stored. The integer id is the
-- account id of the partner's row in login_attempts (kind `partner`).
create table partner_logins (
    id            integer generated always as identity,
    partner_id    uuid        not null,
    password_hash text        not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint partner_logins_pkey primary key (id),
    constraint partner_logins_partner_id_key unique (partner_id),
    constraint partner_logins_partner_id_fkey foreign key (partner_id)
        references referral_partners (id) on delete cascade,
    constraint partner_logins_hash_argon2 check (password_hash like '$argon2%')
);
