-- Every order carries the partner it counts for (issue 13: "the KPI, dashboard and partner
-- report endpoints stay under 100 ms" at 1 million customers and 5 million orders).
--
-- The partner report found a partner's orders by joining its referrals to their customers'
-- orders: one range of sales_orders_customer_created_idx per referred customer. For the
-- biggest partner of bench/partner-report.sh (7,069 customers, 42,414 orders) that was 7,069
-- ranges, a sort of the 42,414 orders for each customer's first, and a materialized CTE read
-- three times: 110 ms in psql, 125-153 ms through HTTP. With the partner on the order they
-- are one range of a partial index, read once for the counts and once, in customer order,
-- for the first orders (figures and plans: bench/README.md, "Partner report at scale").
--
-- The rule has one home, `order_partner`: an order counts for the partner whose code
-- brought its customer, when it was placed at or after that referral
-- (`placed_since_referral`, which qualification_refusal reads too). `partner_referred_at`
-- is that referral's time, so that the report tells the window's signups (its cohort) from
-- the order alone. Triggers keep both columns equal to the rule:
-- - an order's, when it is inserted, or its customer or placing time changes (never on a
--   status change: the delivered path's updates skip it in the trigger's WHEN);
-- - a referral's, when it gains, changes or loses a partner, a referred customer or its
--   time (a claimed invitation, an operator's correction, a backdated signup): the orders
--   of the customers concerned are stamped again.
-- The two can race only when a referral is made for a customer whose orders are being
-- written at that moment, so each locks the customer's row first: an order `for key share`
-- (what its foreign key's check takes anyway: orders of one customer never wait for each
-- other, and a bulk insert takes no lock-table entries), a referral `for update`, which
-- waits for every transaction writing the customer's orders to end and then restamps with a
-- snapshot that sees them, while an order written after it waits for it and then reads the
-- committed referral.
-- Tests check at the end of every test that no order's stamp differs from the rule.

-- Whether an order placed at `p_order_at` is one a referral made at `p_referral_at` can
-- claim: placed at or after it (TrustCart D3c: an order placed before the signup is not the
-- referral's doing).
create function placed_since_referral(p_order_at timestamptz, p_referral_at timestamptz)
returns boolean
language sql immutable parallel safe
return p_order_at >= p_referral_at;

create or replace function qualification_refusal(r customer_referrals, o sales_orders) returns text
language sql stable as $$
    select case
        when not placed_since_referral(o.created_at, r.created_at) then 'order_before_referral'
        when exists (select 1 from sales_orders x
                     where x.customer_id = o.customer_id and x.id <> o.id
                       and order_status_is_success(x.status)) then 'not_first_order'
    end
$$;

-- The partner an order of customer `p_customer_id` placed at `p_placed_at` counts for, and
-- when its referral was made; no row when none does. Inlined by the planner where it is
-- joined (a bulk restamp becomes one join of orders and referrals).
create function order_partner(p_customer_id integer, p_placed_at timestamptz)
returns table (partner_id uuid, referred_at timestamptz)
language sql stable
as $$
    select r.partner_id, r.created_at
    from customer_referrals r
    where r.referred_customer_id = p_customer_id and r.partner_id is not null
      and placed_since_referral(p_placed_at, r.created_at)
$$;

-- A plain foreign key: a partner with stamped orders has referrals, and a partner with
-- referrals cannot be deleted (its referrals' `on delete set null` would leave them without
-- a referrer, which customer_referrals_has_referrer refuses).
alter table sales_orders
    add column partner_id uuid references referral_partners (id),
    add column partner_referred_at timestamptz,
    add constraint sales_orders_partner_stamp_paired
        check ((partner_id is null) = (partner_referred_at is null));

-- Stamps the orders of customers `p_customers` with the rule, writing only the orders whose
-- stamp changes; returns how many it wrote. The referral trigger's restamp, the backfill
-- below, and bench/generate.sh's after its COPYs (which run with the triggers off).
create function stamp_partner_orders(p_customers integer[]) returns bigint
language sql as $$
    with stamped as (
        update sales_orders o
        set partner_id = w.partner_id, partner_referred_at = w.referred_at
        from (select x.id, p.partner_id, p.referred_at
              from sales_orders x
              left join lateral order_partner(x.customer_id, x.created_at) p on true
              where x.customer_id = any(p_customers)) w
        where o.id = w.id
          and (o.partner_id, o.partner_referred_at) is distinct from (w.partner_id, w.referred_at)
        returning 1
    )
    select count(*) from stamped
$$;

create function sales_orders_stamp_partner() returns trigger
language plpgsql as $$
begin
    new.partner_id := null;
    new.partner_referred_at := null;
    if new.customer_id is not null then
        perform 1 from customers c where c.id = new.customer_id for key share;
        -- A new statement, so a new snapshot: it sees a referral committed while this
        -- transaction waited for the lock.
        select p.partner_id, p.referred_at into new.partner_id, new.partner_referred_at
        from order_partner(new.customer_id, new.created_at) p;
    end if;
    return new;
end
$$;

create trigger sales_orders_stamp_partner_insert before insert on sales_orders
    for each row execute function sales_orders_stamp_partner();
create trigger sales_orders_stamp_partner_update before update of customer_id, created_at on sales_orders
    for each row
    when (old.customer_id is distinct from new.customer_id or old.created_at is distinct from new.created_at)
    execute function sales_orders_stamp_partner();

create function customer_referrals_stamp_partner() returns trigger
language plpgsql as $$
declare
    v_customers integer[];
begin
    -- The customers whose orders may count for another partner now: the old row's and
    -- the new row's referred customer (either may be null), locked in id order so that two
    -- referral changes cannot deadlock on each other.
    select array_agg(c order by c) into v_customers
    from (select distinct c
          from unnest(array[case when tg_op <> 'INSERT' then old.referred_customer_id end,
                            case when tg_op <> 'DELETE' then new.referred_customer_id end]) c
          where c is not null) x;
    perform 1 from customers c where c.id = any(v_customers) order by c.id for update;
    perform stamp_partner_orders(v_customers);
    return null;
end
$$;

create trigger customer_referrals_stamp_partner_insert after insert on customer_referrals
    for each row
    when (new.partner_id is not null and new.referred_customer_id is not null)
    execute function customer_referrals_stamp_partner();
create trigger customer_referrals_stamp_partner_update
    after update of partner_id, referred_customer_id, created_at on customer_referrals
    for each row
    when ((old.partner_id is not null or new.partner_id is not null)
          and (old.partner_id is distinct from new.partner_id
               or old.referred_customer_id is distinct from new.referred_customer_id
               or old.created_at is distinct from new.created_at))
    execute function customer_referrals_stamp_partner();
create trigger customer_referrals_stamp_partner_delete after delete on customer_referrals
    for each row
    when (old.partner_id is not null and old.referred_customer_id is not null)
    execute function customer_referrals_stamp_partner();

-- The existing orders (a plain statement: the migration runs alone).
select stamp_partner_orders(array(
    select referred_customer_id from customer_referrals
    where partner_id is not null and referred_customer_id is not null));

-- A partner's orders by when they were placed, with what the report counts of each: the
-- counts of any window are one range, and the newest orders a backward scan.
create index if not exists sales_orders_partner_created_idx on sales_orders (partner_id, created_at, id)
    include (customer_id, status, total_amount, refunded_amount, delivered_at, partner_referred_at)
    where partner_id is not null;
-- The same orders by customer, then time: each customer's first order is the first entry
-- of its run, with no sort.
create index if not exists sales_orders_partner_customer_idx on sales_orders (partner_id, customer_id, created_at, id)
    include (status, delivered_at, partner_referred_at)
    where partner_id is not null;
