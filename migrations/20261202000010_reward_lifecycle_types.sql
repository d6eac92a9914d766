-- The names of the reward lifecycle (holds, release, reversal, review), in their own file:
-- a value added to an enum cannot be used in the transaction that adds it, and the next
-- migration (20261202000040_reward_holds.sql) uses them in constraints and indexes.

-- A reward's states. `issued` becomes `released`: every reward issued before holds
-- existed was spendable at once, which is what released means now.
--   pending → released → clawed_back
--   pending → voided
--   pending → in_review → pending | released | rejected
-- and `skipped` (never issued: below the minimum, limits, budget, a blocking fraud rule).
alter type reward_status rename value 'issued' to 'released';
alter type reward_status add value 'pending' before 'released';
alter type reward_status add value 'in_review' after 'skipped';
alter type reward_status add value 'voided' after 'in_review';
alter type reward_status add value 'clawed_back' after 'voided';
alter type reward_status add value 'rejected' after 'clawed_back';

-- One event per lifecycle transition.
alter type referral_event_type add value 'reward_pending';
alter type referral_event_type add value 'reward_released';
alter type referral_event_type add value 'reward_voided';
alter type referral_event_type add value 'reward_clawed_back';
alter type referral_event_type add value 'reward_held_for_review';
alter type referral_event_type add value 'reward_rejected';

-- A referral held for review: open until a staff user decides, or withdrawn when its
-- qualifying order is reversed first (there is nothing left to decide).
create type review_status as enum ('open', 'approved', 'rejected', 'withdrawn');

-- What deciding a review did (decide_review).
create type review_outcome as enum ('approved', 'rejected', 'not_found', 'already_decided');

-- What recording a refund did (refund_order).
create type refund_outcome as enum
    ('refunded', 'replayed', 'key_conflict', 'order_not_found', 'exceeds_total');
