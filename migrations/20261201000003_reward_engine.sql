-- The reward engine: what a referral promised (its snapshotted terms), completing it, and
-- issuing every reward it earned. Live definitions of campaign_terms, reward_amount,
-- spend_budget, reward_gate, record_reward, issue_referral_coupon, issue_welcome_rewards,
-- issue_completion_rewards, award_milestones, raise_vip_tier, set_tier_benefits and
-- complete_referral (see migrations/README.md).
--
-- Lock order, kept by every function here and by the order functions that call them:
--   order → referral → the referrer's customer row (limits, milestones, VIP counts)
--   → campaign (only when it has a budget, only in spend_budget) → wallets and points
--   (the referrer's, then the referred customer's) → membership.
-- A test runs completions, milestones, budgets and operators' postings at once and
-- checks that PostgreSQL detected no deadlock.
--
-- Changes from 20261126000004_money_core.sql:
--   * typed values throughout (reward_kind, referral_side, reward_status, …);
--   * "a percentage overrides a fixed amount" is decided once, when the terms are
--     snapshotted (campaign_terms): a side's terms carry an amount or a percentage,
--     never both, so no reader has to know the rule;
--   * one budget behaviour (spend_budget): a reward or a milestone the budget cannot pay
--     is recorded as skipped with `budget_exhausted`, never retried;
--   * milestones are decided before any wallet is posted (the lock order above), and
--     only budgeted campaigns are locked;
--   * a reward to a customer who was deleted meanwhile is skipped (`customer_deleted`);
--   * every event goes through log_referral_event.

drop function complete_referral(integer, integer, text);
drop function issue_completion_rewards(customer_referrals, sales_orders);
drop function award_milestones(customer_referrals);
drop function raise_vip_tier(customer_referrals);
drop function set_tier_benefits(integer);
drop function reward_gate(customer_referrals, sales_orders, numeric);
drop function issue_welcome_rewards(integer);
drop function issue_referral_coupon(customer_referrals, text, integer, numeric);
drop function record_reward(customer_referrals, text, text, text, text, numeric, integer, integer, integer, integer, text);
drop function reward_amount(jsonb, text, numeric);
drop function campaign_terms(uuid, integer);

-- A campaign's terms (with a variant's amounts, if any), as a referral snapshots them. A
-- side with a percentage carries no fixed amount: the percentage (of the qualifying order,
-- capped) is what it pays.
create function campaign_terms(p_campaign_id uuid, p_variant_id integer) returns jsonb
language sql stable as $$
    select jsonb_build_object(
        'campaign_id', c.id,
        'variant_id', v.id,
        'reward_type', c.reward_type,
        'reward_referrer_amount', case when c.reward_referrer_percent is null
            then coalesce(v.reward_referrer_amount, c.reward_referrer_amount) end,
        'reward_referred_amount', case when c.reward_referred_percent is null
            then coalesce(v.reward_referred_amount, c.reward_referred_amount) end,
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

-- Snapshots taken before this migration could carry both an amount and a percentage (the
-- percentage won). Say the same thing the new way: the amount of a percentage side is gone.
update customer_referrals
set reward_terms = reward_terms || jsonb_build_object('reward_referrer_amount', null)
where reward_terms ->> 'reward_referrer_percent' is not null;
update customer_referrals
set reward_terms = reward_terms || jsonb_build_object('reward_referred_amount', null)
where reward_terms ->> 'reward_referred_percent' is not null;

-- One side's amount under the terms: its fixed amount, or its percentage of the order
-- (rounded to the poisha) up to its cap. Nothing for a percentage without an order.
create function reward_amount(p_terms jsonb, p_side referral_side, p_order_total numeric) returns numeric
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

-- The one home of the budget rule. When campaign `p_campaign_id` has a budget, takes
-- `p_amount` taka and `p_count` rewards from it under the campaign's row lock and says
-- true, or takes nothing and says false when the budget cannot pay. A campaign without a
-- budget is neither read for update nor locked, so its deliveries never queue on it.
-- Referral rewards and milestones both come here; whatever the budget cannot pay is
-- recorded as skipped with `budget_exhausted` by the caller, and never retried.
create function spend_budget(p_campaign_id uuid, p_amount numeric, p_count integer) returns boolean
language plpgsql as $$
declare
    v_campaign referral_campaigns%rowtype;
begin
    if p_campaign_id is null
       or not exists (select 1 from referral_campaigns
                      where id = p_campaign_id
                        and (budget_amount is not null or budget_count is not null)) then
        return true;
    end if;
    -- "No key update": foreign-key checks (key share) never wait for this lock.
    select * into v_campaign from referral_campaigns where id = p_campaign_id for no key update;
    if v_campaign.spent_count + p_count > coalesce(v_campaign.budget_count, 2147483647)
       or v_campaign.spent_amount + p_amount > coalesce(v_campaign.budget_amount, 'Infinity'::numeric) then
        return false;
    end if;
    update referral_campaigns
    set spent_count = spent_count + p_count, spent_amount = spent_amount + p_amount
    where id = p_campaign_id;
    return true;
end
$$;

-- Why a completed referral's rewards cannot be issued, or null when they can: the
-- qualifying order's minimum, the referrer's limits (the caller holds the referrer's row
-- lock, so the counts stay true until commit), then the budget.
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

    if not spend_budget(r.campaign_id, p_cash, 1) then
        return 'budget_exhausted';
    end if;
    return null;
end
$$;

-- Records one reward decision; a decision already recorded for this referral, side and
-- kind is kept (the unique constraint makes each reward happen at most once).
create function record_reward(
    r customer_referrals, p_side referral_side, p_kind reward_kind, p_status reward_status,
    p_reason text, p_amount numeric, p_points integer, p_coupon_id integer,
    p_wallet_txn integer, p_points_txn integer, p_tier membership_tier)
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
create function issue_referral_coupon(r customer_referrals, p_side referral_side, p_customer integer, p_amount numeric)
returns void
language plpgsql as $$
declare
    v_terms      jsonb := r.reward_terms;
    v_free       boolean := v_terms ->> 'reward_type' = 'free_product';
    v_kind       reward_kind := case when v_free then 'free_product' else 'coupon' end;
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
        (r.id, r.campaign_id, r.variant_id, p_side, v_kind, 'issued',
         case when v_percent is null and not v_free then p_amount end)
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
         case when v_free then 'free_product' else 'discount' end::coupon_kind,
         case when v_free then null when v_percent is not null then 'percent' else 'fixed' end::discount_type,
         case when v_free then null else coalesce(v_percent, p_amount) end,
         case when v_percent is not null then (v_terms ->> ('reward_' || p_side || '_cap'))::numeric end,
         v_product_id, v_terms ->> (p_side || '_free_product_name'),
         -- The friend's welcome coupon is for their first order only.
         p_side = 'referred',
         now() + make_interval(days => coalesce((v_terms ->> 'coupon_valid_days')::integer, 30)))
    returning id into v_coupon;
    update referral_rewards set coupon_id = v_coupon where id = v_reward;
    perform log_referral_event(
        case when v_free then 'reward_issued_free_product' else 'reward_issued_coupon' end::referral_event_type,
        r, null, jsonb_build_object('side', p_side, 'couponId', v_coupon));
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

-- The benefits that go with a tier: discount, free deliveries, price lock, card number.
-- The one home of what each tier gives (the ladder itself is the membership_tier type).
create function set_tier_benefits(p_customer_id integer) returns void
language sql as $$
    update customer_memberships m
    set discount_percentage = case m.membership_tier
            when 'permanent' then 12 when 'gold' then 10 when 'silver' then 4 else 0 end,
        free_delivery_count = case m.membership_tier
            when 'permanent' then 2 when 'gold' then 1 else 0 end,
        price_lock_enabled = m.membership_tier >= 'gold',
        permanent_card_number = case
            when m.membership_tier = 'permanent'
                then coalesce(m.permanent_card_number,
                              format('PERM-%s-%s', m.customer_id, substr(new_code(''), 1, 6)))
            else m.permanent_card_number end,
        updated_at = now()
    where m.customer_id = p_customer_id
$$;

-- Raises the referrer's membership tier when their completed referrals reach the
-- campaign's threshold. Never lowers a tier; pays no money.
create function raise_vip_tier(r customer_referrals) returns void
language plpgsql as $$
declare
    v_threshold integer := (r.reward_terms ->> 'vip_referrals_threshold')::integer;
    v_tier      membership_tier := coalesce((r.reward_terms ->> 'vip_membership_tier')::membership_tier, 'gold');
    v_completed integer;
    v_current   membership_tier;
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
    if coalesce(v_current, 'none') >= v_tier then
        return;
    end if;
    insert into customer_memberships (customer_id, membership_tier, tier_achieved_at, tier_source)
    values (r.referrer_customer_id, v_tier, now(), 'referral')
    on conflict on constraint customer_memberships_customer_id_key do update
    set membership_tier = excluded.membership_tier, tier_achieved_at = now(),
        tier_source = 'referral', updated_at = now();
    perform set_tier_benefits(r.referrer_customer_id);
    perform record_reward(r, 'referrer', 'membership', 'issued', null, null, null, null, null, null, v_tier);
    perform log_referral_event('vip_tier_upgraded', r, null,
        jsonb_build_object('from', coalesce(v_current, 'none'), 'to', v_tier,
                           'completedReferrals', v_completed, 'tags', jsonb_build_array('vip', 'referral')));
end
$$;

-- Wallet cash for every milestone of the campaign the referrer reaches with this
-- completion ("refer 3 friends, get ৳100"), once per milestone. `p_counts` says whether
-- this completion counts (its referrer reward was not refused). Called before any of this
-- completion's wallet postings of the referred side, under the referrer's row lock.
create function award_milestones(r customer_referrals, p_counts boolean) returns void
language plpgsql as $$
declare
    v_completed integer;
    m           referral_campaign_milestones%rowtype;
    v_outcome   posting_outcome;
    v_txn       integer;
begin
    if r.campaign_id is null
       or not exists (select 1 from referral_campaign_milestones where campaign_id = r.campaign_id) then
        return;
    end if;
    -- Completed referrals whose referrer reward was not refused (minimum, limits, budget),
    -- and this one if it counts (it is not marked completed yet).
    select count(*) + case when p_counts then 1 else 0 end into v_completed
    from customer_referrals cr
    where cr.referrer_customer_id = r.referrer_customer_id and cr.campaign_id = r.campaign_id
      and cr.status = 'completed' and cr.id <> r.id
      and not exists (select 1 from referral_rewards x
                      where x.referral_id = cr.id and x.side = 'referrer' and x.status = 'skipped');
    for m in
        select * from referral_campaign_milestones ms
        where ms.campaign_id = r.campaign_id and ms.referral_count <= v_completed
          and not exists (select 1 from milestone_awards a
                          where a.milestone_id = ms.id and a.customer_id = r.referrer_customer_id)
        order by ms.referral_count
    loop
        if not spend_budget(r.campaign_id, m.reward_amount, 0) then
            insert into milestone_awards (milestone_id, customer_id, referral_id, status, reason)
            values (m.id, r.referrer_customer_id, r.id, 'skipped', 'budget_exhausted')
            on conflict on constraint milestone_awards_once do nothing;
            perform log_referral_event('milestone_skipped', r, null,
                jsonb_build_object('milestoneId', m.id, 'referralCount', m.referral_count,
                                   'amount', m.reward_amount, 'reason', 'budget_exhausted'));
            continue;
        end if;
        select p.outcome, p.transaction_id into v_outcome, v_txn
        from post_wallet_transaction(r.referrer_customer_id, 'credit', m.reward_amount, 'referral', r.id,
             format('Referral milestone: %s friends', m.referral_count),
             format('milestone:%s:wallet', m.id)) p;
        if v_outcome not in ('posted', 'replayed') then
            raise exception 'milestone % could not be credited: %', m.id, v_outcome;
        end if;
        insert into milestone_awards (milestone_id, customer_id, referral_id, wallet_transaction_id)
        values (m.id, r.referrer_customer_id, r.id, v_txn)
        on conflict on constraint milestone_awards_once do nothing;
        perform log_referral_event('milestone_reached', r, null,
            jsonb_build_object('milestoneId', m.id, 'referralCount', m.referral_count,
                               'amount', m.reward_amount, 'walletTransactionId', v_txn));
    end loop;
end
$$;

-- Issues every reward a completed referral earned under its snapshotted terms, records
-- each decision (issued, or skipped with its reason) in referral_rewards, marks the
-- referral completed (one write), then raises the referrer's tier.
create function issue_completion_rewards(r customer_referrals, p_order sales_orders) returns void
language plpgsql as $$
declare
    v_terms    jsonb := r.reward_terms;
    v_type     reward_kind := coalesce((v_terms ->> 'reward_type')::reward_kind, r.reward_type);
    v_total    numeric := p_order.total_amount;
    v_referrer_amount numeric;
    v_referred_amount numeric;
    v_referrer_points integer := coalesce((v_terms ->> 'reward_referrer_points')::integer, 0);
    v_referred_points integer := coalesce((v_terms ->> 'reward_referred_points')::integer, 0);
    v_gate     text;
    v_side     referral_side;
    v_customer integer;
    v_amount   numeric;
    v_points   integer;
    v_outcome  posting_outcome;
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

    foreach v_side in array array['referrer', 'referred']::referral_side[] loop
        v_customer := case v_side when 'referrer' then r.referrer_customer_id else r.referred_customer_id end;
        v_amount := case v_side when 'referrer' then v_referrer_amount else v_referred_amount end;
        v_points := case v_side when 'referrer' then v_referrer_points else v_referred_points end;
        continue when v_customer is null;

        if v_type = 'wallet' and v_amount > 0 then
            if v_gate is null then
                select p.outcome, p.transaction_id into v_outcome, v_txn
                from post_wallet_transaction(v_customer, 'credit', v_amount, 'referral', r.id,
                     case v_side when 'referrer' then 'Referral reward' else 'Referral welcome bonus' end,
                     format('referral:%s:%s:wallet', r.id, v_side)) p;
            end if;
            if v_gate is not null or v_outcome = 'account_not_found' then
                perform record_reward(r, v_side, 'wallet', 'skipped', coalesce(v_gate, 'customer_deleted'),
                                      v_amount, null, null, null, null, null);
            elsif v_outcome not in ('posted', 'replayed') then
                raise exception 'referral % % wallet reward could not be credited: %', r.id, v_side, v_outcome;
            else
                perform record_reward(r, v_side, 'wallet', 'issued', null, v_amount, null, null, v_txn, null, null);
                perform log_referral_event('reward_credited', r, p_order.id,
                    jsonb_build_object('side', v_side, 'rewardType', 'wallet', 'amount', v_amount,
                                       'walletTransactionId', v_txn));
            end if;

        elsif v_type = 'points' and v_points > 0 then
            if v_gate is null then
                select p.outcome, p.transaction_id into v_outcome, v_txn
                from post_points_transaction(v_customer, 'earn', v_points, 'referral', r.id,
                     case v_side when 'referrer' then 'Referral reward (points)' else 'Referral welcome bonus (points)' end,
                     format('referral:%s:%s:points', r.id, v_side)) p;
            end if;
            if v_gate is not null or v_outcome = 'account_not_found' then
                perform record_reward(r, v_side, 'points', 'skipped', coalesce(v_gate, 'customer_deleted'),
                                      null, v_points, null, null, null, null);
            elsif v_outcome not in ('posted', 'replayed') then
                raise exception 'referral % % points could not be credited: %', r.id, v_side, v_outcome;
            else
                perform record_reward(r, v_side, 'points', 'issued', null, null, v_points, null, null, v_txn, null);
                perform log_referral_event('reward_credited', r, p_order.id,
                    jsonb_build_object('side', v_side, 'rewardType', 'points', 'points', v_points,
                                       'pointTransactionId', v_txn));
            end if;

        -- The friend's coupon or free product came at registration; the referrer's comes now.
        elsif v_type in ('coupon', 'free_product') and v_side = 'referrer' then
            if v_gate is not null then
                perform record_reward(r, v_side, v_type, 'skipped', v_gate, v_amount, null, null, null, null, null);
            else
                perform issue_referral_coupon(r, v_side, v_customer, v_amount);
            end if;
        end if;

        -- The referrer's milestone cash is decided and posted with the referrer's side,
        -- before the referred customer's wallet is touched (the lock order).
        if v_side = 'referrer' then
            perform award_milestones(r, v_gate is null);
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
    end if;
end
$$;

-- Completes a registered referral and issues every reward it earned, in the caller's
-- transaction.
create function complete_referral(p_referral_id integer, p_order_id integer, p_trigger text)
returns completion_outcome
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

    perform log_referral_event('completed', r, p_order_id, jsonb_build_object('trigger', p_trigger));
    perform issue_completion_rewards(r, v_order);
    return 'completed';
end
$$;
