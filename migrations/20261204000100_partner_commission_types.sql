-- The names of partner commissions and payout batches (issue 11), in their own file: the
-- event types are added to an existing enum, and a value added by `alter type … add value`
-- cannot be used in the transaction that adds it (sqlx runs each file in one). The tables
-- that use them are in 20261204000110_partner_commissions.sql.

-- What kind of partner a code belongs to (it was free text). The declaration order is only
-- the listing order.
create type partner_type as enum ('influencer', 'community', 'delivery_rider', 'affiliate');

-- How a partner is paid: a bKash or Nagad wallet (a Bangladeshi mobile number), or a bank
-- account (free text). Rocket, which withdrawals know, has no bulk file here.
create type partner_payout_method as enum ('bkash', 'nagad', 'bank');

-- Which orders of a customer a partner brought earn the partner a commission: the first
-- successful one only, or every one placed within `commission_days` of the attribution.
create type commission_scope as enum ('first_order', 'every_order');

-- A commission's life, like a reward's:
--   pending → released → paid
--   pending → voided                      (the order returned, cancelled or refunded)
--   released | paid → clawed_back         (the same, after the hold; what was paid is owed)
-- and `skipped` (recorded, never earned: self-dealing, an inactive partner, nothing to pay).
create type partner_commission_status as enum
    ('pending', 'released', 'paid', 'voided', 'clawed_back', 'skipped');

-- Why a commission was skipped. The first four are self-dealing: the order came from the
-- partner's own customer account, phone, device, or went to the partner's own address.
create type commission_skip_reason as enum
    ('own_account', 'own_phone', 'own_device', 'own_address', 'partner_inactive', 'zero_amount');

-- A payout batch line (one partner's transfer): waiting for the provider, paid with its
-- transaction id, or rejected (its commissions go back to unpaid, for a later batch).
create type payout_line_status as enum ('pending', 'paid', 'rejected');

-- One event per commission transition (payload `commissionId`, `partnerId`, `amount`, …).
alter type referral_event_type add value 'commission_pending';
alter type referral_event_type add value 'commission_skipped';
alter type referral_event_type add value 'commission_released';
alter type referral_event_type add value 'commission_adjusted';
alter type referral_event_type add value 'commission_voided';
alter type referral_event_type add value 'commission_clawed_back';
alter type referral_event_type add value 'commission_paid';
alter type referral_event_type add value 'commission_payout_rejected';
