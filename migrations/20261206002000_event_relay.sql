-- The relay of the event outbox to NATS JetStream (src/service/event_relay.rs,
-- docs/EVENTS.md): every instance started with EVENTS_NATS_URL publishes each event of
-- `outbox_events` once, with its `event_id` as `Nats-Msg-Id`, and records where it landed.
--
-- One publication record per event, written by `emit_event` in the event's own
-- transaction, rather than a cursor over the outbox:
-- - a cursor ("published up to id 42") is not exact: identity ids are taken at insert and
--   become visible at commit, so the transaction holding 41 can commit after the one
--   holding 42, and 41 would be skipped for ever;
-- - finding the events without a record (an anti-join of outbox_events against the
--   records) is exact, but reads the whole outbox on every round;
-- - a record per event, written with it, is exact (an event has a record if and only if it
--   committed) and cheap: a round claims from a partial index of what is not published yet,
--   exactly as the webhook dispatcher claims its deliveries (FOR UPDATE SKIP LOCKED, a
--   lease, the attempt number as the fence).
--
-- Only while a relay is on: `event_relay` holds one row once an instance has started with
-- EVENTS_NATS_URL (it registers its stream at start-up). Without that row `emit_event`
-- writes no record (one look at an empty table), so a server without NATS pays nothing
-- and keeps no backlog. Like a webhook subscription, the relay sees the events committed
-- after it was turned on; older ones are published by inserting their records
-- (docs/EVENTS.md). Turning it off for good is deleting that row.
--
-- `emit_event` is re-created for this (its signature stays); the only change from
-- 20261204000400_event_outbox.sql is the last insert.

create type event_publication_status as enum (
    'queued',      -- waiting for its next attempt (next_attempt_at)
    'publishing',  -- claimed by a relay until locked_until; reclaimed after it
    'published'    -- JetStream acknowledged it: stored (or already stored) at stream_sequence
);

-- The relay's switch: one row, or none.
create table event_relay (
    singleton  boolean     primary key default true,
    -- The JetStream stream the relay publishes to (EVENTS_NATS_STREAM), as last started.
    stream     text        not null,
    enabled_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint event_relay_one_row check (singleton),
    constraint event_relay_stream_shape check (char_length(stream) between 1 and 64)
);

create table event_publications (
    outbox_event_id bigint                   primary key references outbox_events (id) on delete cascade,
    status          event_publication_status not null default 'queued',
    -- Attempts ever made; never reset, so recording an acknowledgement fenced by the
    -- attempt number never accepts a stale one.
    attempts        integer                  not null default 0,
    next_attempt_at timestamptz              not null default now(),
    locked_until    timestamptz,
    -- The message's sequence in the stream (the first one, when a retry was a duplicate).
    stream_sequence bigint,
    published_at    timestamptz,
    -- Why the last attempt failed: short, no secrets, at most 300 characters.
    last_error      text,
    -- The event's time (the same transaction): what the relay's lag is measured from.
    created_at      timestamptz              not null default now(),
    constraint event_publications_attempts_non_negative check (attempts >= 0),
    constraint event_publications_publishing_is_leased
        check ((status = 'publishing') = (locked_until is not null)),
    constraint event_publications_published_when
        check ((status = 'published') = (published_at is not null)
               and (status = 'published') = (stream_sequence is not null)),
    constraint event_publications_error_short check (char_length(last_error) <= 300)
);
-- What is not published yet, in event order: the relay's claim (due rows and expired
-- leases) and the depth and lag metrics read it; published rows leave it.
create index event_publications_unpublished_idx
    on event_publications (outbox_event_id) where status <> 'published';

-- Records one domain event, once per `p_dedupe_key`, in the caller's transaction; queues one
-- delivery to every active subscription of its type, and its publication when the relay is
-- on. Returns the event's id, or null when the fact was recorded before. The one writer of
-- outbox_events.
create or replace function emit_event(p_type domain_event_type, p_dedupe_key text, p_payload jsonb)
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
    insert into event_publications (outbox_event_id)
    select v_id where exists (select 1 from event_relay);
    return v_event;
end
$$;
