-- Typed values across the SQL boundary: every closed set of names that the application
-- and the money core exchange becomes a PostgreSQL enum, mirrored by a Rust enum with
-- `sqlx::Type` (src/domain/*). An unknown name is then refused by the database on the way
-- in and fails to decode, loudly, on the way out; it can never be read as "not found".
--
-- The CHECK constraints that used to list these names are replaced by the types. Rules
-- about combinations of values stay CHECKs, recreated here against the enums.
-- (A test compares each Rust enum with enum_range() of its type.)

-- Membership tiers, lowest first: the declaration order IS the ladder (enums compare in
-- declaration order), so "raise, never lower" is `new > current` everywhere.
create type membership_tier as enum ('none', 'silver', 'gold', 'permanent');
-- Who set a tier.
create type tier_source as enum ('manual', 'evaluation', 'referral');
-- What a campaign pays, and what a reward decision is about (`milestone`: milestone cash,
-- never a campaign's reward_type).
create type reward_kind as enum ('wallet', 'points', 'coupon', 'free_product', 'membership', 'milestone');
-- Whether a reward was issued, or skipped with a reason.
create type reward_status as enum ('issued', 'skipped');
-- The two sides of a referral.
create type referral_side as enum ('referrer', 'referred');
-- A referral's life: invited, joined, first order delivered (or never).
create type referral_status as enum ('pending', 'registered', 'completed', 'expired');
-- Everything the event log records.
create type referral_event_type as enum (
    'clicked', 'invited', 'registered', 'partner_attributed', 'unknown_code',
    'self_referral_blocked', 'attribution_ignored', 'completed', 'completion_skipped',
    'reward_credited', 'reward_issued_coupon', 'reward_issued_free_product',
    'vip_tier_upgraded', 'milestone_reached', 'milestone_skipped', 'coupon_redeemed',
    'coupon_not_redeemed', 'qualifying_order_reversed', 'review_created',
    'whatsapp_referral_nudge');
-- The wallet ledger's columns (TrustCart's names and values).
create type wallet_transaction_type as enum ('credit', 'debit');
create type wallet_transaction_status as enum ('posted', 'pending', 'reversed');
create type wallet_source as enum ('referral', 'bonus', 'refund', 'purchase', 'withdrawal');
-- The points ledger's direction.
create type points_transaction_type as enum ('earn', 'redeem');
-- Coupons.
create type coupon_kind as enum ('discount', 'free_product');
create type discount_type as enum ('fixed', 'percent');
create type coupon_status as enum ('active', 'redeemed', 'void');

-- What the money core's functions answer (see the function migrations that follow).
create type posting_outcome as enum
    ('posted', 'replayed', 'key_conflict', 'insufficient_funds', 'account_not_found');
create type completion_outcome as enum
    ('completed', 'already_completed', 'not_registered', 'not_found');
create type order_outcome as enum
    ('applied', 'order_not_found', 'customer_conflict', 'customer_not_found');
-- Why a coupon cannot be used (validation and redemption give the same answer).
create type coupon_refusal as enum
    ('not_found', 'not_yours', 'already_redeemed', 'void', 'not_yet_valid', 'expired',
     'not_first_order');

-- Memberships.
alter table customer_memberships
    drop constraint customer_memberships_tier_known,
    drop constraint customer_memberships_tier_source_known,
    alter column membership_tier drop default,
    alter column membership_tier type membership_tier using membership_tier::membership_tier,
    alter column membership_tier set default 'none',
    alter column tier_source type tier_source using tier_source::tier_source;

-- Campaigns.
alter table referral_campaigns
    drop constraint referral_campaigns_reward_type_known,
    drop constraint referral_campaigns_vip_tier_known,
    drop constraint referral_campaigns_membership_has_threshold,
    drop constraint referral_campaigns_free_product_named,
    alter column reward_type drop default,
    alter column reward_type type reward_kind using reward_type::reward_kind,
    alter column reward_type set default 'wallet',
    alter column vip_membership_tier type membership_tier using vip_membership_tier::membership_tier,
    add constraint referral_campaigns_reward_type_payable check (reward_type <> 'milestone'),
    add constraint referral_campaigns_vip_tier_above_none
        check (vip_membership_tier is null or vip_membership_tier > 'none'),
    add constraint referral_campaigns_membership_has_threshold check (
        reward_type <> 'membership' or vip_referrals_threshold is not null),
    add constraint referral_campaigns_free_product_named check (
        reward_type <> 'free_product'
        or referrer_free_product_id is not null or referred_free_product_id is not null);

-- Referrals.
alter table customer_referrals
    drop constraint customer_referrals_status_known,
    drop constraint customer_referrals_registered_has_customer,
    drop constraint customer_referrals_completion_consistent,
    alter column status drop default,
    alter column status type referral_status using status::referral_status,
    alter column status set default 'pending',
    alter column reward_type drop default,
    alter column reward_type type reward_kind using reward_type::reward_kind,
    alter column reward_type set default 'wallet',
    add constraint customer_referrals_registered_has_customer
        check (status not in ('registered', 'completed') or referred_customer_id is not null),
    add constraint customer_referrals_completion_consistent
        check ((status = 'completed') = (completed_at is not null));

-- Reward decisions.
alter table referral_rewards
    drop constraint referral_rewards_side_known,
    drop constraint referral_rewards_kind_known,
    drop constraint referral_rewards_status_known,
    drop constraint referral_rewards_reason_iff_skipped,
    alter column side type referral_side using side::referral_side,
    alter column kind type reward_kind using kind::reward_kind,
    alter column status type reward_status using status::reward_status,
    alter column membership_tier type membership_tier using membership_tier::membership_tier,
    add constraint referral_rewards_kind_not_milestone check (kind <> 'milestone'),
    add constraint referral_rewards_reason_iff_skipped check ((status = 'skipped') = (reason is not null));

-- Milestone awards are decisions too: a milestone the budget cannot pay is recorded as
-- skipped with its reason, exactly like a referral reward (one budget behaviour).
alter table milestone_awards
    add column status reward_status not null default 'issued',
    add column reason varchar(40),
    add constraint milestone_awards_reason_iff_skipped check ((status = 'skipped') = (reason is not null)),
    add constraint milestone_awards_issued_has_credit check (
        status = 'skipped' or wallet_transaction_id is not null);

-- The event log.
alter table referral_events
    alter column event_type type referral_event_type using event_type::referral_event_type;

-- The wallet ledger (its append-only trigger does not fire on a type change: that is a
-- table rewrite, not an UPDATE of rows).
drop index wallet_transactions_reference_idx;
alter table wallet_transactions
    drop constraint wallet_transactions_type_known,
    drop constraint wallet_transactions_status_known,
    drop constraint wallet_transactions_source_known,
    alter column transaction_type type wallet_transaction_type using transaction_type::wallet_transaction_type,
    alter column status drop default,
    alter column status type wallet_transaction_status using status::wallet_transaction_status,
    alter column status set default 'posted',
    alter column source type wallet_source using source::wallet_source;
create index wallet_transactions_reference_idx on wallet_transactions (reference_id) where source = 'referral';

-- The points ledger.
alter table point_transactions
    drop constraint point_transactions_type_known,
    alter column transaction_type type points_transaction_type using transaction_type::points_transaction_type;

-- Coupons.
alter table coupons
    drop constraint coupons_kind_known,
    drop constraint coupons_discount_shape,
    drop constraint coupons_free_product_shape,
    drop constraint coupons_status_known,
    drop constraint coupons_redemption_consistent,
    alter column kind type coupon_kind using kind::coupon_kind,
    alter column discount_type type discount_type using discount_type::discount_type,
    alter column status drop default,
    alter column status type coupon_status using status::coupon_status,
    alter column status set default 'active',
    add constraint coupons_discount_shape check (
        kind <> 'discount'
        or (discount_type is not null and discount_value > 0
            and (discount_type <> 'percent' or discount_value <= 100))),
    add constraint coupons_free_product_shape check (kind <> 'free_product' or product_id is not null),
    add constraint coupons_redemption_consistent check (
        (status = 'redeemed') = (redeemed_order_id is not null and redeemed_at is not null)),
    -- Usable from when it was issued (or later), never before.
    add constraint coupons_validity_ordered check (valid_until is null or valid_until > valid_from);
