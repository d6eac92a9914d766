-- Orders and coupons: recording an order's status (which completes referrals) and the
-- one rule deciding whether a coupon can be used. Live definitions of coupon_refusal,
-- redeem_coupon and apply_order_status (see migrations/README.md).
--
-- Changes from 20261126000004_money_core.sql:
--   * coupon_refusal is the only judge of a coupon, for the check at checkout
--     (POST /api/coupons/validate) and for the redemption at delivery; before, the two
--     disagreed about "first order", valid_from was checked in Rust only, and a void
--     coupon was reported as already redeemed;
--   * an order cannot be recorded for a deleted customer (customer_not_found);
--   * typed outcome (order_outcome) and events through log_referral_event.

drop function apply_order_status(integer, order_status_enum, boolean, integer, numeric, varchar, timestamptz, varchar, varchar);
drop function redeem_coupon(sales_orders);

-- Why coupon `p_code` cannot be used by customer `p_customer_id` on an order placed at
-- `p_at`, or null when it can. `p_order_id` is that order when it exists (at delivery):
-- "first order" means that no *other* order of the customer was ever delivered. With
-- `p_lock` the coupon's row is locked, for the redemption that follows.
create function coupon_refusal(
    p_code        text,
    p_customer_id integer,
    p_order_id    integer,
    p_at          timestamptz,
    p_lock        boolean default false)
returns table (refusal coupon_refusal, coupon_id integer, referral_id integer)
language plpgsql as $$
declare
    v_coupon coupons%rowtype;
begin
    if p_lock then
        select * into v_coupon from coupons where code = upper(p_code) for update;
    else
        select * into v_coupon from coupons where code = upper(p_code);
    end if;
    return query select
        case
            when v_coupon.id is null then 'not_found'
            -- Not "not_found": someone else's code must not be usable, and saying so
            -- leaks nothing the code itself did not.
            when v_coupon.customer_id is distinct from p_customer_id then 'not_yours'
            when v_coupon.status = 'redeemed' then 'already_redeemed'
            when v_coupon.status = 'void' then 'void'
            when v_coupon.valid_from > p_at then 'not_yet_valid'
            when v_coupon.valid_until is not null and v_coupon.valid_until <= p_at then 'expired'
            when v_coupon.first_order_only and exists (
                    select 1 from sales_orders x
                    where x.customer_id = p_customer_id and x.delivered_at is not null
                      and x.id is distinct from p_order_id) then 'not_first_order'
        end::coupon_refusal,
        v_coupon.id, v_coupon.referral_id;
end
$$;

-- Redeems the coupon a delivered order carried, or logs why it could not be.
create function redeem_coupon(o sales_orders) returns void
language plpgsql as $$
declare
    v_refusal  coupon_refusal;
    v_coupon   integer;
    v_referral integer;
begin
    -- A coupon is valid for an order placed while it was valid.
    select c.refusal, c.coupon_id, c.referral_id into v_refusal, v_coupon, v_referral
    from coupon_refusal(o.coupon_code, o.customer_id, o.id, o.created_at, true) c;
    if v_refusal is null then
        update coupons set status = 'redeemed', redeemed_order_id = o.id, redeemed_at = now()
        where id = v_coupon;
    end if;
    perform log_referral_event(
        case when v_refusal is null then 'coupon_redeemed' else 'coupon_not_redeemed' end::referral_event_type,
        p_referral_id => v_referral, p_referred_customer_id => o.customer_id, p_order_id => o.id,
        p_payload => jsonb_build_object('code', o.coupon_code, 'couponId', v_coupon, 'reason', v_refusal));
end
$$;

-- Records an order's status as the shop's system knows it and, when the order first
-- reaches a successful status, completes the customer's referral if this order qualifies:
-- placed at or after the referral, and no other order of the customer was ever delivered
-- (`delivered_at` is set once and kept, even if the order is later returned).
--
-- p_upsert = true creates or updates the order (PUT); false only moves an existing
-- order's status (POST …/status). The order's customer can be set once, never changed,
-- and must be a live customer; its created_at is fixed when it is first recorded.
create function apply_order_status(
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
    select o.status into v_prev from sales_orders o where o.id = p_order_id for update;

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
            select o.status into v_prev from sales_orders o where o.id = p_order_id for update;
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
        for update;

        if found then
            if v_order.created_at < v_referral.created_at then
                v_reason := 'order_before_referral';
            elsif exists (select 1 from sales_orders o
                          where o.customer_id = v_order.customer_id and o.id <> v_order.id
                            and o.delivered_at is not null) then
                v_reason := 'not_first_order';
            end if;

            if v_reason is null then
                perform complete_referral(v_referral.id, v_order.id, 'order_delivered');
                v_completed := v_referral.id;
            else
                perform log_referral_event('completion_skipped', v_referral, v_order.id,
                                           jsonb_build_object('reason', v_reason));
            end if;
        end if;
    end if;

    -- The coupon the order carried is redeemed when the order is delivered, once: the
    -- status compare-and-set and the unique redeemed_order_id make a second redemption
    -- (by a concurrent order with the same code) impossible.
    if order_status_is_success(v_order.status)
       and (v_prev is null or not order_status_is_success(v_prev))
       and v_order.coupon_code is not null then
        perform redeem_coupon(v_order);
    end if;

    -- A qualifying order that is later cancelled or returned keeps its ledger rows;
    -- the reversal is logged so that clawback (a later, separate movement) can act on it.
    if order_status_is_reversal(v_order.status) and order_status_is_success(v_prev) then
        perform log_referral_event('qualifying_order_reversed', r, v_order.id,
                                   jsonb_build_object('from', v_prev, 'to', v_order.status))
        from customer_referrals r
        where r.qualifying_order_id = v_order.id;
    end if;

    return query select 'applied'::order_outcome, v_prev, v_completed, v_order.id, v_order.sales_order_number,
        v_order.customer_id, v_order.status, v_order.total_amount, v_order.delivered_at,
        v_order.created_at, v_order.updated_at;
end
$$;
