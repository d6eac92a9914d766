-- The money core: the operations that move money, issue rewards or complete a referral.
--
-- Every function here takes row locks in one order: order, referral, the referrer's
-- customer row, campaign, wallets, memberships. That order keeps concurrent deliveries
-- free of deadlocks.
--
-- They are SQL functions so that each is one round trip and one atomic unit: an
-- application crash or a dropped connection can never leave a referral completed
-- without its rewards, or a balance changed without its ledger row (TrustCart D5).
-- Row locks are always taken in the same order: order, referral, referrer (limits),
-- campaign (budget), referrer's wallet, referred customer's wallet, memberships.

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
    p_idempotency_key varchar,
    p_created_by      varchar default 'system')
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
         reference_id, description, balance_after, created_by)
    values
        (v_wallet.id, p_customer_id, p_idempotency_key, p_type, p_amount, p_source,
         p_reference_id, p_description, v_balance, p_created_by)
    returning 'posted'::text, t.id;
end
$$;

-- Posts points to a customer's points ledger, exactly once per (customer, key).
-- Outcomes as post_wallet_transaction ('insufficient_points' for a redeem over the balance).
create function post_points_transaction(
    p_customer_id     integer,
    p_type            varchar,
    p_points          integer,
    p_source          varchar,
    p_reference_id    integer,
    p_description     text,
    p_idempotency_key varchar,
    p_created_by      varchar default 'system')
returns table (outcome text, transaction_id integer)
language plpgsql as $$
declare
    v_summary  customer_points%rowtype;
    v_existing point_transactions%rowtype;
    v_balance  integer;
begin
    select * into v_summary from customer_points p where p.customer_id = p_customer_id for update;
    if not found then
        return query select 'wallet_not_found', null::integer;
        return;
    end if;

    select * into v_existing from point_transactions t
    where t.customer_id = p_customer_id and t.idempotency_key = p_idempotency_key;
    if found then
        if (v_existing.transaction_type, v_existing.points, v_existing.source,
            v_existing.reference_id, v_existing.description)
           is not distinct from (p_type, p_points, p_source, p_reference_id, p_description) then
            return query select 'replayed', v_existing.id;
        else
            return query select 'key_conflict', v_existing.id;
        end if;
        return;
    end if;

    if p_type = 'redeem' and v_summary.active_points < p_points then
        return query select 'insufficient_points', null::integer;
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
    returning 'posted'::text, t.id;
end
$$;

-- A fresh code: the prefix and 8 characters without 0/O, 1/I/L or U, from the server's
-- strong random source (gen_random_uuid).
create function new_code(p_prefix text) returns text
language plpgsql volatile as $$
declare
    alphabet constant text := '23456789ABCDEFGHJKMNPQRSTVWXYZ';
    bytes    bytea := uuid_send(gen_random_uuid());
    code     text := p_prefix;
begin
    for i in 0..7 loop
        code := code || substr(alphabet, (get_byte(bytes, i) % 30) + 1, 1);
    end loop;
    return code;
end
$$;

-- A campaign's terms (with a variant's amounts, if any), as a referral snapshots them.
create function campaign_terms(p_campaign_id uuid, p_variant_id integer) returns jsonb
language sql stable as $$
    select jsonb_build_object(
        'campaign_id', c.id,
        'variant_id', v.id,
        'reward_type', c.reward_type,
        'reward_referrer_amount', coalesce(v.reward_referrer_amount, c.reward_referrer_amount),
        'reward_referred_amount', coalesce(v.reward_referred_amount, c.reward_referred_amount),
        'reward_referrer_percent', c.reward_referrer_percent,
        'reward_referred_percent', c.reward_referred_percent,
        'reward_referrer_cap', c.reward_referrer_cap,
        'reward_referred_cap', c.reward_referred_cap,
        'reward_referrer_points', coalesce(v.reward_referrer_points, c.reward_referrer_points),
        'reward_referred_points', coalesce(v.reward_referred_points, c.reward_referred_points),
        'referrer_free_product_id', c.referrer_free_product_id,
        'referrer_free_product_name', c.referrer_free_product_name,
        'referred_free_product_id', c.referred_free_product_id,
        'referred_free_product_name', c.referred_free_product_name,
        'min_order_amount', c.min_order_amount,
        'coupon_valid_days', c.coupon_valid_days,
        'vip_referrals_threshold', c.vip_referrals_threshold,
        'vip_membership_tier', c.vip_membership_tier)
    from referral_campaigns c
    left join referral_campaign_variants v on v.id = p_variant_id and v.campaign_id = c.id
    where c.id = p_campaign_id
$$;

-- One side's amount under the terms: fixed, or a capped percentage of the order.
create function reward_amount(p_terms jsonb, p_side text, p_order_total numeric) returns numeric
language sql immutable as $$
    select case
        when p_terms ->> ('reward_' || p_side || '_percent') is null
            then coalesce((p_terms ->> ('reward_' || p_side || '_amount'))::numeric, 0)
        when p_order_total is null then 0
        else least(
            round(p_order_total * (p_terms ->> ('reward_' || p_side || '_percent'))::numeric / 100, 2),
            coalesce((p_terms ->> ('reward_' || p_side || '_cap'))::numeric, 'Infinity'::numeric))
    end
$$;

-- Records one reward decision; a decision already recorded for this referral, side and
-- kind is kept (the unique constraint makes each reward happen at most once).
create function record_reward(
    r customer_referrals, p_side text, p_kind text, p_status text, p_reason text,
    p_amount numeric, p_points integer, p_coupon_id integer, p_wallet_txn integer,
    p_points_txn integer, p_tier text)
returns void
language sql as $$
    insert into referral_rewards
        (referral_id, campaign_id, variant_id, side, kind, status, reason, amount, points,
         coupon_id, wallet_transaction_id, point_transaction_id, membership_tier)
    values
        (r.id, r.campaign_id, r.variant_id, p_side, p_kind, p_status, p_reason, p_amount, p_points,
         p_coupon_id, p_wallet_txn, p_points_txn, p_tier)
    on conflict on constraint referral_rewards_once do nothing
$$;

-- Issues a single-use coupon (a discount, or a free product) to one side of a referral.
create function issue_referral_coupon(r customer_referrals, p_side text, p_customer integer, p_amount numeric)
returns void
language plpgsql as $$
declare
    v_terms      jsonb := r.reward_terms;
    v_free       boolean := v_terms ->> 'reward_type' = 'free_product';
    v_percent    numeric := (v_terms ->> ('reward_' || p_side || '_percent'))::numeric;
    v_product_id integer := (v_terms ->> (p_side || '_free_product_id'))::integer;
    v_coupon     integer;
    v_reward     bigint;
begin
    if (v_free and v_product_id is null) or (not v_free and coalesce(v_percent, p_amount) <= 0) then
        return;
    end if;
    -- The decision first: if this referral, side and kind already has one, nothing more
    -- is issued (the unique constraint makes the coupon once-only, not luck).
    insert into referral_rewards
        (referral_id, campaign_id, variant_id, side, kind, status, amount)
    values
        (r.id, r.campaign_id, r.variant_id, p_side, case when v_free then 'free_product' else 'coupon' end,
         'issued', case when v_percent is null and not v_free then p_amount end)
    on conflict on constraint referral_rewards_once do nothing
    returning id into v_reward;
    if v_reward is null then
        return;
    end if;
    insert into coupons
        (code, customer_id, referral_id, kind, discount_type, discount_value, max_discount,
         product_id, product_name, first_order_only, valid_until)
    values
        (new_code(case when v_free then 'FREE' else 'CPN' end), p_customer, r.id,
         case when v_free then 'free_product' else 'discount' end,
         case when v_free then null when v_percent is not null then 'percent' else 'fixed' end,
         case when v_free then null else coalesce(v_percent, p_amount) end,
         case when v_percent is not null then (v_terms ->> ('reward_' || p_side || '_cap'))::numeric end,
         v_product_id, v_terms ->> (p_side || '_free_product_name'),
         -- The friend's welcome coupon is for their first order only.
         p_side = 'referred',
         now() + make_interval(days => coalesce((v_terms ->> 'coupon_valid_days')::integer, 30)))
    returning id into v_coupon;
    update referral_rewards set coupon_id = v_coupon where id = v_reward;
    insert into referral_events
        (event_type, referral_id, referrer_customer_id, referred_customer_id, share_code_used,
         source_channel, payload)
    values
        (case when v_free then 'reward_issued_free_product' else 'reward_issued_coupon' end,
         r.id, r.referrer_customer_id, r.referred_customer_id, r.share_code_used, r.source_channel,
         jsonb_build_object('side', p_side, 'couponId', v_coupon));
end
$$;

-- The friend's welcome rewards, issued when they register through a referral: a
-- coupon or free product for their first order, if the campaign promises one.
create function issue_welcome_rewards(p_referral_id integer) returns void
language plpgsql as $$
declare
    r customer_referrals%rowtype;
begin
    select * into r from customer_referrals where id = p_referral_id for update;
    if r.referred_customer_id is not null and r.reward_terms ->> 'reward_type' in ('coupon', 'free_product') then
        perform issue_referral_coupon(r, 'referred', r.referred_customer_id,
                                      reward_amount(r.reward_terms, 'referred', null));
    end if;
end
$$;

-- Why a completed referral's rewards cannot be issued, or null when they can. The caller
-- holds the referrer's row lock (limits); this takes the campaign's row lock (budget),
-- only for campaigns with a budget. Both are "no key update" locks, which foreign-key
-- checks (key share) never wait for.
create function reward_gate(r customer_referrals, p_order sales_orders, p_cash numeric)
returns text
language plpgsql as $$
declare
    v_campaign referral_campaigns%rowtype;
    v_day      integer;
    v_month    integer;
    v_lifetime integer;
begin
    if p_order.id is not null
       and p_order.total_amount < coalesce((r.reward_terms ->> 'min_order_amount')::numeric, 0) then
        return 'below_minimum';
    end if;
    if r.campaign_id is null then
        return null;
    end if;
    select * into v_campaign from referral_campaigns where id = r.campaign_id;
    if not found then
        return null;
    end if;

    if r.referrer_customer_id is not null
       and coalesce(v_campaign.referrer_daily_limit, v_campaign.referrer_monthly_limit,
                    v_campaign.referrer_lifetime_limit) is not null then
        -- The caller holds the referrer's row lock, so these counts stay true until commit.
        select count(distinct rr.referral_id) filter (where rr.created_at > now() - interval '1 day'),
               count(distinct rr.referral_id) filter (where rr.created_at > now() - interval '1 month'),
               count(distinct rr.referral_id)
          into v_day, v_month, v_lifetime
        from referral_rewards rr
        join customer_referrals c2 on c2.id = rr.referral_id
        where c2.referrer_customer_id = r.referrer_customer_id and c2.campaign_id = r.campaign_id
          and rr.side = 'referrer' and rr.status = 'issued';
        if v_day >= coalesce(v_campaign.referrer_daily_limit, 2147483647)
           or v_month >= coalesce(v_campaign.referrer_monthly_limit, 2147483647)
           or v_lifetime >= coalesce(v_campaign.referrer_lifetime_limit, 2147483647) then
            return 'referrer_limit_reached';
        end if;
    end if;

    -- Only a campaign with a budget is locked and counted: campaigns without one never
    -- make concurrent deliveries queue on a shared row.
    if v_campaign.budget_count is not null or v_campaign.budget_amount is not null then
        select * into v_campaign from referral_campaigns where id = r.campaign_id for no key update;
        if v_campaign.spent_count + 1 > coalesce(v_campaign.budget_count, 2147483647)
           or v_campaign.spent_amount + p_cash > coalesce(v_campaign.budget_amount, 'Infinity'::numeric) then
            return 'budget_exhausted';
        end if;
        update referral_campaigns
        set spent_count = spent_count + 1, spent_amount = spent_amount + p_cash
        where id = r.campaign_id;
    end if;
    return null;
end
$$;

-- Completes a referral: issues every reward it earned under its snapshotted terms,
-- records each decision (issued, or skipped with its reason) in referral_rewards, marks
-- the referral completed, then raises the referrer's tier and pays milestones.
create function issue_completion_rewards(r customer_referrals, p_order sales_orders) returns void
language plpgsql as $$
declare
    v_terms    jsonb := r.reward_terms;
    v_type     text := coalesce(v_terms ->> 'reward_type', r.reward_type);
    v_total    numeric := p_order.total_amount;
    v_referrer_amount numeric;
    v_referred_amount numeric;
    v_referrer_points integer := coalesce((v_terms ->> 'reward_referrer_points')::integer, 0);
    v_referred_points integer := coalesce((v_terms ->> 'reward_referred_points')::integer, 0);
    v_gate     text;
    v_side     text;
    v_customer integer;
    v_amount   numeric;
    v_points   integer;
    v_outcome  text;
    v_txn      integer;
begin
    -- One completion at a time per referrer: limits, milestones and VIP thresholds count
    -- the referrer's completed referrals, and those counts must hold until commit.
    if r.referrer_customer_id is not null then
        perform 1 from customers where id = r.referrer_customer_id for no key update;
    end if;

    if v_terms = '{}'::jsonb then
        -- A referral made without a campaign promises what its columns say.
        v_referrer_amount := r.reward_amount;
        v_referred_amount := r.referred_reward_amount;
    else
        v_referrer_amount := reward_amount(v_terms, 'referrer', v_total);
        v_referred_amount := reward_amount(v_terms, 'referred', v_total);
    end if;
    if r.referrer_customer_id is null then
        v_referrer_amount := 0;
        v_referrer_points := 0;
    end if;

    -- Nothing promised, nothing to gate.
    if (v_type in ('wallet', 'coupon') and v_referrer_amount + v_referred_amount > 0)
       or (v_type = 'points' and v_referrer_points + v_referred_points > 0)
       or (v_type = 'free_product' and r.referrer_customer_id is not null
           and v_terms ->> 'referrer_free_product_id' is not null) then
        v_gate := reward_gate(r, p_order, case when v_type = 'wallet' then v_referrer_amount + v_referred_amount else 0 end);
    end if;

    foreach v_side in array array['referrer', 'referred'] loop
        v_customer := case v_side when 'referrer' then r.referrer_customer_id else r.referred_customer_id end;
        v_amount := case v_side when 'referrer' then v_referrer_amount else v_referred_amount end;
        v_points := case v_side when 'referrer' then v_referrer_points else v_referred_points end;
        continue when v_customer is null;

        if v_type = 'wallet' and v_amount > 0 then
            if v_gate is not null then
                perform record_reward(r, v_side, 'wallet', 'skipped', v_gate, v_amount, null, null, null, null, null);
                continue;
            end if;
            select p.outcome, p.transaction_id into v_outcome, v_txn
            from post_wallet_transaction(v_customer, 'credit', v_amount, 'referral', r.id,
                 case v_side when 'referrer' then 'Referral reward' else 'Referral welcome bonus' end,
                 format('referral:%s:%s:wallet', r.id, v_side)) p;
            if v_outcome not in ('posted', 'replayed') then
                raise exception 'referral % % wallet reward could not be credited: %', r.id, v_side, v_outcome;
            end if;
            perform record_reward(r, v_side, 'wallet', 'issued', null, v_amount, null, null, v_txn, null, null);
            insert into referral_events
                (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
                 share_code_used, source_channel, payload)
            values
                ('reward_credited', r.id, r.referrer_customer_id, r.referred_customer_id, p_order.id,
                 r.share_code_used, r.source_channel,
                 jsonb_build_object('side', v_side, 'rewardType', 'wallet', 'amount', v_amount,
                                    'walletTransactionId', v_txn));

        elsif v_type = 'points' and v_points > 0 then
            if v_gate is not null then
                perform record_reward(r, v_side, 'points', 'skipped', v_gate, null, v_points, null, null, null, null);
                continue;
            end if;
            select p.outcome, p.transaction_id into v_outcome, v_txn
            from post_points_transaction(v_customer, 'earn', v_points, 'referral', r.id,
                 case v_side when 'referrer' then 'Referral reward (points)' else 'Referral welcome bonus (points)' end,
                 format('referral:%s:%s:points', r.id, v_side)) p;
            if v_outcome not in ('posted', 'replayed') then
                raise exception 'referral % % points could not be credited: %', r.id, v_side, v_outcome;
            end if;
            perform record_reward(r, v_side, 'points', 'issued', null, null, v_points, null, null, v_txn, null);
            insert into referral_events
                (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
                 share_code_used, source_channel, payload)
            values
                ('reward_credited', r.id, r.referrer_customer_id, r.referred_customer_id, p_order.id,
                 r.share_code_used, r.source_channel,
                 jsonb_build_object('side', v_side, 'rewardType', 'points', 'points', v_points,
                                    'pointTransactionId', v_txn));

        -- The friend's coupon or free product came at registration; the referrer's comes now.
        elsif v_type in ('coupon', 'free_product') and v_side = 'referrer' then
            if v_gate is not null then
                perform record_reward(r, v_side, v_type, 'skipped', v_gate, v_amount, null, null, null, null, null);
                continue;
            end if;
            perform issue_referral_coupon(r, v_side, v_customer, v_amount);
        end if;
    end loop;

    -- One write completes the referral: its status, the qualifying order, the amounts
    -- actually earned (a percentage became taka above) and what was paid.
    update customer_referrals rr
    set status = 'completed',
        completed_at = now(),
        qualifying_order_id = p_order.id,
        first_order_placed = p_order.id is not null,
        first_order_date = p_order.created_at,
        reward_amount = case when v_type = 'wallet' then v_referrer_amount else rr.reward_amount end,
        referred_reward_amount = case when v_type = 'wallet' then v_referred_amount else rr.referred_reward_amount end,
        reward_credited = exists (select 1 from referral_rewards x
                                  where x.referral_id = rr.id and x.side = 'referrer' and x.status = 'issued'),
        referred_reward_credited = exists (select 1 from referral_rewards x
                                           where x.referral_id = rr.id and x.side = 'referred' and x.status = 'issued')
    where rr.id = r.id;

    if r.referrer_customer_id is not null then
        perform raise_vip_tier(r);
        perform award_milestones(r);
    end if;
end
$$;

-- Raises the referrer's membership tier when their completed referrals reach the
-- campaign's threshold. Never lowers a tier; pays no money.
create function raise_vip_tier(r customer_referrals) returns void
language plpgsql as $$
declare
    v_threshold integer := (r.reward_terms ->> 'vip_referrals_threshold')::integer;
    v_tier      text := coalesce(r.reward_terms ->> 'vip_membership_tier', 'gold');
    v_completed integer;
    v_rank      constant text[] := array['none', 'silver', 'gold', 'permanent'];
    v_current   text;
begin
    if v_threshold is null then
        return;
    end if;
    select count(*) into v_completed from customer_referrals
    where referrer_customer_id = r.referrer_customer_id and status = 'completed';
    if v_completed < v_threshold then
        return;
    end if;
    select membership_tier into v_current from customer_memberships
    where customer_id = r.referrer_customer_id for update;
    if array_position(v_rank, coalesce(v_current, 'none')) >= array_position(v_rank, v_tier) then
        return;
    end if;
    insert into customer_memberships (customer_id, membership_tier, tier_achieved_at, tier_source)
    values (r.referrer_customer_id, v_tier, now(), 'referral')
    on conflict on constraint customer_memberships_customer_id_key do update
    set membership_tier = excluded.membership_tier, tier_achieved_at = now(),
        tier_source = 'referral', updated_at = now();
    perform set_tier_benefits(r.referrer_customer_id);
    perform record_reward(r, 'referrer', 'membership', 'issued', null, null, null, null, null, null, v_tier);
    insert into referral_events
        (event_type, referral_id, referrer_customer_id, referred_customer_id, payload)
    values
        ('vip_tier_upgraded', r.id, r.referrer_customer_id, r.referred_customer_id,
         jsonb_build_object('from', coalesce(v_current, 'none'), 'to', v_tier,
                            'completedReferrals', v_completed, 'tags', jsonb_build_array('vip', 'referral')));
end
$$;

-- The benefits that go with a tier: discount, free deliveries, price lock, card number.
create function set_tier_benefits(p_customer_id integer) returns void
language sql as $$
    update customer_memberships m
    set discount_percentage = case m.membership_tier
            when 'permanent' then 12 when 'gold' then 10 when 'silver' then 4 else 0 end,
        free_delivery_count = case m.membership_tier
            when 'permanent' then 2 when 'gold' then 1 else 0 end,
        price_lock_enabled = m.membership_tier in ('gold', 'permanent'),
        permanent_card_number = case
            when m.membership_tier = 'permanent'
                then coalesce(m.permanent_card_number,
                              format('PERM-%s-%s', m.customer_id, substr(new_code(''), 1, 6)))
            else m.permanent_card_number end,
        updated_at = now()
    where m.customer_id = p_customer_id
$$;

-- Wallet cash for every milestone of the campaign the referrer has now reached ("refer
-- 3 friends, get ৳100"), once per milestone.
create function award_milestones(r customer_referrals) returns void
language plpgsql as $$
declare
    v_completed integer;
    m           referral_campaign_milestones%rowtype;
    v_award     integer;
    v_campaign  referral_campaigns%rowtype;
    v_outcome   text;
    v_txn       integer;
begin
    if r.campaign_id is null
       or not exists (select 1 from referral_campaign_milestones where campaign_id = r.campaign_id) then
        return;
    end if;
    -- Referrals whose referrer reward was refused (minimum, limits, budget) do not count.
    select count(*) into v_completed from customer_referrals cr
    where cr.referrer_customer_id = r.referrer_customer_id and cr.campaign_id = r.campaign_id
      and cr.status = 'completed'
      and not exists (select 1 from referral_rewards x
                      where x.referral_id = cr.id and x.side = 'referrer' and x.status = 'skipped');
    for m in
        select * from referral_campaign_milestones ms
        where ms.campaign_id = r.campaign_id and ms.referral_count <= v_completed
          and not exists (select 1 from milestone_awards a
                          where a.milestone_id = ms.id and a.customer_id = r.referrer_customer_id)
        order by ms.referral_count
    loop
        -- Milestone cash counts against the campaign's money budget; a milestone the
        -- budget cannot pay waits, and is tried again at the referrer's next completion.
        select * into v_campaign from referral_campaigns where id = r.campaign_id for no key update;
        continue when v_campaign.budget_amount is not null
                  and v_campaign.spent_amount + m.reward_amount > v_campaign.budget_amount;
        insert into milestone_awards (milestone_id, customer_id, referral_id)
        values (m.id, r.referrer_customer_id, r.id)
        on conflict on constraint milestone_awards_once do nothing
        returning id into v_award;
        continue when v_award is null;
        if v_campaign.budget_amount is not null then
            update referral_campaigns set spent_amount = spent_amount + m.reward_amount
            where id = r.campaign_id;
        end if;
        select p.outcome, p.transaction_id into v_outcome, v_txn
        from post_wallet_transaction(r.referrer_customer_id, 'credit', m.reward_amount, 'referral', r.id,
             format('Referral milestone: %s friends', m.referral_count),
             format('milestone:%s:wallet', m.id)) p;
        if v_outcome not in ('posted', 'replayed') then
            raise exception 'milestone % could not be credited: %', m.id, v_outcome;
        end if;
        update milestone_awards set wallet_transaction_id = v_txn where id = v_award;
        insert into referral_events
            (event_type, referral_id, referrer_customer_id, payload)
        values
            ('milestone_reached', r.id, r.referrer_customer_id,
             jsonb_build_object('milestoneId', m.id, 'referralCount', m.referral_count,
                                'amount', m.reward_amount, 'walletTransactionId', v_txn));
    end loop;
end
$$;

-- Completes a registered referral and issues every reward it earned, in the caller's
-- transaction. Outcomes: completed, already_completed, not_registered, not_found.
create function complete_referral(p_referral_id integer, p_order_id integer, p_trigger text)
returns text
language plpgsql as $$
declare
    r       customer_referrals%rowtype;
    v_order sales_orders%rowtype;
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
        select * into v_order from sales_orders o where o.id = p_order_id;
    end if;

    insert into referral_events
        (event_type, referral_id, referrer_customer_id, referred_customer_id, order_id,
         share_code_used, source_channel, payload)
    values
        ('completed', r.id, r.referrer_customer_id, r.referred_customer_id, p_order_id,
         r.share_code_used, r.source_channel, jsonb_build_object('trigger', p_trigger));

    perform issue_completion_rewards(r, v_order);
    return 'completed';
end
$$;

-- Redeems the coupon a delivered order carried, or logs why it could not be.
create function redeem_coupon(o sales_orders) returns void
language plpgsql as $$
declare
    v_coupon coupons%rowtype;
    v_reason text;
begin
    select * into v_coupon from coupons where code = o.coupon_code for update;
    if not found then
        v_reason := 'not_found';
    elsif v_coupon.customer_id is distinct from o.customer_id then
        v_reason := 'not_yours';
    elsif v_coupon.status <> 'active' then
        v_reason := 'already_redeemed';
    elsif v_coupon.valid_until is not null and v_coupon.valid_until < o.created_at then
        v_reason := 'expired';
    elsif v_coupon.first_order_only and exists (
            select 1 from sales_orders x
            where x.customer_id = o.customer_id and x.id <> o.id and x.delivered_at is not null) then
        v_reason := 'not_first_order';
    end if;

    if v_reason is null then
        update coupons set status = 'redeemed', redeemed_order_id = o.id, redeemed_at = now()
        where id = v_coupon.id;
    end if;
    insert into referral_events (event_type, referral_id, referred_customer_id, order_id, payload)
    values (case when v_reason is null then 'coupon_redeemed' else 'coupon_not_redeemed' end,
            v_coupon.referral_id, o.customer_id, o.id,
            jsonb_build_object('code', o.coupon_code, 'couponId', v_coupon.id, 'reason', v_reason));
end
$$;

-- Records an order's status as the shop's system knows it and, when the order first
-- reaches a successful status, completes the customer's referral if this order qualifies:
-- placed at or after the referral, and no other order of the customer was ever delivered
-- (`delivered_at` is set once and kept, even if the order is later returned).
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
    p_referral_code      varchar,
    p_coupon_code        varchar)
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
