-- Orders earn and reverse partner commissions (issue 11). Re-creates, with the same
-- signatures, two functions of 20261202000040_reward_holds.sql:
--   * apply_order_status: when the order first enters a successful status it also calls
--     accrue_partner_commission (after the referral's completion, before the coupon's
--     redemption: the lock order order → referral → … → partner → commissions); when the
--     order is reversed, or carries refunds, it also calls reverse_partner_commissions.
--     A customer no partner brought costs one index probe that finds nothing, and the
--     delivered path stays one statement;
--   * refund_order: after the refund, reverse_partner_commissions voids, claws back or
--     shrinks the order's commissions (20261204000120_partner_commission_functions.sql says
--     how).
-- Nothing else in either function changed.

-- Records a refund the shop made on order `p_order_id`, once per key. When the order
-- completed a referral and the refund leaves it below the campaign's minimum (or refunds
-- all of it), the referral is reversed as if the order had been returned.
create or replace function refund_order(
    p_order_id integer, p_amount numeric, p_reason text, p_idempotency_key varchar, p_created_by varchar)
returns table (outcome refund_outcome, refund_id integer, refunded_amount numeric, reversed_referral_id integer)
language plpgsql as $$
declare
    v_order    sales_orders%rowtype;
    v_existing order_refunds%rowtype;
    v_refund   integer;
    r          customer_referrals%rowtype;
    v_reversed integer;
begin
    select * into v_order from sales_orders o where o.id = p_order_id for no key update;
    if not found then
        return query select 'order_not_found'::refund_outcome, null::integer, null::numeric, null::integer;
        return;
    end if;
    select * into v_existing from order_refunds f
    where f.order_id = p_order_id and f.idempotency_key = p_idempotency_key;
    if found then
        return query select
            case when (v_existing.amount, v_existing.reason) = (p_amount, p_reason)
                 then 'replayed'::refund_outcome else 'key_conflict'::refund_outcome end,
            v_existing.id, v_order.refunded_amount, null::integer;
        return;
    end if;
    if v_order.refunded_amount + p_amount > v_order.total_amount then
        return query select 'exceeds_total'::refund_outcome, null::integer, v_order.refunded_amount, null::integer;
        return;
    end if;

    insert into order_refunds (order_id, amount, reason, idempotency_key, created_by)
    values (p_order_id, p_amount, p_reason, p_idempotency_key, p_created_by)
    returning id into v_refund;
    update sales_orders o set refunded_amount = o.refunded_amount + p_amount, updated_at = now()
    where o.id = p_order_id
    returning o.* into v_order;

    select * into r from customer_referrals cr
    where cr.qualifying_order_id = p_order_id and cr.status = 'completed';
    if found and completion_undone_by(r, v_order) is not null then
        if reverse_referral(r.id, p_order_id, completion_undone_by(r, v_order)) then
            v_reversed := r.id;
        end if;
    end if;
    -- The order's partner commissions follow the same rule (voided, clawed back, or a
    -- percentage shrunk to what the order kept).
    perform reverse_partner_commissions(v_order);
    return query select 'refunded'::refund_outcome, v_refund, v_order.refunded_amount, v_reversed;
end
$$;


-- Records an order's status as the shop's system knows it and, when the order first
-- reaches a successful status, completes the customer's referral if this order qualifies:
-- placed at or after the referral, and no other order of the customer is a successful
-- order (one that was delivered and then returned or cancelled is not). When the order
-- that completed a referral is returned or cancelled, the referral is reversed.
--
-- p_upsert = true creates or updates the order (PUT); false only moves an existing
-- order's status (POST …/status). The order's customer can be set once, never changed,
-- and must be a live customer; its created_at is fixed when it is first recorded.
create or replace function apply_order_status(
    p_order_id           integer,
    p_status             order_status_enum,
    p_upsert             boolean,
    p_customer_id        integer,
    p_total_amount       numeric,
    p_sales_order_number varchar,
    p_created_at         timestamptz,
    p_referral_code      varchar,
    p_coupon_code        varchar)
returns table (
    outcome               order_outcome,
    previous_status       order_status_enum,
    completed_referral_id integer,
    order_id              integer,
    order_number          varchar,
    order_customer_id     integer,
    order_status          order_status_enum,
    order_total_amount    numeric,
    order_delivered_at    timestamptz,
    order_created_at      timestamptz,
    order_updated_at      timestamptz)
language plpgsql as $$
declare
    v_prev      order_status_enum;
    v_completed integer;
    v_order     sales_orders%rowtype;
    v_referral  customer_referrals%rowtype;
    v_reason    text;
begin
    -- A deleted customer can still be read by nobody, so nothing is recorded for one.
    -- (customers rows are never deleted, so this answer cannot go stale before commit.)
    if p_customer_id is not null
       and not exists (select 1 from customers c where c.id = p_customer_id and not c.is_deleted) then
        outcome := 'customer_not_found';
        return next;
        return;
    end if;

    -- Concurrent updates of one order queue here; the later one sees the earlier
    -- one's status as its previous status, so only one of them "enters" delivered.
    select o.status into v_prev from sales_orders o where o.id = p_order_id for no key update;

    if not found then
        if not p_upsert then
            outcome := 'order_not_found';
            return next;
            return;
        end if;
        insert into sales_orders as o
            (id, sales_order_number, customer_id, status, total_amount, delivered_at, created_at,
             referral_code, coupon_code)
        values
            (p_order_id, coalesce(p_sales_order_number, 'SO-' || p_order_id), p_customer_id,
             p_status, coalesce(p_total_amount, 0),
             case when order_status_is_success(p_status) then now() end,
             coalesce(p_created_at, now()), p_referral_code, upper(p_coupon_code))
        on conflict (id) do nothing
        returning o.* into v_order;
        if not found then
            -- A concurrent request recorded this order first: queue behind it and
            -- continue as an update of what it wrote.
            select o.status into v_prev from sales_orders o where o.id = p_order_id for no key update;
        end if;
    end if;

    if v_order.id is null then
        update sales_orders o
        set sales_order_number = coalesce(p_sales_order_number, o.sales_order_number),
            customer_id        = coalesce(o.customer_id, p_customer_id),
            status             = p_status,
            total_amount       = coalesce(p_total_amount, o.total_amount),
            referral_code      = coalesce(o.referral_code, p_referral_code),
            coupon_code        = coalesce(o.coupon_code, upper(p_coupon_code)),
            delivered_at       = case when order_status_is_success(p_status)
                                      then coalesce(o.delivered_at, now()) else o.delivered_at end,
            updated_at         = now()
        where o.id = p_order_id
          and (p_customer_id is null or o.customer_id is null or o.customer_id = p_customer_id)
        returning o.* into v_order;
        if not found then
            outcome := 'customer_conflict';
            previous_status := v_prev;
            return next;
            return;
        end if;
    end if;

    if order_status_is_success(v_order.status)
       and (v_prev is null or not order_status_is_success(v_prev))
       and v_order.customer_id is not null then
        select * into v_referral from customer_referrals r
        where r.referred_customer_id = v_order.customer_id and r.status = 'registered'
        for no key update;

        if found then
            v_reason := qualification_refusal(v_referral, v_order);

            if v_reason is null then
                perform complete_referral(v_referral.id, v_order.id, 'order_delivered');
                v_completed := v_referral.id;
            else
                perform log_referral_event('completion_skipped', v_referral, v_order.id,
                                           jsonb_build_object('reason', v_reason));
            end if;
        end if;

        -- The commission of the partner who brought the customer, if any (one index probe
        -- when nobody did).
        perform accrue_partner_commission(v_order);
    end if;

    -- The coupon the order carried is redeemed when the order is delivered, once: the
    -- status compare-and-set and the unique redeemed_order_id make a second redemption
    -- (by a concurrent order with the same code) impossible.
    if order_status_is_success(v_order.status)
       and (v_prev is null or not order_status_is_success(v_prev))
       and v_order.coupon_code is not null then
        perform redeem_coupon(v_order);
    end if;

    -- A qualifying order that is cancelled or returned reverses its referral: rewards in
    -- their hold are voided, released ones clawed back (reverse_referral).
    perform reverse_referral(r.id, v_order.id, completion_undone_by(r, v_order))
    from customer_referrals r
    where r.qualifying_order_id = v_order.id and r.status = 'completed'
      and completion_undone_by(r, v_order) is not null;
    -- And the order's partner commissions (only an order that is reversed or carries
    -- refunds can undo one; a delivery without refunds never gets here).
    if order_status_is_reversal(v_order.status) or v_order.refunded_amount > 0 then
        perform reverse_partner_commissions(v_order);
    end if;

    return query select 'applied'::order_outcome, v_prev, v_completed, v_order.id, v_order.sales_order_number,
        v_order.customer_id, v_order.status, v_order.total_amount, v_order.delivered_at,
        v_order.created_at, v_order.updated_at;
end
$$;

