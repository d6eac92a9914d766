-- Types for the fraud controls (tables and the verdict are in 20261202000030_fraud.sql).
-- Alone in their own file: a value added by `alter type … add value` cannot be used in
-- the transaction that adds it, and sqlx runs each file in one transaction.

-- A referral refused at attribution (payload `reason`: `blocklisted`); the customer
-- still registers, without a referral.
alter type referral_event_type add value 'referral_refused';

-- What a fraud signal records: a device id, a client address (an HMAC, never the address
-- itself), a canonical email, an E.164 phone, a normalised delivery address.
create type signal_kind as enum ('device', 'ip', 'email', 'phone', 'address');
-- Where a signal was recorded.
create type signal_context as enum ('signup', 'landing', 'invitation', 'order');
-- What a fraud rule does when it fires, weakest first: the declaration order is the
-- severity, so the verdict of several rules is their max().
create type fraud_action as enum ('off', 'review', 'block');
-- What a blocklist entry matches.
create type blocklist_kind as enum ('phone', 'email_domain', 'device', 'address');
