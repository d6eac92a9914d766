-- Reconciliation checks the partner stamp (issue 13): the orders whose `partner_id` and
-- `partner_referred_at` differ from `order_partner` are reported and restamped. The stamp
-- is derived data (the partner report reads it; no money moves on it), so unlike a balance
-- or a debt it is repaired. It can drift only behind the triggers' back: a load with
-- triggers off (bench/generate.sh's COPYs restamp by hand afterwards), a hand edit, a
-- restore of one table.
--
-- `customer_referrals_stamp_partner` is re-created to call the new `restamp_partner_orders`,
-- which holds the two steps it took itself (lock the customers in id order, then stamp their
-- orders), so that the repair takes the very same locks; nothing else changed.

-- Stamps the orders of customers `p_customers` again under their row locks, taken in id
-- order: the referral trigger's step, and reconciliation's repair. Returns how many
-- orders it wrote.
create function restamp_partner_orders(p_customers integer[]) returns bigint
language plpgsql as $$
declare
    v_written bigint;
begin
    perform 1 from customers c where c.id = any(p_customers) order by c.id for update;
    -- A new statement, so a new snapshot: it sees every order and referral committed by a
    -- transaction this one waited for.
    select stamp_partner_orders(p_customers) into v_written;
    return v_written;
end
$$;

create or replace function customer_referrals_stamp_partner() returns trigger
language plpgsql as $$
declare
    v_customers integer[];
begin
    -- The customers whose orders may count for another partner now: the old row's and
    -- the new row's referred customer (either may be null).
    select array_agg(distinct c) into v_customers
    from unnest(array[case when tg_op <> 'INSERT' then old.referred_customer_id end,
                      case when tg_op <> 'DELETE' then new.referred_customer_id end]) c
    where c is not null;
    perform restamp_partner_orders(v_customers);
    return null;
end
$$;
