-- The event outbox: one stream of Bondhu's domain events, and signed webhooks out of it.
--
-- `outbox_events` holds one row per business fact ("referral 12 completed for the 1st
-- time", "reward 40 released"), written by triggers in the same transaction as the change,
-- so an event exists if and only if its change committed, whichever function made it
-- (delivery, the release job, a review, reconciliation's repairs, an operator). It is the
-- project's one event stream: webhook subscriptions fan out of it here, and a later relay
-- (NATS JetStream) reads the same rows and publishes each once with `event_id` as its
-- message id. Rows are immutable; `dedupe_key` makes each fact one event.
--
-- `emit_event` is the one writer. It also fans the event out, in the same transaction, to
-- one `webhook_deliveries` row per active subscription that asked for its type: exact (a
-- subscription sees precisely the events committed while it was active) and cheap (with no
-- subscription, the fan-out is a scan of an empty table). The dispatcher (src/service/
-- webhooks) claims deliveries with FOR UPDATE SKIP LOCKED under a lease and POSTs them,
-- signed, with no transaction open.
--
-- Payloads are small and stable: ids, amounts as strings with two decimals, timestamps
-- as RFC 3339 UTC text; never a phone, an account number or a secret
-- (docs/WEBHOOKS.md documents each type).

create type domain_event_type as enum (
    'referral.registered',
    'referral.completed',
    'reward.pending',
    'reward.released',
    'reward.voided',
    'reward.clawed_back',
    'withdrawal.paid',
    'partner.commission_earned'
);
create type webhook_delivery_status as enum (
    'queued',     -- waiting for its next attempt (next_attempt_at)
    'sending',    -- claimed by a dispatcher until locked_until; reclaimed after it
    'delivered',  -- the receiver answered 2xx
    'dead',       -- given up: the retry window ended, or the receiver answered 410 Gone
    'cancelled'   -- its subscription was deactivated before it was delivered
);

create table outbox_events (
    id          bigint            generated always as identity primary key,
    -- The id receivers deduplicate by (Bondhu-Event-Id; the relay's Nats-Msg-Id).
    event_id    uuid              not null default gen_random_uuid(),
    type        domain_event_type not null,
    -- One event per business fact: `reward:{id}:released`, …
    dedupe_key  text              not null,
    payload     jsonb             not null,
    created_at  timestamptz       not null default now(),
    constraint outbox_events_event_id_key unique (event_id),
    constraint outbox_events_dedupe_key unique (dedupe_key),
    constraint outbox_events_payload_object check (jsonb_typeof(payload) = 'object')
);
-- Events are facts: never changed (old ones may be deleted, with their deliveries, by a
-- retention job).
create trigger outbox_events_immutable
    before update on outbox_events
    for each row execute function forbid_mutation();

create table webhook_subscriptions (
    id                         bigint              generated always as identity primary key,
    -- http(s), no userinfo, no fragment; checked against the SSRF rules when saved and
    -- again, after DNS, on every attempt.
    url                        text                not null,
    events                     domain_event_type[] not null,
    -- The signing secret. The server must read it to sign, so it is stored as given;
    -- the API never returns it (only its last four characters).
    secret                     text                not null,
    -- The secret before the last rotation, still signing until previous_secret_expires_at.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    active                     boolean             not null default true,
    -- 'deleted' (DELETE) or 'gone' (the receiver answered 410 Gone).
    deactivation_reason        varchar(20),
    deactivated_at             timestamptz,
    -- Who made it: 'user:{id}' or 'api_key:{id}'.
    created_by                 varchar(40)         not null,
    created_at                 timestamptz         not null default now(),
    updated_at                 timestamptz         not null default now(),
    constraint webhook_subscriptions_url_shape
        check (url ~ '^https?://' and char_length(url) <= 2000),
    constraint webhook_subscriptions_events_present check (cardinality(events) > 0),
    constraint webhook_subscriptions_secret_length check (char_length(secret) between 16 and 200),
    constraint webhook_subscriptions_previous_secret_consistent
        check ((previous_secret is null) = (previous_secret_expires_at is null)),
    constraint webhook_subscriptions_deactivation_consistent
        check (active = (deactivated_at is null) and active = (deactivation_reason is null)),
    constraint webhook_subscriptions_deactivation_reason
        check (deactivation_reason in ('deleted', 'gone'))
);

create table webhook_deliveries (
    id                bigint                  generated always as identity primary key,
    subscription_id   bigint                  not null references webhook_subscriptions (id),
    outbox_event_id   bigint                  not null references outbox_events (id) on delete cascade,
    status            webhook_delivery_status not null default 'queued',
    -- Attempts ever made; never reset (a re-send continues the count), so recording an
    -- answer fenced by the attempt number can never accept a stale one.
    attempts          integer                 not null default 0,
    next_attempt_at   timestamptz             not null default now(),
    locked_until      timestamptz,
    -- Retries stop this long after it (24 h): the creation, or the last re-send.
    window_started_at timestamptz             not null default now(),
    last_attempt_at   timestamptz,
    last_status_code  integer,
    -- Why the last attempt failed: short, no secrets, at most 300 characters.
    last_error        text,
    last_response_ms  integer,
    delivered_at      timestamptz,
    created_at        timestamptz             not null default now(),
    updated_at        timestamptz             not null default now(),
    constraint webhook_deliveries_once unique (subscription_id, outbox_event_id),
    constraint webhook_deliveries_attempts_non_negative check (attempts >= 0),
    constraint webhook_deliveries_sending_is_leased
        check ((status = 'sending') = (locked_until is not null)),
    constraint webhook_deliveries_delivered_when check ((status = 'delivered') = (delivered_at is not null)),
    constraint webhook_deliveries_error_short check (char_length(last_error) <= 300)
);
-- The dispatcher's two claims: due queued deliveries, and expired leases.
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'queued';
create index webhook_deliveries_lease_idx on webhook_deliveries (locked_until) where status = 'sending';
-- A subscription's delivery log, newest first.
create index webhook_deliveries_subscription_idx on webhook_deliveries (subscription_id, id desc);
-- The foreign key to events (a retention job deleting old events).
create index webhook_deliveries_event_idx on webhook_deliveries (outbox_event_id);

-- An instant as payloads carry it: RFC 3339 in UTC with milliseconds and `Z`
-- (`2026-12-04T10:00:00.000Z`), whatever the session's time zone.
create function event_time(p_at timestamptz) returns text
language sql stable as $$
    select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Records one domain event, once per `p_dedupe_key`, in the caller's transaction, and
-- queues one delivery to every active subscription of its type. Returns the event's id
-- (the Bondhu-Event-Id receivers see), or null when the fact was recorded before. The one
-- writer of outbox_events: every trigger below calls it, and so will the commissions'.
create function emit_event(p_type domain_event_type, p_dedupe_key text, p_payload jsonb)
returns uuid
language plpgsql as $$
declare
    v_id    bigint;
    v_event uuid;
begin
    insert into outbox_events (type, dedupe_key, payload)
    values (p_type, p_dedupe_key, p_payload)
    on conflict (dedupe_key) do nothing
    returning id, event_id into v_id, v_event;
    if v_id is null then
        return null;
    end if;
    insert into webhook_deliveries (subscription_id, outbox_event_id)
    select s.id, v_id from webhook_subscriptions s
    where s.active and p_type = any (s.events);
    return v_event;
end
$$;

------------------------------------------------------------------------------------------
-- The emitters: a trigger on each table whose changes are events, so that every path
-- that makes the change emits the event, and the delivered path stays one statement.

-- A referral's registration (a friend joined with the code, or claimed an invitation) and
-- each completion. Registration happens once (a reversal sends a referral back to
-- `registered`: that is no new registration, and the dedupe key keeps it one event); a
-- referral completes again after a reversal, so each completion is its own event.
create function emit_referral_events() returns trigger
language plpgsql as $$
declare
    v_payload jsonb := jsonb_build_object(
        'referralId', new.id,
        'referrerCustomerId', new.referrer_customer_id,
        'referredCustomerId', new.referred_customer_id,
        'partnerId', new.partner_id,
        'campaignId', new.campaign_id,
        'channel', new.source_channel);
begin
    if new.status = 'registered' then
        perform emit_event('referral.registered', 'referral:' || new.id || ':registered', v_payload);
    elsif new.status = 'completed' then
        perform emit_event('referral.completed',
            'referral:' || new.id || ':completed:' || new.completions,
            v_payload || jsonb_build_object(
                'completion', new.completions,
                'orderId', new.qualifying_order_id,
                'completedAt', event_time(new.completed_at),
                'holdUntil', event_time(new.hold_until)));
    end if;
    return null;
end
$$;

create trigger customer_referrals_insert_event
    after insert on customer_referrals
    for each row when (new.status in ('registered', 'completed'))
    execute function emit_referral_events();
create trigger customer_referrals_update_event
    after update of status on customer_referrals
    for each row when (new.status is distinct from old.status and new.status in ('registered', 'completed'))
    execute function emit_referral_events();

-- A reward's life: pending (held), released (paid), voided (taken back while held),
-- clawed back (taken back after it was paid). Each status is reached at most once per
-- reward, so `reward:{id}:{status}` is the fact. Skipped, in-review and rejected rewards
-- are not events.
create function emit_reward_event() returns trigger
language plpgsql as $$
declare
    v_payload jsonb := jsonb_build_object(
        'rewardId', new.id,
        'referralId', new.referral_id,
        'customerId', new.customer_id,
        'completion', new.completion,
        'side', new.side,
        'kind', new.kind,
        'amount', new.amount::text,
        'points', new.points);
begin
    perform emit_event(('reward.' || new.status)::domain_event_type,
        'reward:' || new.id || ':' || new.status,
        v_payload || case new.status
            when 'pending' then jsonb_build_object('releaseAt', event_time(new.release_at))
            when 'released' then jsonb_build_object('releasedAt', event_time(new.released_at))
            else jsonb_build_object('reason', new.reversal_reason,
                                    'reversedAt', event_time(new.reversed_at))
        end);
    return null;
end
$$;

create trigger referral_rewards_insert_event
    after insert on referral_rewards
    for each row when (new.status in ('pending', 'released'))
    execute function emit_reward_event();
create trigger referral_rewards_update_event
    after update of status on referral_rewards
    for each row
    when (new.status is distinct from old.status
          and new.status in ('pending', 'released', 'voided', 'clawed_back'))
    execute function emit_reward_event();

-- A withdrawal paid out (the ledger debit happened in the same transaction). The account
-- it was paid to is a phone or a bank account: never in the payload.
create function emit_withdrawal_event() returns trigger
language plpgsql as $$
begin
    perform emit_event('withdrawal.paid', 'withdrawal:' || new.id || ':paid',
        jsonb_build_object(
            'withdrawalId', new.id,
            'customerId', new.customer_id,
            'amount', new.amount::text,
            'method', new.method,
            'payoutReference', new.payout_reference,
            'paidAt', event_time(new.paid_at)));
    return null;
end
$$;

create trigger wallet_withdrawal_requests_paid_event
    after update of status on wallet_withdrawal_requests
    for each row when (new.status = 'paid' and old.status is distinct from 'paid')
    execute function emit_withdrawal_event();
