-- Money that is safe to pay: every reward a delivery earns is first held (pending) for its
-- campaign's `reward_hold`, then released by a background job; a qualifying order that is
-- returned, cancelled or refunded voids the rewards still in their hold and claws back the
-- released ones; a fraud verdict skips the rewards or holds them for review.
--
-- Defines the lifecycle's functions (holds, release, reversal, refunds, reviews, the repairs
-- of reconciliation) and re-creates the money core's for it; migrations/README.md says
-- which definitions are live here (the wallet's post_wallet_transaction and
-- claw_back_wallet, which use `owed_amount` added here, are in
-- 20261202000050_withdrawals.sql, beside the held money they must respect).
--
-- Changes from the previous definitions:
--   * completion (complete_referral → issue_completion_rewards) records each reward as
--     `pending` (or `in_review`, or `skipped` with `fraud:<rule>`) and moves no money; the
--     ledger is posted on release (release_referral), with the same keys as before for a
--     referral's first completion;
--   * milestones and VIP thresholds are decided on release and count only released
--     referrals;
--   * a referral can complete again after a reversal: rewards belong to one completion
--     (`referral_rewards.completion`), and a returned or cancelled order is not a
--     successful order when the next one is judged;
--   * post_points_transaction collects what a customer owes (a clawback they could not
--     cover) from their next earnings; the wallet's twin, post_wallet_transaction, is
--     re-created once, with the withdrawals' held money, in 20261202000050_withdrawals.sql;
--   * apply_order_status reverses the referral its qualifying order completed.
--
-- Lock order, as before and kept by every function here:
--   order → referral → the referrer's customer row → campaign (budget) → wallets and
--   points (the referrer's, then the referred customer's) → membership.
-- Orders and referrals are locked `for no key update`: rows that only refer to them (an
-- event naming the order, a refund) take key-share locks, which then never wait for a
-- transaction that holds the order or the referral (the release job names the order in
-- its events while a return holds the order and waits for the referral).

------------------------------------------------------------------------------------------
-- Schema

-- How long a campaign's rewards stay pending after the delivery: the return window.
alter table referral_campaigns
    add column reward_hold interval not null default '7 days',
    add constraint referral_campaigns_reward_hold_bounded
        check (reward_hold >= interval '0' and reward_hold <= interval '90 days');

-- What a customer owes after a clawback larger than what they could pay; taken from their
-- next credits. Never part of the balance, so balance = Σ ledger still holds.
alter table customer_wallets
    add column owed_amount numeric(12,2) not null default 0,
    add constraint customer_wallets_owed_non_negative check (owed_amount >= 0);
alter table customer_points
    add column owed_points integer not null default 0,
    add constraint customer_points_owed_non_negative check (owed_points >= 0);

-- A referral's holds. `completions` counts its completions (a reversal sends it back to
-- registered, and the friend's next delivered order may complete it again); its rewards
-- carry the completion they belong to.
alter table customer_referrals
    add column completions   integer     not null default 0,
    add column hold_until    timestamptz,
    add column released_at   timestamptz,
    add column fraud_reasons text[]      not null default '{}',
    add constraint customer_referrals_released_is_completed
        check (released_at is null or status = 'completed'),
    -- A completed referral without an end to its hold is never released: a fraud rule
    -- blocked it, or a review rejected it.
    add constraint customer_referrals_hold_is_completed
        check (hold_until is null or status = 'completed');
-- Referrals completed before holds existed were paid at once: they are released.
update customer_referrals
set completions = 1, hold_until = completed_at, released_at = completed_at
where status = 'completed';
-- The release job's claim: completed referrals whose hold has not been released.
create index customer_referrals_due_idx on customer_referrals (hold_until)
    where status = 'completed' and released_at is null;
-- The snapshot of referrals still open carries their campaign's hold (7 days: the
-- default every campaign gets).
update customer_referrals
set reward_terms = reward_terms || jsonb_build_object('reward_hold_seconds', 604800)
where reward_terms <> '{}'::jsonb and status <> 'completed';

alter table referral_rewards
    add column customer_id                  integer       references customers (id),
    add column completion                   integer       not null default 1,
    add column release_at                   timestamptz,
    add column released_at                  timestamptz,
    add column reversed_at                  timestamptz,
    add column reversal_reason              varchar(40),
    add column clawback_transaction_id      integer       references wallet_transactions (id),
    add column clawback_point_transaction_id integer      references point_transactions (id),
    add column owed_amount                  numeric(12,2),
    add column owed_points                  integer;
update referral_rewards rr
set customer_id = case rr.side when 'referrer' then r.referrer_customer_id else r.referred_customer_id end,
    released_at = case when rr.status = 'released' then rr.created_at end,
    -- The friend's welcome coupon belongs to the registration (completion 0).
    completion = case when rr.side = 'referred' and rr.kind in ('coupon', 'free_product') then 0 else 1 end
from customer_referrals r
where r.id = rr.referral_id;
alter table referral_rewards
    alter column customer_id set not null,
    drop constraint referral_rewards_once,
    add constraint referral_rewards_once unique (referral_id, completion, side, kind),
    add constraint referral_rewards_reversal_has_reason
        check ((status in ('voided', 'clawed_back', 'rejected')) = (reversal_reason is not null)),
    add constraint referral_rewards_released_when
        check ((status in ('released', 'clawed_back')) = (released_at is not null)),
    add constraint referral_rewards_owed_non_negative
        check (coalesce(owed_amount, 0) >= 0 and coalesce(owed_points, 0) >= 0);
-- What a customer has pending (wallet, transactions, stats).
create index referral_rewards_customer_idx on referral_rewards (customer_id, status);

-- Milestones are reached on release, and given back with the referral that reached them
-- when it is clawed back; the milestone can then be reached again.
alter table milestone_awards
    add column completion integer not null default 1,
    add column clawback_transaction_id integer references wallet_transactions (id),
    add column owed_amount numeric(12,2),
    drop constraint milestone_awards_once,
    drop constraint milestone_awards_issued_has_credit,
    add constraint milestone_awards_released_has_credit
        check (status <> 'released' or wallet_transaction_id is not null);
create unique index milestone_awards_once on milestone_awards (milestone_id, customer_id)
    where status in ('released', 'skipped');

-- Referrals a fraud rule held for review; one row per held completion.
create table referral_reviews (
    id           bigint        generated by default as identity primary key,
    referral_id  integer       not null references customer_referrals (id),
    completion   integer       not null,
    reasons      text[]        not null,
    status       review_status not null default 'open',
    decided_by   integer       references users (id),
    note         text,
    created_at   timestamptz   not null default now(),
    decided_at   timestamptz,
    constraint referral_reviews_once unique (referral_id, completion),
    constraint referral_reviews_decision_recorded
        check ((status in ('approved', 'rejected')) = (decided_at is not null)),
    constraint referral_reviews_note_length check (note is null or length(note) <= 1000)
);
create index referral_reviews_queue_idx on referral_reviews (status, id desc);

-- Refunds the shop reports for an order, once per key; append-only.
alter table sales_orders
    add column refunded_amount numeric(12,2) not null default 0,
    add constraint sales_orders_refund_within_total
        check (refunded_amount >= 0 and refunded_amount <= total_amount);
create table order_refunds (
    id              integer      generated by default as identity primary key,
    order_id        integer      not null references sales_orders (id),
    amount          numeric(12,2) not null,
    reason          text         not null,
    idempotency_key varchar(100) not null,
    created_by      varchar(50)  not null,
    created_at      timestamptz  not null default now(),
    constraint order_refunds_amount_positive check (amount > 0),
    constraint order_refunds_reason_length check (length(reason) between 1 and 500),
    constraint order_refunds_idempotency_key_key unique (order_id, idempotency_key)
);
create trigger order_refunds_append_only
    before update or delete on order_refunds
    for each row execute function forbid_mutation();

------------------------------------------------------------------------------------------
-- The ledgers: collecting what is owed

drop function post_points_transaction(integer, points_transaction_type, integer, varchar, integer, text, varchar, varchar);

-- Posts points to a live customer's points ledger, exactly once per (customer, key).
-- Outcomes as post_wallet_transaction (insufficient_funds for a redemption over the
-- balance); an earning to a customer who owes points pays the debt first (`{key}:owed`).
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
    v_txn      integer;
    v_collect  integer;
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

    insert into point_transactions as t
        (customer_id, idempotency_key, transaction_type, points, source, reference_id,
         description, balance_after, created_by)
    values
        (p_customer_id, p_idempotency_key, p_type, p_points, p_source, p_reference_id,
         p_description, v_balance, p_created_by)
    returning t.id into v_txn;

    v_collect := least(v_summary.owed_points, case when p_type = 'earn' then p_points else 0 end);
    if v_collect > 0 then
        update customer_points p
        set active_points = p.active_points - v_collect,
            lifetime_redeemed = p.lifetime_redeemed + v_collect,
            owed_points = p.owed_points - v_collect
        where p.id = v_summary.id
        returning p.active_points into v_balance;
        insert into point_transactions
            (customer_id, idempotency_key, transaction_type, points, source, reference_id,
             description, balance_after, created_by)
        values
            (p_customer_id, p_idempotency_key || ':owed', 'redeem', v_collect, 'referral',
             p_reference_id, 'Recovered: reversed referral points', v_balance, 'system');
    end if;

    return query select 'posted'::posting_outcome, v_txn;
end
$$;

-- Takes `p_points` back from a customer's points for a clawback: what the balance covers
-- is redeemed under `p_key`; the rest is recorded as owed, taken from the next earnings.
-- (claw_back_wallet, its twin for money, is in 20261202000050_withdrawals.sql, which
-- knows the money held for withdrawals.) The caller's compare-and-set makes it happen once.
create function claw_back_points(
    p_customer_id integer, p_points integer, p_referral_id integer, p_description text, p_key varchar)
returns table (transaction_id integer, owed integer)
language plpgsql as $$
declare
    v_summary customer_points%rowtype;
    v_take    integer;
    v_txn     integer;
begin
    select * into v_summary from customer_points where customer_id = p_customer_id for update;
    v_take := least(p_points, greatest(coalesce(v_summary.active_points, 0), 0));
    if v_take > 0 then
        select p.transaction_id into v_txn
        from post_points_transaction(p_customer_id, 'redeem', v_take, 'referral', p_referral_id,
                                     p_description, p_key) p
        where p.outcome in ('posted', 'replayed');
        if v_txn is null then
            v_take := 0;
        end if;
    end if;
    if v_summary.id is not null and p_points > v_take then
        update customer_points set owed_points = owed_points + (p_points - v_take), updated_at = now()
        where id = v_summary.id;
    end if;
    return query select v_txn, p_points - v_take;
end
$$;

------------------------------------------------------------------------------------------
-- Terms and gates

drop function complete_referral(integer, integer, text);
drop function issue_completion_rewards(customer_referrals, sales_orders);
drop function award_milestones(customer_referrals, boolean);
drop function raise_vip_tier(customer_referrals);
drop function issue_welcome_rewards(integer);
drop function issue_referral_coupon(customer_referrals, referral_side, integer, numeric);
drop function record_reward(customer_referrals, referral_side, reward_kind, reward_status, text, numeric, integer, integer, integer, integer, membership_tier);
drop function reward_gate(customer_referrals, sales_orders, numeric);
drop function campaign_terms(uuid, integer);

-- A campaign's terms (with a variant's amounts, if any), as a referral snapshots them. A
-- side with a percentage carries no fixed amount. `reward_hold_seconds` is the hold.
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
        'vip_membership_tier', c.vip_membership_tier,
        'reward_hold_seconds', extract(epoch from c.reward_hold)::integer)
    from referral_campaigns c
    left join referral_campaign_variants v on v.id = p_variant_id and v.campaign_id = c.id
    where c.id = p_campaign_id
$$;

-- How long rewards under these terms stay pending. A referral made without a campaign
-- gets the hold every campaign starts with.
create function reward_hold(p_terms jsonb) returns interval
language sql immutable as $$
    select coalesce(make_interval(secs => (p_terms ->> 'reward_hold_seconds')::integer),
                    interval '7 days')
$$;

-- The ledger key a reward is posted under: TrustCart's `referral:{id}:{side}:{ledger}` for
-- a referral's first completion, with the completion appended for a later one.
create function reward_key(p_referral_id integer, p_completion integer, p_side referral_side, p_ledger text)
returns varchar
language sql immutable as $$
    select format('referral:%s:%s:%s', p_referral_id, p_side, p_ledger)
        || case when p_completion > 1 then ':' || p_completion else '' end
$$;

-- Why a completed referral's rewards cannot be issued, or null when they can: the
-- qualifying order's minimum, the referrer's limits (the caller holds the referrer's row
-- lock, so the counts stay true until commit), then the budget. Limits count the rewards
-- still alive: pending, in review or released.
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
       and p_order.total_amount - p_order.refunded_amount
           < coalesce((r.reward_terms ->> 'min_order_amount')::numeric, 0) then
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
          and rr.side = 'referrer' and rr.status in ('pending', 'in_review', 'released');
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

-- Gives back to a budgeted campaign what a reward that was never paid (voided, rejected)
-- had taken from it. The counterpart of spend_budget, with the same lock.
create function return_budget(p_campaign_id uuid, p_amount numeric, p_count integer) returns void
language sql as $$
    update referral_campaigns
    set spent_count = greatest(spent_count - p_count, 0),
        spent_amount = greatest(spent_amount - p_amount, 0)
    where id = p_campaign_id and (budget_amount is not null or budget_count is not null)
$$;

-- Records one reward decision of completion `p_completion` (0: the registration's welcome
-- reward, which belongs to no delivery); a decision already recorded
-- for this referral, completion, side and kind is kept (the unique constraint makes each
-- reward happen at most once). Returns the decision's id, or null when it existed.
create function record_reward(
    r customer_referrals, p_completion integer, p_side referral_side, p_kind reward_kind,
    p_status reward_status, p_reason text, p_amount numeric, p_points integer,
    p_release_at timestamptz, p_tier membership_tier default null)
returns bigint
language sql as $$
    insert into referral_rewards
        (referral_id, campaign_id, variant_id, customer_id, completion, side, kind, status,
         reason, amount, points, release_at, released_at, membership_tier)
    values
        (r.id, r.campaign_id, r.variant_id,
         case p_side when 'referrer' then r.referrer_customer_id else r.referred_customer_id end,
         p_completion, p_side, p_kind, p_status, p_reason, p_amount, p_points, p_release_at,
         case when p_status = 'released' then now() end, p_tier)
    on conflict on constraint referral_rewards_once do nothing
    returning id
$$;

-- Creates the single-use coupon (a discount, or a free product) of one side of a
-- referral and returns its id, or null when the terms promise none.
create function create_reward_coupon(r customer_referrals, p_side referral_side, p_amount numeric)
returns integer
language plpgsql as $$
declare
    v_terms      jsonb := r.reward_terms;
    v_free       boolean := v_terms ->> 'reward_type' = 'free_product';
    v_percent    numeric := (v_terms ->> ('reward_' || p_side || '_percent'))::numeric;
    v_product_id integer := (v_terms ->> (p_side || '_free_product_id'))::integer;
    v_coupon     integer;
begin
    if (v_free and v_product_id is null) or (not v_free and coalesce(v_percent, p_amount, 0) <= 0) then
        return null;
    end if;
    insert into coupons
        (code, customer_id, referral_id, kind, discount_type, discount_value, max_discount,
         product_id, product_name, first_order_only, valid_until)
    values
        (new_code(case when v_free then 'FREE' else 'CPN' end),
         case p_side when 'referrer' then r.referrer_customer_id else r.referred_customer_id end,
         r.id,
         case when v_free then 'free_product' else 'discount' end::coupon_kind,
         case when v_free then null when v_percent is not null then 'percent' else 'fixed' end::discount_type,
         case when v_free then null else coalesce(v_percent, p_amount) end,
         case when v_percent is not null then (v_terms ->> ('reward_' || p_side || '_cap'))::numeric end,
         v_product_id, v_terms ->> (p_side || '_free_product_name'),
         -- The friend's welcome coupon is for their first order only.
         p_side = 'referred',
         now() + make_interval(days => coalesce((v_terms ->> 'coupon_valid_days')::integer, 30)))
    returning id into v_coupon;
    perform log_referral_event(
        case when v_free then 'reward_issued_free_product' else 'reward_issued_coupon' end::referral_event_type,
        r, null, jsonb_build_object('side', p_side, 'couponId', v_coupon));
    return v_coupon;
end
$$;

-- The friend's welcome rewards, issued when they register through a referral: a coupon or
-- free product for their first order, if the campaign promises one. Not a delivery's
-- reward, so not held: it is released at once (its first-order rule protects it).
create function issue_welcome_rewards(p_referral_id integer) returns void
language plpgsql as $$
declare
    r        customer_referrals%rowtype;
    v_kind   reward_kind;
    v_amount numeric;
    v_reward bigint;
    v_coupon integer;
begin
    select * into r from customer_referrals where id = p_referral_id for no key update;
    -- (A referral made without a campaign has no reward_type in its terms: null is not
    -- "not in", so it must be said.)
    if r.referred_customer_id is null
       or coalesce(r.reward_terms ->> 'reward_type', '') not in ('coupon', 'free_product') then
        return;
    end if;
    v_kind := (r.reward_terms ->> 'reward_type')::reward_kind;
    v_amount := reward_amount(r.reward_terms, 'referred', null);
    if (v_kind = 'free_product' and r.reward_terms ->> 'referred_free_product_id' is null)
       or (v_kind = 'coupon' and coalesce((r.reward_terms ->> 'reward_referred_percent')::numeric, v_amount) <= 0) then
        return;
    end if;
    -- The decision first: once recorded, nothing more is issued (the unique constraint
    -- makes the coupon once-only, not luck).
    -- Completion 0: it belongs to the registration, no delivery's completion, so no
    -- reversal of an order takes it back (its first-order rule protects it).
    v_reward := record_reward(r, 0, 'referred', v_kind, 'released', null,
        case when v_kind = 'coupon' and r.reward_terms ->> 'reward_referred_percent' is null then v_amount end,
        null, now());
    if v_reward is not null then
        v_coupon := create_reward_coupon(r, 'referred', v_amount);
        update referral_rewards set coupon_id = v_coupon where id = v_reward;
    end if;
end
$$;

------------------------------------------------------------------------------------------
-- Completion: decide every reward, hold it

-- Why order `o` cannot complete referral `r`, or null when it can: it must be placed at
-- or after the referral (TrustCart D3c), and no other order of the customer may be a
-- successful order (D3a; one delivered and then returned or cancelled is not). The one
-- rule, for the live path (apply_order_status) and for reconciliation.
create function qualification_refusal(r customer_referrals, o sales_orders) returns text
language sql stable as $$
    select case
        when o.created_at < r.created_at then 'order_before_referral'
        when exists (select 1 from sales_orders x
                     where x.customer_id = o.customer_id and x.id <> o.id
                       and order_status_is_success(x.status)) then 'not_first_order'
    end
$$;

-- Decides every reward a completed referral earned under its snapshotted terms and the
-- fraud verdict, and records each as pending (in review, or skipped with its reason) for
-- the hold; moves no money. Marks the referral completed (one write). With no hold, and
-- nothing in review, the rewards are released at once, in this transaction.
create function issue_completion_rewards(
    r customer_referrals, p_order sales_orders, p_verdict fraud_action, p_reasons text[],
    p_blocked_by text)
returns void
language plpgsql as $$
declare
    v_terms      jsonb := r.reward_terms;
    v_type       reward_kind := coalesce((v_terms ->> 'reward_type')::reward_kind, r.reward_type);
    v_completion integer := r.completions + 1;
    v_release_at timestamptz := now() + reward_hold(v_terms);
    v_referrer_amount numeric;
    v_referred_amount numeric;
    v_referrer_points integer := coalesce((v_terms ->> 'reward_referrer_points')::integer, 0);
    v_referred_points integer := coalesce((v_terms ->> 'reward_referred_points')::integer, 0);
    v_gate     text;
    v_status   reward_status;
    v_side     referral_side;
    v_customer integer;
    v_amount   numeric;
    v_points   integer;
    v_kind     reward_kind;
    v_reward   bigint;
begin
    -- One completion at a time per referrer: limits count the referrer's rewards, and
    -- those counts must hold until commit.
    if r.referrer_customer_id is not null then
        perform 1 from customers where id = r.referrer_customer_id for no key update;
    end if;

    if v_terms = '{}'::jsonb then
        -- A referral made without a campaign promises what its columns say.
        v_referrer_amount := r.reward_amount;
        v_referred_amount := r.referred_reward_amount;
    else
        v_referrer_amount := reward_amount(v_terms, 'referrer', p_order.total_amount);
        v_referred_amount := reward_amount(v_terms, 'referred', p_order.total_amount);
    end if;
    if r.referrer_customer_id is null then
        v_referrer_amount := 0;
        v_referrer_points := 0;
    end if;

    -- Nothing promised, nothing to gate. A blocking fraud rule comes first: it must not
    -- take anything from the budget.
    if (v_type in ('wallet', 'coupon') and v_referrer_amount + v_referred_amount > 0)
       or (v_type = 'points' and v_referrer_points + v_referred_points > 0)
       or (v_type = 'free_product' and r.referrer_customer_id is not null
           and v_terms ->> 'referrer_free_product_id' is not null) then
        if p_verdict = 'block' then
            v_gate := 'fraud:' || p_blocked_by;
        else
            v_gate := reward_gate(r, p_order,
                case when v_type = 'wallet' then v_referrer_amount + v_referred_amount else 0 end);
        end if;
    end if;
    v_status := case when v_gate is not null then 'skipped'
                     when p_verdict = 'review' then 'in_review'
                     else 'pending' end;

    foreach v_side in array array['referrer', 'referred']::referral_side[] loop
        v_customer := case v_side when 'referrer' then r.referrer_customer_id else r.referred_customer_id end;
        v_amount := case v_side when 'referrer' then v_referrer_amount else v_referred_amount end;
        v_points := case v_side when 'referrer' then v_referrer_points else v_referred_points end;
        v_kind := null;
        continue when v_customer is null;

        if v_type = 'wallet' and v_amount > 0 then
            v_kind := 'wallet';
            v_points := null;
        elsif v_type = 'points' and v_points > 0 then
            v_kind := 'points';
            v_amount := null;
        -- The friend's coupon or free product came at registration; the referrer's is held.
        elsif v_type in ('coupon', 'free_product') and v_side = 'referrer'
              and (v_type = 'coupon' and coalesce((v_terms ->> 'reward_referrer_percent')::numeric, v_amount) > 0
                   or v_type = 'free_product' and v_terms ->> 'referrer_free_product_id' is not null) then
            v_kind := v_type;
            v_points := null;
            if v_type = 'free_product' or v_terms ->> 'reward_referrer_percent' is not null then
                v_amount := null;
            end if;
        end if;
        continue when v_kind is null;

        v_reward := record_reward(r, v_completion, v_side, v_kind, v_status, v_gate, v_amount, v_points,
                                  case when v_gate is null then v_release_at end);
        if v_reward is not null and v_gate is null then
            perform log_referral_event(
                case v_status when 'in_review' then 'reward_held_for_review' else 'reward_pending' end::referral_event_type,
                r, p_order.id,
                jsonb_build_object('rewardId', v_reward, 'side', v_side, 'kind', v_kind,
                                   'amount', v_amount, 'points', v_points, 'releaseAt', v_release_at,
                                   'reasons', to_jsonb(p_reasons)));
        end if;
    end loop;

    if p_verdict = 'review' and v_gate is null then
        insert into referral_reviews (referral_id, completion, reasons)
        values (r.id, v_completion, p_reasons)
        on conflict on constraint referral_reviews_once do nothing;
    end if;

    -- One write completes the referral: its status, the qualifying order, the amounts
    -- actually earned (a percentage became taka above) and the hold.
    update customer_referrals rr
    set status = 'completed',
        completed_at = now(),
        completions = v_completion,
        -- A blocked referral is never released: it counts for no milestone or tier.
        hold_until = case when p_verdict <> 'block' then v_release_at end,
        released_at = null,
        fraud_reasons = coalesce(p_reasons, '{}'),
        qualifying_order_id = p_order.id,
        first_order_placed = p_order.id is not null,
        first_order_date = p_order.created_at,
        reward_amount = case when v_type = 'wallet' then v_referrer_amount else rr.reward_amount end,
        referred_reward_amount = case when v_type = 'wallet' then v_referred_amount else rr.referred_reward_amount end,
        reward_credited = false,
        referred_reward_credited = false
    where rr.id = r.id;

    if v_release_at <= now() and p_verdict = 'off' then
        perform release_referral(r.id);
    end if;
end
$$;

-- Completes a registered referral under the fraud verdict and decides every reward it
-- earned, in the caller's transaction.
create function complete_referral(p_referral_id integer, p_order_id integer, p_trigger text)
returns completion_outcome
language plpgsql as $$
declare
    r         customer_referrals%rowtype;
    v_order   sales_orders%rowtype;
    v_verdict fraud_action;
    v_reasons text[];
    v_blocked text;
begin
    select * into r from customer_referrals where id = p_referral_id for no key update;
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
    select f.action, f.reasons, f.blocked_by into v_verdict, v_reasons, v_blocked
    from fraud_verdict(r.id, p_order_id) f;

    perform log_referral_event('completed', r, p_order_id,
        jsonb_build_object('trigger', p_trigger, 'completion', r.completions + 1));
    perform issue_completion_rewards(r, v_order, coalesce(v_verdict, 'off'), coalesce(v_reasons, '{}'),
                                     v_blocked);
    return 'completed';
end
$$;

------------------------------------------------------------------------------------------
-- Release: after the hold

-- Releases one pending reward of referral `r`: posts it to the ledger (or issues its
-- coupon), then moves it pending → released. A reward to a customer deleted meanwhile is
-- voided instead. The caller holds the referral's lock.
create function release_reward(r customer_referrals, rw referral_rewards) returns void
language plpgsql as $$
declare
    v_outcome posting_outcome;
    v_txn     integer;
    v_coupon  integer;
begin
    if rw.kind = 'wallet' then
        select p.outcome, p.transaction_id into v_outcome, v_txn
        from post_wallet_transaction(rw.customer_id, 'credit', rw.amount, 'referral', r.id,
             case rw.side when 'referrer' then 'Referral reward' else 'Referral welcome bonus' end,
             reward_key(r.id, rw.completion, rw.side, 'wallet')) p;
    elsif rw.kind = 'points' then
        select p.outcome, p.transaction_id into v_outcome, v_txn
        from post_points_transaction(rw.customer_id, 'earn', rw.points, 'referral', r.id,
             case rw.side when 'referrer' then 'Referral reward (points)' else 'Referral welcome bonus (points)' end,
             reward_key(r.id, rw.completion, rw.side, 'points')) p;
    elsif exists (select 1 from customers c where c.id = rw.customer_id and not c.is_deleted) then
        v_coupon := create_reward_coupon(r, rw.side, rw.amount);
        v_outcome := 'posted';
    else
        v_outcome := 'account_not_found';
    end if;

    if v_outcome = 'account_not_found' then
        update referral_rewards
        set status = 'voided', reversal_reason = 'customer_deleted', reversed_at = now()
        where id = rw.id and status = 'pending';
        perform log_referral_event('reward_voided', r, null,
            jsonb_build_object('rewardId', rw.id, 'side', rw.side, 'kind', rw.kind, 'reason', 'customer_deleted'));
        return;
    elsif v_outcome not in ('posted', 'replayed') then
        raise exception 'reward % of referral % could not be released: %', rw.id, r.id, v_outcome;
    end if;

    update referral_rewards
    set status = 'released', released_at = now(),
        wallet_transaction_id = case when rw.kind = 'wallet' then v_txn end,
        point_transaction_id = case when rw.kind = 'points' then v_txn end,
        coupon_id = coalesce(v_coupon, coupon_id)
    where id = rw.id and status = 'pending';
    perform log_referral_event('reward_released', r, r.qualifying_order_id,
        jsonb_build_object('rewardId', rw.id, 'side', rw.side, 'kind', rw.kind,
                           'amount', rw.amount, 'points', rw.points, 'couponId', v_coupon));
    if rw.kind in ('wallet', 'points') then
        perform log_referral_event('reward_credited', r, r.qualifying_order_id,
            jsonb_build_object('side', rw.side, 'rewardType', rw.kind, 'amount', rw.amount,
                               'points', rw.points,
                               case rw.kind when 'wallet' then 'walletTransactionId' else 'pointTransactionId' end, v_txn));
    end if;
end
$$;

-- The benefits of a tier are set_tier_benefits' (20261201000003_reward_engine.sql).

-- Raises the referrer's membership tier when their released referrals reach the
-- campaign's threshold. Never lowers a tier; pays no money.
create function raise_vip_tier(r customer_referrals) returns void
language plpgsql as $$
declare
    v_threshold integer := (r.reward_terms ->> 'vip_referrals_threshold')::integer;
    v_tier      membership_tier := coalesce((r.reward_terms ->> 'vip_membership_tier')::membership_tier, 'gold');
    v_released  integer;
    v_current   membership_tier;
begin
    if v_threshold is null or r.referrer_customer_id is null then
        return;
    end if;
    select count(*) into v_released from customer_referrals
    where referrer_customer_id = r.referrer_customer_id and status = 'completed' and released_at is not null;
    if v_released < v_threshold then
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
    perform record_reward(r, r.completions, 'referrer', 'membership', 'released', null, null, null, null, v_tier);
    perform log_referral_event('vip_tier_upgraded', r, null,
        jsonb_build_object('from', coalesce(v_current, 'none'), 'to', v_tier,
                           'releasedReferrals', v_released, 'tags', jsonb_build_array('vip', 'referral')));
end
$$;

-- Wallet cash for every milestone of the campaign the referrer reaches with this
-- release ("refer 3 friends, get ৳100"), once per milestone. Counts the referrer's
-- released referrals whose referrer reward was neither skipped nor rejected. Called on
-- release, before any reward is posted (spend_budget locks a budgeted campaign's row,
-- which comes before wallets in the lock order), under the referrer's row lock. The milestone has served the hold of the referral that
-- reached it, so its cash is released at once; it is clawed back with that referral.
create function award_milestones(r customer_referrals) returns void
language plpgsql as $$
declare
    v_released integer;
    m          referral_campaign_milestones%rowtype;
    v_outcome  posting_outcome;
    v_txn      integer;
begin
    if r.campaign_id is null or r.referrer_customer_id is null
       or not exists (select 1 from referral_campaign_milestones where campaign_id = r.campaign_id) then
        return;
    end if;
    select count(*) into v_released
    from customer_referrals cr
    where cr.referrer_customer_id = r.referrer_customer_id and cr.campaign_id = r.campaign_id
      and cr.status = 'completed' and cr.released_at is not null
      and not exists (select 1 from referral_rewards x
                      where x.referral_id = cr.id and x.completion = cr.completions
                        and x.side = 'referrer' and x.status in ('skipped', 'rejected'));
    for m in
        select * from referral_campaign_milestones ms
        where ms.campaign_id = r.campaign_id and ms.referral_count <= v_released
          and not exists (select 1 from milestone_awards a
                          where a.milestone_id = ms.id and a.customer_id = r.referrer_customer_id
                            and a.status in ('released', 'skipped'))
        order by ms.referral_count
    loop
        if not spend_budget(r.campaign_id, m.reward_amount, 0) then
            insert into milestone_awards (milestone_id, customer_id, referral_id, completion, status, reason)
            values (m.id, r.referrer_customer_id, r.id, r.completions, 'skipped', 'budget_exhausted')
            on conflict (milestone_id, customer_id) where status in ('released', 'skipped') do nothing;
            perform log_referral_event('milestone_skipped', r, null,
                jsonb_build_object('milestoneId', m.id, 'referralCount', m.referral_count,
                                   'amount', m.reward_amount, 'reason', 'budget_exhausted'));
            continue;
        end if;
        select p.outcome, p.transaction_id into v_outcome, v_txn
        from post_wallet_transaction(r.referrer_customer_id, 'credit', m.reward_amount, 'referral', r.id,
             format('Referral milestone: %s friends', m.referral_count),
             format('milestone:%s:referral:%s:%s', m.id, r.id, r.completions)) p;
        if v_outcome not in ('posted', 'replayed') then
            raise exception 'milestone % could not be credited: %', m.id, v_outcome;
        end if;
        insert into milestone_awards (milestone_id, customer_id, referral_id, completion, wallet_transaction_id)
        values (m.id, r.referrer_customer_id, r.id, r.completions, v_txn)
        on conflict (milestone_id, customer_id) where status in ('released', 'skipped') do nothing;
        perform log_referral_event('milestone_reached', r, null,
            jsonb_build_object('milestoneId', m.id, 'referralCount', m.referral_count,
                               'amount', m.reward_amount, 'walletTransactionId', v_txn));
    end loop;
end
$$;

-- Whether completion `p_completion` of referral `p_referral_id` waits for a staff user's
-- decision. (A rejected one, like a blocked one, is never released: its hold has no end,
-- `hold_until` is null.)
create function under_review(p_referral_id integer, p_completion integer) returns boolean
language sql stable as $$
    select exists (select 1 from referral_reviews v
                   where v.referral_id = p_referral_id and v.completion = p_completion
                     and v.status = 'open')
$$;

-- Releases the rewards of referral `p_referral_id` if its hold is over and nothing is in
-- review: the referrer's milestones, then every pending reward, the referrer's first and
-- the referred customer's last (the lock order); then the referrer's tier. True when it released now; false when there was nothing to release
-- (not completed, released before, hold not over, in review). Safe to call from any
-- number of instances: the referral's row lock and `released_at` make it happen once.
create function release_referral(p_referral_id integer) returns boolean
language plpgsql as $$
declare
    r  customer_referrals%rowtype;
    rw referral_rewards%rowtype;
begin
    select * into r from customer_referrals where id = p_referral_id for no key update;
    if not found or r.status <> 'completed' or r.released_at is not null
       or r.hold_until is null or r.hold_until > now()
       or under_review(r.id, r.completions) then
        return false;
    end if;
    if r.referrer_customer_id is not null then
        perform 1 from customers where id = r.referrer_customer_id for no key update;
    end if;

    update customer_referrals set released_at = now() where id = r.id;
    r.released_at := now();

    -- Milestones first: a budgeted campaign's row is locked before any wallet (the lock
    -- order; a reversal returning budget holds the campaign and then wants wallets).
    perform award_milestones(r);
    for rw in
        select * from referral_rewards x
        where x.referral_id = r.id and x.completion = r.completions and x.status = 'pending'
        order by x.side, x.kind
    loop
        perform release_reward(r, rw);
    end loop;

    update customer_referrals rr
    set reward_credited = exists (select 1 from referral_rewards x
                                  where x.referral_id = rr.id and x.completion = rr.completions
                                    and x.side = 'referrer' and x.status = 'released'),
        referred_reward_credited = exists (select 1 from referral_rewards x
                                           where x.referral_id = rr.id and x.completion = rr.completions
                                             and x.side = 'referred' and x.status = 'released')
    where rr.id = r.id;

    perform raise_vip_tier(r);
    return true;
end
$$;

-- The release job's unit of work: claims one referral whose hold is over (skipping those
-- another instance is releasing) and releases it. Returns its id, or null when none is
-- due. One referral per call, so each release commits on its own and keeps the lock order.
create function release_due_referral() returns integer
language plpgsql as $$
declare
    v_id integer;
begin
    select r.id into v_id
    from customer_referrals r
    where r.status = 'completed' and r.released_at is null and r.hold_until <= now()
      and not under_review(r.id, r.completions)
    order by r.hold_until
    limit 1
    for no key update skip locked;
    if v_id is null then
        return null;
    end if;
    perform release_referral(v_id);
    return v_id;
end
$$;

------------------------------------------------------------------------------------------
-- Reversal: a qualifying order returned, cancelled or refunded

-- Why order `o` undoes the completion of referral `r` it qualified, or null when it does
-- not: it was cancelled or returned (the reason is its status), or refunds took all of it
-- or left it below the campaign's minimum (`refunded`). The one rule, for the live paths
-- (apply_order_status, refund_order) and for reconciliation.
create function completion_undone_by(r customer_referrals, o sales_orders) returns text
language sql stable as $$
    select case
        when order_status_is_reversal(o.status) then o.status::text
        when o.refunded_amount > 0
             and (o.refunded_amount >= o.total_amount
                  or o.total_amount - o.refunded_amount
                     < coalesce((r.reward_terms ->> 'min_order_amount')::numeric, 0)) then 'refunded'
    end
$$;

-- Takes back one released reward of referral `r`: a reversing ledger entry under
-- `{reward key}:clawback` (what the balance cannot cover is owed), or the coupon voided if
-- it is not used yet (one already used cannot be taken back). released → clawed_back is
-- the compare-and-set that makes it happen once.
create function claw_back_reward(r customer_referrals, rw referral_rewards, p_order_id integer, p_reason text)
returns void
language plpgsql as $$
declare
    v_txn    integer;
    v_owed   numeric;
    v_points integer;
begin
    update referral_rewards
    set status = 'clawed_back', reversal_reason = p_reason, reversed_at = now()
    where id = rw.id and status = 'released';
    if not found then
        return;
    end if;
    if rw.kind = 'wallet' then
        select c.transaction_id, c.owed into v_txn, v_owed
        from claw_back_wallet(rw.customer_id, rw.amount, r.id, 'Referral reward reversed',
                              reward_key(r.id, rw.completion, rw.side, 'wallet') || ':clawback') c;
    elsif rw.kind = 'points' then
        select c.transaction_id, c.owed into v_txn, v_points
        from claw_back_points(rw.customer_id, rw.points, r.id, 'Referral points reversed',
                              reward_key(r.id, rw.completion, rw.side, 'points') || ':clawback') c;
    elsif rw.coupon_id is not null then
        update coupons set status = 'void' where id = rw.coupon_id and status = 'active';
    end if;
    update referral_rewards
    set clawback_transaction_id = case when rw.kind = 'wallet' then v_txn end,
        clawback_point_transaction_id = case when rw.kind = 'points' then v_txn end,
        owed_amount = v_owed, owed_points = v_points
    where id = rw.id;
    perform log_referral_event('reward_clawed_back', r, p_order_id,
        jsonb_build_object('rewardId', rw.id, 'side', rw.side, 'kind', rw.kind,
                           'amount', rw.amount, 'points', rw.points, 'owedAmount', v_owed,
                           'owedPoints', v_points, 'reason', p_reason,
                           'clawbackTransactionId', v_txn));
end
$$;

-- Claws back the milestone cash referral `r`'s current completion reached (once: the
-- award's status is the compare-and-set). The milestone can then be reached again.
create function claw_back_milestones(r customer_referrals, p_order_id integer, p_reason text)
returns void
language plpgsql as $$
declare
    ma       milestone_awards%rowtype;
    v_amount numeric;
    v_txn    integer;
    v_owed   numeric;
begin
    for ma in
        update milestone_awards a set status = 'clawed_back'
        where a.referral_id = r.id and a.completion = r.completions and a.status = 'released'
        returning a.*
    loop
        select m.reward_amount into v_amount from referral_campaign_milestones m where m.id = ma.milestone_id;
        select c.transaction_id, c.owed into v_txn, v_owed
        from claw_back_wallet(ma.customer_id, v_amount, r.id, 'Referral milestone reversed',
                              format('milestone:%s:referral:%s:%s:clawback', ma.milestone_id, r.id, ma.completion)) c;
        update milestone_awards set clawback_transaction_id = v_txn, owed_amount = v_owed where id = ma.id;
        perform log_referral_event('reward_clawed_back', r, p_order_id,
            jsonb_build_object('milestoneId', ma.milestone_id, 'kind', 'milestone', 'amount', v_amount,
                               'owedAmount', v_owed, 'reason', p_reason, 'clawbackTransactionId', v_txn));
    end loop;
end
$$;

-- Reverses the completion of referral `p_referral_id` by order `p_order_id` (null: a
-- manual completion): rewards still in their hold (pending, in review) are voided and
-- given back to the budget; released ones are clawed back (claw_back_reward), the
-- referrer's first, then the milestones the referral reached, the referred customer's
-- last (the lock order). The referral goes back to `registered`, so the friend's next
-- delivered order can still qualify. True when it reversed now; false when the referral
-- was not completed by that order.
create function reverse_referral(p_referral_id integer, p_order_id integer, p_reason text)
returns boolean
language plpgsql as $$
declare
    r       customer_referrals%rowtype;
    rw      referral_rewards%rowtype;
    v_cash  numeric := 0;
    v_count integer := 0;
begin
    select * into r from customer_referrals where id = p_referral_id for no key update;
    if not found or r.status <> 'completed' or r.qualifying_order_id is distinct from p_order_id then
        return false;
    end if;
    if r.referrer_customer_id is not null then
        perform 1 from customers where id = r.referrer_customer_id for no key update;
    end if;

    for rw in
        update referral_rewards x
        set status = 'voided', reversal_reason = p_reason, reversed_at = now()
        where x.referral_id = r.id and x.completion = r.completions and x.status in ('pending', 'in_review')
        returning x.*
    loop
        v_cash := v_cash + case when rw.kind = 'wallet' then rw.amount else 0 end;
        v_count := 1;
        perform log_referral_event('reward_voided', r, p_order_id,
            jsonb_build_object('rewardId', rw.id, 'side', rw.side, 'kind', rw.kind,
                               'amount', rw.amount, 'points', rw.points, 'reason', p_reason));
    end loop;
    if v_count > 0 then
        perform return_budget(r.campaign_id, v_cash, v_count);
    end if;
    update referral_reviews set status = 'withdrawn'
    where referral_id = r.id and completion = r.completions and status = 'open';

    for rw in
        select * from referral_rewards x
        where x.referral_id = r.id and x.completion = r.completions and x.status = 'released'
          and x.side = 'referrer' and x.kind <> 'membership'
        order by x.kind
    loop
        perform claw_back_reward(r, rw, p_order_id, p_reason);
    end loop;
    perform claw_back_milestones(r, p_order_id, p_reason);
    for rw in
        select * from referral_rewards x
        where x.referral_id = r.id and x.completion = r.completions and x.status = 'released'
          and x.side = 'referred' and x.kind <> 'membership'
        order by x.kind
    loop
        perform claw_back_reward(r, rw, p_order_id, p_reason);
    end loop;

    update customer_referrals
    set status = 'registered', completed_at = null, qualifying_order_id = null,
        hold_until = null, released_at = null, reward_credited = false, referred_reward_credited = false
    where id = r.id;
    perform log_referral_event('qualifying_order_reversed', r, p_order_id,
        jsonb_build_object('reason', p_reason, 'completion', r.completions));
    return true;
end
$$;

-- Records a refund the shop made on order `p_order_id`, once per key. When the order
-- completed a referral and the refund leaves it below the campaign's minimum (or refunds
-- all of it), the referral is reversed as if the order had been returned.
create function refund_order(
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
    return query select 'refunded'::refund_outcome, v_refund, v_order.refunded_amount, v_reversed;
end
$$;

------------------------------------------------------------------------------------------
-- Review

-- Decides the open review of referral `p_referral_id`: approving puts its rewards back in
-- their hold (released at once if the hold is over); rejecting rejects them and gives
-- their budget back. A review is decided once (`already_decided` after that).
create function decide_review(p_referral_id integer, p_approve boolean, p_user_id integer, p_note text)
returns review_outcome
language plpgsql as $$
declare
    r       customer_referrals%rowtype;
    v_review referral_reviews%rowtype;
    rw      referral_rewards%rowtype;
    v_cash  numeric := 0;
    v_count integer := 0;
begin
    select * into r from customer_referrals where id = p_referral_id for no key update;
    if not found then
        return 'not_found';
    end if;
    select * into v_review from referral_reviews v
    where v.referral_id = r.id order by v.completion desc limit 1;
    if not found then
        return 'not_found';
    end if;
    update referral_reviews
    set status = case when p_approve then 'approved' else 'rejected' end::review_status,
        decided_by = p_user_id, decided_at = now(), note = p_note
    where id = v_review.id and status = 'open';
    if not found then
        return 'already_decided';
    end if;

    for rw in
        update referral_rewards x
        set status = case when p_approve then 'pending' else 'rejected' end::reward_status,
            reversal_reason = case when p_approve then null else 'review_rejected' end,
            reversed_at = case when p_approve then null else now() end
        where x.referral_id = r.id and x.completion = v_review.completion and x.status = 'in_review'
        returning x.*
    loop
        v_cash := v_cash + case when rw.kind = 'wallet' then rw.amount else 0 end;
        v_count := 1;
        perform log_referral_event(
            case when p_approve then 'reward_pending' else 'reward_rejected' end::referral_event_type,
            r, r.qualifying_order_id,
            jsonb_build_object('rewardId', rw.id, 'side', rw.side, 'kind', rw.kind,
                               'reviewedBy', p_user_id, 'releaseAt', rw.release_at));
    end loop;
    if not p_approve then
        if v_count > 0 then
            perform return_budget(r.campaign_id, v_cash, v_count);
        end if;
        -- Rejected rewards are never released, and the referral counts for nothing.
        update customer_referrals set hold_until = null where id = r.id;
    end if;
    if p_approve then
        perform release_referral(r.id);
        return 'approved';
    end if;
    return 'rejected';
end
$$;

------------------------------------------------------------------------------------------
-- Orders

drop function apply_order_status(integer, order_status_enum, boolean, integer, numeric, varchar, timestamptz, varchar, varchar);

-- Records an order's status as the shop's system knows it and, when the order first
-- reaches a successful status, completes the customer's referral if this order qualifies:
-- placed at or after the referral, and no other order of the customer is a successful
-- order (one that was delivered and then returned or cancelled is not). When the order
-- that completed a referral is returned or cancelled, the referral is reversed.
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

    return query select 'applied'::order_outcome, v_prev, v_completed, v_order.id, v_order.sales_order_number,
        v_order.customer_id, v_order.status, v_order.total_amount, v_order.delivered_at,
        v_order.created_at, v_order.updated_at;
end
$$;

------------------------------------------------------------------------------------------
-- Reconciliation: repairs through the live functions

-- Completes referral `p_referral_id` with its customer's successful order `p_order_id`
-- when a delivery never did (an order written behind the server's back, or one whose
-- earlier sibling was returned since). Takes the live path's locks in its order (order,
-- then referral) and judges by the live rule; true when it completed now.
create function repair_completion(p_referral_id integer, p_order_id integer) returns boolean
language plpgsql as $$
declare
    v_order sales_orders%rowtype;
    r       customer_referrals%rowtype;
begin
    select * into v_order from sales_orders where id = p_order_id for no key update;
    select * into r from customer_referrals where id = p_referral_id for no key update;
    if v_order.id is null or r.id is null or r.status <> 'registered'
       or v_order.customer_id is distinct from r.referred_customer_id
       or not order_status_is_success(v_order.status)
       or qualification_refusal(r, v_order) is not null then
        return false;
    end if;
    return complete_referral(r.id, v_order.id, 'reconciliation') = 'completed';
end
$$;

-- Reverses referral `p_referral_id` when its qualifying order undoes it but the reversal
-- never happened. The live path's locks in its order; true when it reversed now.
create function repair_reversal(p_referral_id integer) returns boolean
language plpgsql as $$
declare
    v_order_id integer;
    v_order    sales_orders%rowtype;
    r          customer_referrals%rowtype;
begin
    select qualifying_order_id into v_order_id from customer_referrals where id = p_referral_id;
    select * into v_order from sales_orders where id = v_order_id for no key update;
    select * into r from customer_referrals where id = p_referral_id for no key update;
    if v_order.id is null or r.status <> 'completed' or r.qualifying_order_id is distinct from v_order.id
       or completion_undone_by(r, v_order) is null then
        return false;
    end if;
    return reverse_referral(r.id, v_order.id, completion_undone_by(r, v_order));
end
$$;

-- The reports of reconciliation runs (the newest is served to the admin dashboard).
create table reconciliation_reports (
    id           integer     generated by default as identity primary key,
    triggered_by varchar(50) not null,
    repair       boolean     not null,
    started_at   timestamptz not null,
    finished_at  timestamptz not null default now(),
    report       jsonb       not null
);
