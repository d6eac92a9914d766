-- The ledgers: posting to a wallet or a points balance, exactly once per key, and the one
-- function that appends to the referral event log. Live definitions of
-- post_wallet_transaction, post_points_transaction and log_referral_event (see
-- migrations/README.md for where every function lives).
--
-- Changes from 20261126000004_money_core.sql:
--   * typed arguments and a typed outcome (posting_outcome), the same for both ledgers;
--   * a deleted customer's wallet or points cannot be moved (account_not_found), as
--     they can no longer be read.

drop function post_wallet_transaction(integer, varchar, numeric, varchar, integer, text, varchar, varchar);
drop function post_points_transaction(integer, varchar, integer, varchar, integer, text, varchar, varchar);

-- Posts one credit or debit to a live customer's wallet, exactly once per (wallet, key).
--
-- Outcomes:
--   posted             the movement was applied; transaction_id is the new row
--   replayed           the key was used before with the same movement; transaction_id is the original
--   key_conflict       the key was used before for a different movement; nothing changed
--   insufficient_funds a debit larger than the balance; nothing changed
--   account_not_found  no live customer has this wallet; nothing changed
create function post_wallet_transaction(
    p_customer_id     integer,
    p_type            wallet_transaction_type,
    p_amount          numeric,
    p_source          wallet_source,
    p_reference_id    integer,
    p_description     text,
    p_idempotency_key varchar,
    p_created_by      varchar default 'system')
returns table (outcome posting_outcome, transaction_id integer)
language plpgsql as $$
declare
    v_wallet   customer_wallets%rowtype;
    v_existing wallet_transactions%rowtype;
    v_balance  numeric(12,2);
begin
    -- Every movement of one wallet queues on this row lock, so the key lookup below
    -- also sees a duplicate that committed while we waited (TrustCart D20).
    select w.* into v_wallet
    from customer_wallets w
    join customers c on c.id = w.customer_id and not c.is_deleted
    where w.customer_id = p_customer_id
    for update of w;
    if not found then
        return query select 'account_not_found'::posting_outcome, null::integer;
        return;
    end if;

    select * into v_existing from wallet_transactions t
    where t.wallet_id = v_wallet.id and t.idempotency_key = p_idempotency_key;
    if found then
        return query select
            case when (v_existing.transaction_type, v_existing.amount, v_existing.source,
                       v_existing.reference_id, v_existing.description)
                      is not distinct from (p_type, p_amount, p_source, p_reference_id, p_description)
                 then 'replayed'::posting_outcome else 'key_conflict'::posting_outcome end,
            v_existing.id;
        return;
    end if;

    if p_type = 'debit' and v_wallet.balance < p_amount then
        return query select 'insufficient_funds'::posting_outcome, null::integer;
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
         reference_id, description, balance_after, created_by)
    values
        (v_wallet.id, p_customer_id, p_idempotency_key, p_type, p_amount, p_source,
         p_reference_id, p_description, v_balance, p_created_by)
    returning 'posted'::posting_outcome, t.id;
end
$$;

-- Posts points to a live customer's points ledger, exactly once per (customer, key).
-- Outcomes as post_wallet_transaction (insufficient_funds for a redemption over the balance).
create function post_points_transaction(
    p_customer_id     integer,
    p_type            points_transaction_type,
    p_points          integer,
    p_source          varchar,
    p_reference_id    integer,
    p_description     text,
    p_idempotency_key varchar,
    p_created_by      varchar default 'system')
returns table (outcome posting_outcome, transaction_id integer)
language plpgsql as $$
declare
    v_summary  customer_points%rowtype;
    v_existing point_transactions%rowtype;
    v_balance  integer;
begin
    select p.* into v_summary
    from customer_points p
    join customers c on c.id = p.customer_id and not c.is_deleted
    where p.customer_id = p_customer_id
    for update of p;
    if not found then
        return query select 'account_not_found'::posting_outcome, null::integer;
        return;
    end if;

    select * into v_existing from point_transactions t
    where t.customer_id = p_customer_id and t.idempotency_key = p_idempotency_key;
    if found then
        return query select
            case when (v_existing.transaction_type, v_existing.points, v_existing.source,
                       v_existing.reference_id, v_existing.description)
                      is not distinct from (p_type, p_points, p_source, p_reference_id, p_description)
                 then 'replayed'::posting_outcome else 'key_conflict'::posting_outcome end,
            v_existing.id;
        return;
    end if;

    if p_type = 'redeem' and v_summary.active_points < p_points then
        return query select 'insufficient_funds'::posting_outcome, null::integer;
        return;
    end if;

    update customer_points p
    set active_points     = p.active_points + case when p_type = 'earn' then p_points else -p_points end,
        lifetime_earned   = p.lifetime_earned + case when p_type = 'earn' then p_points else 0 end,
        lifetime_redeemed = p.lifetime_redeemed + case when p_type = 'redeem' then p_points else 0 end,
        updated_at        = now()
    where p.id = v_summary.id
    returning p.active_points into v_balance;

    return query
    insert into point_transactions as t
        (customer_id, idempotency_key, transaction_type, points, source, reference_id,
         description, balance_after, created_by)
    values
        (p_customer_id, p_idempotency_key, p_type, p_points, p_source, p_reference_id,
         p_description, v_balance, p_created_by)
    returning 'posted'::posting_outcome, t.id;
end
$$;

-- Appends one row to the referral event log. The only writer of referral_events: SQL
-- functions call it directly (or through the referral overload below), and the server's
-- `db::events::record` calls it too.
create function log_referral_event(
    p_type                 referral_event_type,
    p_referral_id          integer default null,
    p_referrer_customer_id integer default null,
    p_referred_customer_id integer default null,
    p_order_id             integer default null,
    p_share_code_used      varchar default null,
    p_partner_code         varchar default null,
    p_source_channel       varchar default null,
    p_payload              jsonb default '{}')
returns void
language sql as $$
    insert into referral_events
        (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
         share_code_used, partner_code, source_channel, payload)
    values
        (p_type, p_referral_id, p_referrer_customer_id, p_referred_customer_id, p_order_id,
         p_share_code_used, p_partner_code, p_source_channel, coalesce(p_payload, '{}'))
$$;

-- The same, about referral `r`: its ids, code and channel are copied onto the event.
create function log_referral_event(
    p_type     referral_event_type,
    r          customer_referrals,
    p_order_id integer,
    p_payload  jsonb)
returns void
language sql as $$
    select log_referral_event(
        p_type, r.id, r.referrer_customer_id, r.referred_customer_id, p_order_id,
        r.share_code_used, null, r.source_channel, p_payload)
$$;
