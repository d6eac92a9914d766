-- The money core: the three operations that move money or complete a referral.
--
-- They are SQL functions so that each is one round trip and one atomic unit: an
-- application crash or a dropped connection can never leave a referral completed
-- without its reward, or a balance changed without its ledger row (TrustCart D5).
-- Row locks are always taken in the same order: order, referral, referrer's wallet,
-- referred customer's wallet.

-- Statuses in which the courier has delivered and the cash is collected.
create function order_status_is_success(s order_status_enum) returns boolean
language sql immutable parallel safe
return s in ('delivered', 'partial_delivered', 'completed');

-- Statuses that undo a delivery.
create function order_status_is_reversal(s order_status_enum) returns boolean
language sql immutable parallel safe
return s in ('cancelled', 'returned', 'admin_cancelled');

-- Posts one credit or debit to a customer's wallet, exactly once per (wallet, key).
--
-- Outcomes:
--   posted               the movement was applied; transaction_id is the new row
--   replayed             the key was used before with the same movement; transaction_id is the original
--   key_conflict         the key was used before for a different movement; nothing changed
--   insufficient_balance a debit larger than the balance; nothing changed
--   wallet_not_found     the customer has no wallet; nothing changed
create function post_wallet_transaction(
    p_customer_id     integer,
    p_type            varchar,
    p_amount          numeric,
    p_source          varchar,
    p_reference_id    integer,
    p_description     text,
    p_idempotency_key varchar)
returns table (outcome text, transaction_id integer)
language plpgsql as $$
declare
    v_wallet   customer_wallets%rowtype;
    v_existing wallet_transactions%rowtype;
    v_balance  numeric(12,2);
begin
    -- Every movement of one wallet queues on this row lock, so the key lookup below
    -- also sees a duplicate that committed while we waited (TrustCart D20).
    select * into v_wallet from customer_wallets w where w.customer_id = p_customer_id for update;
    if not found then
        return query select 'wallet_not_found', null::integer;
        return;
    end if;

    select * into v_existing from wallet_transactions t
    where t.wallet_id = v_wallet.id and t.idempotency_key = p_idempotency_key;
    if found then
        if (v_existing.transaction_type, v_existing.amount, v_existing.source,
            v_existing.reference_id, v_existing.description)
           is not distinct from (p_type, p_amount, p_source, p_reference_id, p_description) then
            return query select 'replayed', v_existing.id;
        else
            return query select 'key_conflict', v_existing.id;
        end if;
        return;
    end if;

    if p_type = 'debit' and v_wallet.balance < p_amount then
        return query select 'insufficient_balance', null::integer;
        return;
    end if;

    update customer_wallets w
    set balance      = w.balance + case when p_type = 'credit' then p_amount else -p_amount end,
        total_earned = w.total_earned + case when p_type = 'credit' then p_amount else 0 end,
        total_spent  = w.total_spent + case when p_type = 'debit' then p_amount else 0 end,
        updated_at   = now()
    where w.id = v_wallet.id
    returning w.balance into v_balance;

    return query
    insert into wallet_transactions as t
        (wallet_id, customer_id, idempotency_key, transaction_type, amount, source,
         reference_id, description, balance_after)
    values
        (v_wallet.id, p_customer_id, p_idempotency_key, p_type, p_amount, p_source,
         p_reference_id, p_description, v_balance)
    returning 'posted'::text, t.id;
end
$$;

-- Credits one side of a referral's wallet reward and logs it. Raises if the ledger
-- disagrees, which would mean a reward was paid outside this path.
create function credit_referral_side(
    r           customer_referrals,
    p_side      text,
    p_customer  integer,
    p_amount    numeric,
    p_order_id  integer)
returns void
language plpgsql as $$
declare
    v_outcome text;
    v_txn     integer;
begin
    select p.outcome, p.transaction_id into v_outcome, v_txn
    from post_wallet_transaction(
        p_customer, 'credit', p_amount, 'referral', r.id,
        case p_side when 'referrer' then 'Referral reward' else 'Referral welcome bonus' end,
        format('referral:%s:%s:wallet', r.id, p_side)) p;

    if v_outcome not in ('posted', 'replayed') then
        raise exception 'referral % % reward could not be credited: %', r.id, p_side, v_outcome;
    end if;

    if v_outcome = 'posted' then
        insert into referral_events
            (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
             share_code_used, source_channel, payload)
        values
            ('reward_credited', r.id, r.referrer_customer_id, r.referred_customer_id, p_order_id,
             r.share_code_used, r.source_channel,
             jsonb_build_object('side', p_side, 'rewardType', 'wallet',
                                'amount', p_amount, 'walletTransactionId', v_txn));
    end if;
end
$$;

-- Completes a registered referral and credits every reward it promised, in the
-- caller's transaction. Outcomes: completed, already_completed, not_registered, not_found.
create function complete_referral(p_referral_id integer, p_order_id integer, p_trigger text)
returns text
language plpgsql as $$
declare
    r            customer_referrals%rowtype;
    v_order_date timestamptz;
begin
    select * into r from customer_referrals where id = p_referral_id for update;
    if not found then
        return 'not_found';
    elsif r.status = 'completed' then
        return 'already_completed';
    elsif r.status <> 'registered' then
        return 'not_registered';
    end if;

    if p_order_id is not null then
        select o.created_at into v_order_date from sales_orders o where o.id = p_order_id;
    end if;

    update customer_referrals
    set status                   = 'completed',
        completed_at             = now(),
        qualifying_order_id      = p_order_id,
        first_order_placed       = p_order_id is not null,
        first_order_date         = v_order_date,
        reward_credited          = r.reward_type = 'wallet' and r.reward_amount > 0,
        referred_reward_credited = r.reward_type = 'wallet' and r.referred_reward_amount > 0
    where id = r.id;

    insert into referral_events
        (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
         share_code_used, source_channel, payload)
    values
        ('completed', r.id, r.referrer_customer_id, r.referred_customer_id, p_order_id,
         r.share_code_used, r.source_channel, jsonb_build_object('trigger', p_trigger));

    -- Other reward types are issued by the campaign engine; a wallet campaign pays
    -- each side whose promised amount is positive (a zero on one side never blocks
    -- the other, TrustCart D6).
    if r.reward_type = 'wallet' then
        if r.reward_amount > 0 then
            perform credit_referral_side(r, 'referrer', r.referrer_customer_id, r.reward_amount, p_order_id);
        end if;
        if r.referred_reward_amount > 0 then
            perform credit_referral_side(r, 'referred', r.referred_customer_id, r.referred_reward_amount, p_order_id);
        end if;
    end if;

    return 'completed';
end
$$;

-- Records an order's status as the shop's system knows it and, when the order first
-- reaches a successful status, completes the customer's referral if this order qualifies:
-- placed at or after the referral, and no other order of the customer ever succeeded.
--
-- p_upsert = true creates or updates the order (PUT); false only moves an existing
-- order's status (POST …/status). The order's customer can be set once, never changed;
-- its created_at is fixed when it is first recorded.
--
-- Outcomes: applied, order_not_found, customer_conflict.
create function apply_order_status(
    p_order_id           integer,
    p_status             order_status_enum,
    p_upsert             boolean,
    p_customer_id        integer,
    p_total_amount       numeric,
    p_sales_order_number varchar,
    p_created_at         timestamptz,
    p_referral_code      varchar)
returns table (
    outcome               text,
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
    v_prev     order_status_enum;
    v_completed integer;
    v_order    sales_orders%rowtype;
    v_referral customer_referrals%rowtype;
    v_reason   text;
begin
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
             referral_code)
        values
            (p_order_id, coalesce(p_sales_order_number, 'SO-' || p_order_id), p_customer_id,
             p_status, coalesce(p_total_amount, 0),
             case when order_status_is_success(p_status) then now() end,
             coalesce(p_created_at, now()), p_referral_code)
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
                            and order_status_is_success(o.status)) then
                v_reason := 'not_first_order';
            end if;

            if v_reason is null then
                perform complete_referral(v_referral.id, v_order.id, 'order_delivered');
                v_completed := v_referral.id;
            else
                insert into referral_events
                    (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
                     share_code_used, source_channel, payload)
                values
                    ('completion_skipped', v_referral.id, v_referral.referrer_customer_id,
                     v_referral.referred_customer_id, v_order.id, v_referral.share_code_used,
                     v_referral.source_channel, jsonb_build_object('reason', v_reason));
            end if;
        end if;
    end if;

    -- A qualifying order that is later cancelled or returned keeps its ledger rows;
    -- the reversal is logged so that clawback (a later, separate movement) can act on it.
    if order_status_is_reversal(v_order.status) and order_status_is_success(v_prev) then
        insert into referral_events
            (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
             share_code_used, source_channel, payload)
        select 'qualifying_order_reversed', r.id, r.referrer_customer_id, r.referred_customer_id,
               v_order.id, r.share_code_used, r.source_channel,
               jsonb_build_object('from', v_prev, 'to', v_order.status)
        from customer_referrals r
        where r.qualifying_order_id = v_order.id;
    end if;

    return query select 'applied'::text, v_prev, v_completed, v_order.id, v_order.sales_order_number,
        v_order.customer_id, v_order.status, v_order.total_amount, v_order.delivered_at,
        v_order.created_at, v_order.updated_at;
end
$$;
