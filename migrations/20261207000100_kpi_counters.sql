-- The KPI counters (issue 13): the admin dashboard's numbers read in O(1) instead of full
-- scans of customers, sales_orders, customer_referrals, wallet_transactions,
-- customer_memberships and grocery_lists, and exactly equal to those scans in every
-- committed state.
--
-- - `customer_order_totals`: one row per customer with a successful order ever, its
--   delivered orders and value, kept by the triggers of `sales_orders`. Only the same
--   customer's orders contend on a row.
-- - `kpi_deltas`: append-only; every statement that changes an input of a KPI inserts
--   its net change per metric here, in its own transaction. No row is written by every
--   transaction (no hot counter row).
-- - `kpi_totals`: one row per metric, the folded deltas. Only the fold job writes it
--   (`kpi_fold`, a singleton).
-- - The read (`kpi_counted`) is totals + the unfolded deltas in one statement, so one
--   snapshot: the deltas commit with the changes they count, and the fold deletes deltas
--   and adds them to the totals in one statement, so every snapshot sees each delta once.
-- - `kpi_reference` is the full-scan definition (the query the dashboard used to run):
--   reconciliation compares the counters with it, and `kpi_rebuild` recomputes the
--   counters from it (this migration's backfill; bench/generate.sh after a load with
--   triggers off).
-- - `kpi_figures` turns either set of raw counters into the dashboard's ratios and
--   roundings: the one home of those formulas.
--
-- The triggers are statement-level with transition tables, so a bulk load writes a few
-- deltas per statement rather than one per row. They assume writers run at read committed
-- (every writer here does): the triggers that read another table (a list's customer, a
-- credit's referral) lock that row `for share` first, which orders them against a
-- concurrent change of it, and then read its latest committed version.

create type kpi_metric as enum (
    'customers',             -- every customer row
    'delivered_orders',      -- successful orders of a customer
    'delivered_value',       -- their total_amount
    'delivered_customers',   -- customers with at least one successful order
    'repeat_customers',      -- customers with at least two
    'referrals',             -- every referral
    'completed_referrals',
    'pending_referrals',     -- pending or registered
    'referrer_rewards_paid', -- posted referral credits to the referrer
    'referred_bonuses_paid', -- posted referral credits to the referred customer
    'silver_members',
    'gold_members',
    'permanent_members',
    'active_subscriptions'   -- active subscription lists of customers not deleted
);

create table customer_order_totals (
    customer_id      integer       primary key references customers (id) on delete cascade,
    delivered_orders bigint        not null default 0,
    -- No CHECK (>= 0): an upsert checks its proposed row, the delta, before it finds the
    -- conflict. Reconciliation compares the counters with the scans instead.
    delivered_value  numeric(14,2) not null default 0
);

create table kpi_deltas (
    id     bigint     generated always as identity primary key,
    metric kpi_metric not null,
    delta  numeric    not null,
    constraint kpi_deltas_not_zero check (delta <> 0)
);

create table kpi_totals (
    metric kpi_metric primary key,
    value  numeric    not null default 0
);

------------------------------------------------------------------------------------------
-- The definitions

-- The counters as the base tables define them, by full scans: what the dashboard's query
-- computed before the counters existed. Reconciliation's reference; slow at scale.
create function kpi_reference() returns table (metric kpi_metric, value numeric)
language sql stable as $$
    with delivered as (
        select customer_id, count(*) as orders, sum(total_amount) as value
        from sales_orders
        where customer_id is not null and order_status_is_success(status)
        group by customer_id
    ),
    paid as (
        select coalesce(sum(t.amount) filter (where t.customer_id = r.referrer_customer_id), 0) as referrer,
               coalesce(sum(t.amount) filter (where t.customer_id = r.referred_customer_id), 0) as referred
        from wallet_transactions t
        join customer_referrals r on r.id = t.reference_id
        where t.source = 'referral' and t.transaction_type = 'credit' and t.status = 'posted'
    )
    select 'customers'::kpi_metric, (select count(*) from customers)::numeric
    union all select 'delivered_orders', (select coalesce(sum(orders), 0) from delivered)
    union all select 'delivered_value', (select coalesce(sum(value), 0) from delivered)
    union all select 'delivered_customers', (select count(*) from delivered)
    union all select 'repeat_customers', (select count(*) from delivered where orders >= 2)
    union all select m, n from (
        select count(*) as total,
               count(*) filter (where status = 'completed') as completed,
               count(*) filter (where status in ('pending', 'registered')) as pending
        from customer_referrals
    ) rc, lateral (values ('referrals'::kpi_metric, rc.total::numeric),
                          ('completed_referrals', rc.completed), ('pending_referrals', rc.pending)) v(m, n)
    union all select 'referrer_rewards_paid', (select referrer from paid)
    union all select 'referred_bonuses_paid', (select referred from paid)
    union all select m, n from (
        select count(*) filter (where membership_tier = 'silver') as silver,
               count(*) filter (where membership_tier = 'gold') as gold,
               count(*) filter (where membership_tier = 'permanent') as permanent
        from customer_memberships
    ) t, lateral (values ('silver_members'::kpi_metric, t.silver::numeric),
                         ('gold_members', t.gold), ('permanent_members', t.permanent)) v(m, n)
    union all select 'active_subscriptions',
        (select count(*) from grocery_lists l
         join customers c on c.id = l.customer_id and not c.is_deleted
         where l.is_subscription and l.is_active)
$$;

-- The counters as kept: the folded totals plus the deltas not folded yet, in one snapshot.
-- A metric without a row counts 0.
create function kpi_counted() returns table (metric kpi_metric, value numeric)
language sql stable as $$
    select metric, sum(value)
    from (select metric, value from kpi_totals
          union all
          select metric, delta from kpi_deltas) c
    group by metric
$$;

-- The dashboard's figures from raw counters (`kpi_counted` or `kpi_reference`, as arrays of
-- metrics and their values): the one home of the ratios and their rounding. The
-- expressions are those of the dashboard's original query; the delivered value is rounded
-- to its cents first so both sources hand the division the same scale.
create function kpi_figures(p_metrics kpi_metric[], p_values numeric[])
returns table (
    total_customers bigint,
    first_to_repeat_percentage numeric,
    member_conversion_rate numeric,
    avg_orders_per_customer numeric,
    avg_referrals_per_customer numeric,
    avg_customer_lifetime_value numeric,
    completed_referrals bigint,
    pending_referrals bigint,
    total_referral_rewards_paid numeric,
    total_referral_welcome_bonuses_paid numeric,
    silver_members bigint,
    gold_members bigint,
    permanent_members bigint,
    active_subscriptions bigint
)
language sql immutable as $$
    with c as (
        select coalesce(sum(v) filter (where m = 'customers'), 0)::bigint as customers,
               coalesce(sum(v) filter (where m = 'delivered_orders'), 0)::bigint as delivered_orders,
               round(coalesce(sum(v) filter (where m = 'delivered_value'), 0), 2) as delivered_value,
               coalesce(sum(v) filter (where m = 'delivered_customers'), 0)::bigint as delivered_customers,
               coalesce(sum(v) filter (where m = 'repeat_customers'), 0)::bigint as repeat_customers,
               coalesce(sum(v) filter (where m = 'referrals'), 0)::bigint as referrals,
               coalesce(sum(v) filter (where m = 'completed_referrals'), 0)::bigint as completed,
               coalesce(sum(v) filter (where m = 'pending_referrals'), 0)::bigint as pending,
               coalesce(sum(v) filter (where m = 'referrer_rewards_paid'), 0) as referrer_paid,
               coalesce(sum(v) filter (where m = 'referred_bonuses_paid'), 0) as referred_paid,
               coalesce(sum(v) filter (where m = 'silver_members'), 0)::bigint as silver,
               coalesce(sum(v) filter (where m = 'gold_members'), 0)::bigint as gold,
               coalesce(sum(v) filter (where m = 'permanent_members'), 0)::bigint as permanent,
               coalesce(sum(v) filter (where m = 'active_subscriptions'), 0)::bigint as subscriptions
        from unnest(p_metrics, p_values) u(m, v)
    )
    select c.customers,
           coalesce(round(100.0 * c.repeat_customers / nullif(c.delivered_customers, 0), 2), 0),
           coalesce(round(100.0 * (c.silver + c.gold + c.permanent) / nullif(c.customers, 0), 2), 0),
           coalesce(round(c.delivered_orders::numeric / nullif(c.customers, 0), 4), 0),
           coalesce(round(c.referrals::numeric / nullif(c.customers, 0), 4), 0),
           coalesce(round(c.delivered_value / nullif(c.customers, 0), 2), 0),
           c.completed,
           c.pending,
           round(c.referrer_paid, 2),
           round(c.referred_paid, 2),
           c.silver,
           c.gold,
           c.permanent,
           c.subscriptions
    from c
$$;

------------------------------------------------------------------------------------------
-- Keeping the counters

-- Records the net change of each metric (zeros are not written).
create function kpi_note(p_metrics kpi_metric[], p_deltas numeric[]) returns void
language plpgsql as $$
begin
    insert into kpi_deltas (metric, delta)
    select m, sum(d) from unnest(p_metrics, p_deltas) u(m, d)
    where d is not null group by m having sum(d) <> 0;
end
$$;

-- Orders: rows leaving (`p_old`) and entering (`p_new`) the table. Each customer's
-- successful orders and value move in `customer_order_totals` (rows locked in customer
-- order, so two bulk statements cannot deadlock), and the customer's crossings of one and
-- two orders are counted from the row's value after the change, which the row lock makes
-- exact: the next transaction on that customer sees this one's result.
create function kpi_orders_changed(p_old sales_orders[], p_new sales_orders[]) returns void
language plpgsql as $$
declare
    v_deltas numeric[];
begin
    -- Most updates of these tables change nothing a KPI counts: the trigger passes no rows.
    if cardinality(p_old) = 0 and cardinality(p_new) = 0 then
        return;
    end if;
    with change as (
        select o.customer_id, -1 as n, -o.total_amount as v
        from unnest(p_old) o where o.customer_id is not null and order_status_is_success(o.status)
        union all
        select o.customer_id, 1, o.total_amount
        from unnest(p_new) o where o.customer_id is not null and order_status_is_success(o.status)
    ),
    per_customer as (
        select customer_id, sum(n)::bigint as n, sum(v) as v
        from change group by customer_id
        having sum(n) <> 0 or sum(v) <> 0
    ),
    applied as (
        insert into customer_order_totals as t (customer_id, delivered_orders, delivered_value)
        select customer_id, n, v from per_customer order by customer_id
        on conflict (customer_id) do update
            set delivered_orders = t.delivered_orders + excluded.delivered_orders,
                delivered_value = t.delivered_value + excluded.delivered_value
        returning t.customer_id, t.delivered_orders as after
    ),
    crossings as (
        select sum((a.after >= 1)::int - (a.after - p.n >= 1)::int) as first,
               sum((a.after >= 2)::int - (a.after - p.n >= 2)::int) as repeat
        from applied a join per_customer p using (customer_id)
    )
    select array[(select sum(n) from per_customer), (select sum(v) from per_customer), x.first, x.repeat]
    into v_deltas
    from crossings x;
    perform kpi_note(array['delivered_orders', 'delivered_value', 'delivered_customers', 'repeat_customers']::kpi_metric[], v_deltas);
end
$$;

-- Customers: the count of rows, and the active subscriptions of a customer whose
-- `is_deleted` changes (the lists are read as committed now: a list being written
-- concurrently waits for this customer's row lock, see `kpi_lists_changed`).
create function kpi_customers_changed(p_old customers[], p_new customers[]) returns void
language plpgsql as $$
begin
    -- Most updates of these tables change nothing a KPI counts: the trigger passes no rows.
    if cardinality(p_old) = 0 and cardinality(p_new) = 0 then
        return;
    end if;
    perform kpi_note(array['customers', 'active_subscriptions']::kpi_metric[],
        array[(cardinality(p_new) - cardinality(p_old))::numeric,
              (select count(*) from unnest(p_new) c join grocery_lists l on l.customer_id = c.id
               where not c.is_deleted and l.is_subscription and l.is_active)
              - (select count(*) from unnest(p_old) c join grocery_lists l on l.customer_id = c.id
                 where not c.is_deleted and l.is_subscription and l.is_active)]);
end
$$;

-- Referrals: the counts by status, and when a referral's referrer or referred customer
-- changes (or it appears or goes), the referral credits it classifies. A credit being
-- posted concurrently waits for this referral's row lock (`kpi_credits_posted`).
create function kpi_referrals_changed(p_old customer_referrals[], p_new customer_referrals[]) returns void
language plpgsql as $$
declare
    v_deltas numeric[];
begin
    -- Most updates of these tables change nothing a KPI counts: the trigger passes no rows.
    if cardinality(p_old) = 0 and cardinality(p_new) = 0 then
        return;
    end if;
    with side as (
        select -1 as s, o.id, o.status, o.referrer_customer_id, o.referred_customer_id,
               not exists (select 1 from unnest(p_new) n
                           where n.id = o.id and n.referrer_customer_id = o.referrer_customer_id
                             and n.referred_customer_id is not distinct from o.referred_customer_id) as moved
        from unnest(p_old) o
        union all
        select 1, n.id, n.status, n.referrer_customer_id, n.referred_customer_id,
               not exists (select 1 from unnest(p_old) o
                           where o.id = n.id and o.referrer_customer_id = n.referrer_customer_id
                             and o.referred_customer_id is not distinct from n.referred_customer_id)
        from unnest(p_new) n
    ),
    paid as (
        select sum(r.s * t.amount) filter (where t.customer_id = r.referrer_customer_id) as referrer,
               sum(r.s * t.amount) filter (where t.customer_id = r.referred_customer_id) as referred
        from side r
        join wallet_transactions t on t.reference_id = r.id and t.source = 'referral'
        where r.moved and t.transaction_type = 'credit' and t.status = 'posted'
    )
    select array[(select sum(s) from side),
              (select sum(s) from side where status = 'completed'),
              (select sum(s) from side where status in ('pending', 'registered')),
              (select referrer from paid), (select referred from paid)]
    into v_deltas;
    perform kpi_note(array['referrals', 'completed_referrals', 'pending_referrals',
                          'referrer_rewards_paid', 'referred_bonuses_paid']::kpi_metric[], v_deltas);
end
$$;

-- Wallet transactions (append-only: inserts only): posted referral credits, classified by
-- their referral's referrer and referred customer. The referrals are locked `for share`
-- first (the reward engine holds them already: no new lock order), so a concurrent change
-- of their customers is either seen here or sees this credit.
create function kpi_credits_posted(p_new wallet_transactions[]) returns void
language plpgsql as $$
begin
    if not exists (select 1 from unnest(p_new) t
                   where t.source = 'referral' and t.transaction_type = 'credit' and t.status = 'posted') then
        return;
    end if;
    perform 1 from customer_referrals r
    where r.id in (select t.reference_id from unnest(p_new) t
                   where t.source = 'referral' and t.transaction_type = 'credit' and t.status = 'posted')
    order by r.id
    for share;
    perform kpi_note(array['referrer_rewards_paid', 'referred_bonuses_paid']::kpi_metric[],
        array[sum(t.amount) filter (where t.customer_id = r.referrer_customer_id),
              sum(t.amount) filter (where t.customer_id = r.referred_customer_id)])
    from unnest(p_new) t
    join customer_referrals r on r.id = t.reference_id
    where t.source = 'referral' and t.transaction_type = 'credit' and t.status = 'posted';
end
$$;

-- Memberships: the counts by tier.
create function kpi_memberships_changed(p_old customer_memberships[], p_new customer_memberships[]) returns void
language plpgsql as $$
declare
    v_deltas numeric[];
begin
    -- Most updates of these tables change nothing a KPI counts: the trigger passes no rows.
    if cardinality(p_old) = 0 and cardinality(p_new) = 0 then
        return;
    end if;
    with side as (
        select -1 as s, membership_tier from unnest(p_old)
        union all
        select 1, membership_tier from unnest(p_new)
    )
    select array[sum(s) filter (where membership_tier = 'silver'),
              sum(s) filter (where membership_tier = 'gold'),
              sum(s) filter (where membership_tier = 'permanent')]
    into v_deltas
    from side;
    perform kpi_note(array['silver_members', 'gold_members', 'permanent_members']::kpi_metric[], v_deltas);
end
$$;

-- Grocery lists: active subscriptions of customers not deleted. The customers are locked
-- `for share` first, so a concurrent change of their `is_deleted` is either seen here or
-- sees this list (`kpi_customers_changed`).
create function kpi_lists_changed(p_old grocery_lists[], p_new grocery_lists[]) returns void
language plpgsql as $$
begin
    if not exists (select 1 from unnest(p_old) l where l.is_subscription and l.is_active)
       and not exists (select 1 from unnest(p_new) l where l.is_subscription and l.is_active) then
        return;
    end if;
    perform 1 from customers c
    where c.id in (select l.customer_id from unnest(p_old) l where l.is_subscription and l.is_active
                   union
                   select l.customer_id from unnest(p_new) l where l.is_subscription and l.is_active)
    order by c.id
    for share;
    perform kpi_note(array['active_subscriptions']::kpi_metric[],
        array[(select count(*) from unnest(p_new) l join customers c on c.id = l.customer_id
               where not c.is_deleted and l.is_subscription and l.is_active)
              - (select count(*) from unnest(p_old) l join customers c on c.id = l.customer_id
                 where not c.is_deleted and l.is_subscription and l.is_active)]);
end
$$;

------------------------------------------------------------------------------------------
-- The triggers: statement-level, with the rows that left (`old_rows`) and entered
-- (`new_rows`). An update passes only the rows whose counted columns changed, so the
-- frequent updates that touch none of them (a courier's tracking, a login) cost one
-- anti-join of a row or two.

create function kpi_orders_trigger() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform kpi_orders_changed('{}', array(select n::sales_orders from new_rows n));
    elsif tg_op = 'DELETE' then
        perform kpi_orders_changed(array(select o::sales_orders from old_rows o), '{}');
    else
        perform kpi_orders_changed(
            array(select o::sales_orders from old_rows o where not exists (
                select 1 from new_rows n where n.id = o.id and n.customer_id is not distinct from o.customer_id
                                          and n.status = o.status and n.total_amount = o.total_amount)),
            array(select n::sales_orders from new_rows n where not exists (
                select 1 from old_rows o where o.id = n.id and o.customer_id is not distinct from n.customer_id
                                          and o.status = n.status and o.total_amount = n.total_amount)));
    end if;
    return null;
end
$$;

create function kpi_customers_trigger() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform kpi_customers_changed('{}', array(select n::customers from new_rows n));
    elsif tg_op = 'DELETE' then
        perform kpi_customers_changed(array(select o::customers from old_rows o), '{}');
    else
        perform kpi_customers_changed(
            array(select o::customers from old_rows o where not exists (
                select 1 from new_rows n where n.id = o.id and n.is_deleted = o.is_deleted)),
            array(select n::customers from new_rows n where not exists (
                select 1 from old_rows o where o.id = n.id and o.is_deleted = n.is_deleted)));
    end if;
    return null;
end
$$;

create function kpi_referrals_trigger() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform kpi_referrals_changed('{}', array(select n::customer_referrals from new_rows n));
    elsif tg_op = 'DELETE' then
        perform kpi_referrals_changed(array(select o::customer_referrals from old_rows o), '{}');
    else
        perform kpi_referrals_changed(
            array(select o::customer_referrals from old_rows o where not exists (
                select 1 from new_rows n where n.id = o.id and n.status = o.status
                                          and n.referrer_customer_id = o.referrer_customer_id
                                          and n.referred_customer_id is not distinct from o.referred_customer_id)),
            array(select n::customer_referrals from new_rows n where not exists (
                select 1 from old_rows o where o.id = n.id and o.status = n.status
                                          and o.referrer_customer_id = n.referrer_customer_id
                                          and o.referred_customer_id is not distinct from n.referred_customer_id)));
    end if;
    return null;
end
$$;

create function kpi_credits_trigger() returns trigger language plpgsql as $$
begin
    perform kpi_credits_posted(array(select n::wallet_transactions from new_rows n));
    return null;
end
$$;

create function kpi_memberships_trigger() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform kpi_memberships_changed('{}', array(select n::customer_memberships from new_rows n));
    elsif tg_op = 'DELETE' then
        perform kpi_memberships_changed(array(select o::customer_memberships from old_rows o), '{}');
    else
        perform kpi_memberships_changed(
            array(select o::customer_memberships from old_rows o where not exists (
                select 1 from new_rows n where n.id = o.id and n.membership_tier = o.membership_tier)),
            array(select n::customer_memberships from new_rows n where not exists (
                select 1 from old_rows o where o.id = n.id and o.membership_tier = n.membership_tier)));
    end if;
    return null;
end
$$;

create function kpi_lists_trigger() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform kpi_lists_changed('{}', array(select n::grocery_lists from new_rows n));
    elsif tg_op = 'DELETE' then
        perform kpi_lists_changed(array(select o::grocery_lists from old_rows o), '{}');
    else
        perform kpi_lists_changed(
            array(select o::grocery_lists from old_rows o where not exists (
                select 1 from new_rows n where n.id = o.id and n.customer_id = o.customer_id
                                          and n.is_subscription = o.is_subscription and n.is_active = o.is_active)),
            array(select n::grocery_lists from new_rows n where not exists (
                select 1 from old_rows o where o.id = n.id and o.customer_id = n.customer_id
                                          and o.is_subscription = n.is_subscription and o.is_active = n.is_active)));
    end if;
    return null;
end
$$;

create trigger sales_orders_kpi_insert after insert on sales_orders
    referencing new table as new_rows for each statement execute function kpi_orders_trigger();
create trigger sales_orders_kpi_update after update on sales_orders
    referencing old table as old_rows new table as new_rows for each statement execute function kpi_orders_trigger();
create trigger sales_orders_kpi_delete after delete on sales_orders
    referencing old table as old_rows for each statement execute function kpi_orders_trigger();

create trigger customers_kpi_insert after insert on customers
    referencing new table as new_rows for each statement execute function kpi_customers_trigger();
create trigger customers_kpi_update after update on customers
    referencing old table as old_rows new table as new_rows for each statement execute function kpi_customers_trigger();
create trigger customers_kpi_delete after delete on customers
    referencing old table as old_rows for each statement execute function kpi_customers_trigger();

create trigger customer_referrals_kpi_insert after insert on customer_referrals
    referencing new table as new_rows for each statement execute function kpi_referrals_trigger();
create trigger customer_referrals_kpi_update after update on customer_referrals
    referencing old table as old_rows new table as new_rows for each statement execute function kpi_referrals_trigger();
create trigger customer_referrals_kpi_delete after delete on customer_referrals
    referencing old table as old_rows for each statement execute function kpi_referrals_trigger();

-- Updates and deletes of wallet_transactions are refused (`wallet_transactions_append_only`).
create trigger wallet_transactions_kpi_insert after insert on wallet_transactions
    referencing new table as new_rows for each statement execute function kpi_credits_trigger();

create trigger customer_memberships_kpi_insert after insert on customer_memberships
    referencing new table as new_rows for each statement execute function kpi_memberships_trigger();
create trigger customer_memberships_kpi_update after update on customer_memberships
    referencing old table as old_rows new table as new_rows for each statement execute function kpi_memberships_trigger();
create trigger customer_memberships_kpi_delete after delete on customer_memberships
    referencing old table as old_rows for each statement execute function kpi_memberships_trigger();

create trigger grocery_lists_kpi_insert after insert on grocery_lists
    referencing new table as new_rows for each statement execute function kpi_lists_trigger();
create trigger grocery_lists_kpi_update after update on grocery_lists
    referencing old table as old_rows new table as new_rows for each statement execute function kpi_lists_trigger();
create trigger grocery_lists_kpi_delete after delete on grocery_lists
    referencing old table as old_rows for each statement execute function kpi_lists_trigger();

------------------------------------------------------------------------------------------
-- Rebuilding

-- Recomputes every counter from the base tables (`kpi_reference`), under SHARE locks of
-- the base tables (writers wait, readers do not) so nothing changes meanwhile. For this
-- migration's backfill and after a load with the triggers off (bench/generate.sh, under
-- session_replication_role = replica); not for a live server at scale (it scans all).
create function kpi_rebuild() returns void
language plpgsql as $$
begin
    lock table customers, sales_orders, customer_referrals, wallet_transactions,
               customer_memberships, grocery_lists in share mode;
    lock table customer_order_totals, kpi_deltas, kpi_totals in exclusive mode;
    delete from customer_order_totals;
    insert into customer_order_totals (customer_id, delivered_orders, delivered_value)
    select customer_id, count(*), sum(total_amount)
    from sales_orders
    where customer_id is not null and order_status_is_success(status)
    group by customer_id;
    delete from kpi_deltas;
    delete from kpi_totals;
    insert into kpi_totals (metric, value)
    select m, coalesce(r.value, 0)
    from unnest(enum_range(null::kpi_metric)) m
    left join kpi_reference() r on r.metric = m;
end
$$;

select kpi_rebuild();
