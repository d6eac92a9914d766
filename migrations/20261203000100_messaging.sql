-- Messages to customers and their friends (WhatsApp, SMS) through an outbox.
--
-- A message is written to `outbound_messages` in the same transaction as the business
-- change that causes it: the triggers below do it for a delivered order and for a
-- referral completed or released (so every path that delivers, completes or releases,
-- whichever function it runs, queues the same message), and the application does it for
-- a verification code and an agent's invitation. The dispatcher (src/service/messaging)
-- sends afterwards, in every instance: it claims rows with FOR UPDATE SKIP LOCKED, never
-- holds a transaction open across a provider call, and retries with backoff.
--
-- A row keeps the ids it is about (customer, order, referral) and small parameters; the
-- text is rendered when the message is first claimed, from the template of its kind in
-- the customer's language, and kept with its SMS segment count.

create type message_kind as enum (
    'share_nudge',          -- after a delivered order: the customer's code and link
    'referral_completed',   -- to the referrer: a friend's order completed the referral
    'reward_released',      -- to the referrer: the reward's hold ended, the money is theirs
    'verification_code',    -- a phone verification code (OTP)
    'agent_invitation',     -- a call-centre agent's invitation to a friend
    'share_message'         -- the text a customer shares (a template only: never queued)
);
create type message_status as enum (
    'queued',      -- waiting for its next attempt (next_attempt_at)
    'sending',     -- claimed by a dispatcher until locked_until; reclaimed after it
    'sent',        -- the provider accepted it
    'delivered',   -- the provider reported it delivered
    'read',        -- the provider reported it read
    'failed',      -- the provider accepted it, then reported it undeliverable
    'dead',        -- given up: a final error, or MESSAGE_MAX_ATTEMPTS reached
    'suppressed'   -- not sent, for the recorded reason (opted out, daily cap, …)
);
create type message_channel as enum ('whatsapp', 'sms');
create type message_language as enum ('bn', 'en');

-- The language messages to a customer are written in.
alter table customers add column language message_language not null default 'bn';

-- Phones that asked for no more messages (a customer's switch, or STOP sent back).
-- Keyed by phone, so a friend who was never a customer can opt out too.
create table messaging_opt_outs (
    phone        varchar(20) primary key,
    opted_out_at timestamptz not null default now(),
    source       varchar(20) not null,
    constraint messaging_opt_outs_phone_e164 check (phone ~ '^\+8801[3-9][0-9]{8}$'),
    constraint messaging_opt_outs_source check (source in ('customer', 'inbound_stop', 'operator'))
);

-- The text of each kind, edited by operators without a rebuild. Variables are written
-- `{name}`; the application checks them against the kind's list when a template is saved.
create table message_templates (
    kind                   message_kind primary key,
    bn                     text         not null,
    en                     text         not null,
    -- The approved WhatsApp template of this kind; null: the kind is not sent on WhatsApp.
    whatsapp_template_name varchar(512),
    updated_at             timestamptz  not null default now(),
    updated_by_user_id     integer      references users (id) on delete set null,
    constraint message_templates_not_empty check (btrim(bn) <> '' and btrim(en) <> ''),
    constraint message_templates_whatsapp_name
        check (whatsapp_template_name ~ '^[a-z0-9_]+$')
);

insert into message_templates (kind, bn, en) values
('share_nudge',
 '{code} আপনার রেফারেল কোড। {name}, আপনার অর্ডার পৌঁছে গেছে! বন্ধুদের সাথে শেয়ার করুন, তাদের প্রথম অর্ডারে আপনি পুরস্কার পাবেন: {link}',
 '{code} is your referral code. {name}, your order has arrived! Share it with friends and earn a reward on their first order: {link}'),
('referral_completed',
 '{code}: আপনার বন্ধু {friend} প্রথম অর্ডার গ্রহণ করেছেন। ফেরতের সময় শেষ হলে আপনার ওয়ালেটে {amount} যোগ হবে।',
 '{code}: your friend {friend} received their first order. {amount} will be added to your wallet once the return window closes.'),
('reward_released',
 '{code}: আপনার ওয়ালেটে {amount} যোগ হয়েছে। বন্ধুদের আমন্ত্রণ জানিয়ে আরও আয় করুন!',
 '{code}: {amount} has been added to your wallet. Invite more friends to earn more!'),
('verification_code',
 '{code} আপনার যাচাই কোড। {minutes} মিনিটের মধ্যে ব্যবহার করুন। কাউকে কোডটি বলবেন না।',
 '{code} is your verification code. It expires in {minutes} minutes. Never share it with anyone.'),
('agent_invitation',
 '{code}: {referrer} আপনাকে আমন্ত্রণ জানিয়েছেন। এই কোড দিয়ে নিবন্ধন করুন, প্রথম অর্ডারে {offer} পুরস্কার পান: {link}',
 '{code}: {referrer} invited you. Sign up with this code and get {offer} on your first order: {link}'),
('share_message',
 '{code} কোডটি দিয়ে নিবন্ধন করুন, প্রথম অর্ডারে পুরস্কার পান: {link}',
 '{code} is my referral code: sign up with it and get a reward on your first order: {link}');

create table outbound_messages (
    id                  bigint          generated always as identity primary key,
    -- The stable id providers that deduplicate receive (SSL Wireless csms_id), so a
    -- resend after a crash is recognised.
    message_id          uuid            not null default gen_random_uuid(),
    kind                message_kind    not null,
    customer_id         integer         references customers (id),
    -- The recipient; null until the first claim for a message to a customer (their
    -- phone then). Never logged whole.
    phone               varchar(20),
    order_id            integer         references sales_orders (id),
    referral_id         integer         references customer_referrals (id),
    -- The kind's parameters (a verification code until it is sent: erased afterwards).
    params              jsonb           not null default '{}',
    -- One message per business fact: the same fact queued twice is one row.
    dedupe_key          text,
    status              message_status  not null default 'queued',
    attempts            integer         not null default 0,
    next_attempt_at     timestamptz     not null default now(),
    locked_until        timestamptz,
    channel             message_channel,
    provider            varchar(30),
    provider_message_id text,
    language            message_language,
    body                text,
    segments            integer,
    encoding            varchar(5),
    last_error          text,
    suppressed_reason   varchar(40),
    created_at          timestamptz     not null default now(),
    first_attempt_at    timestamptz,
    sent_at             timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    failed_at           timestamptz,
    updated_at          timestamptz     not null default now(),
    constraint outbound_messages_message_id_key unique (message_id),
    constraint outbound_messages_dedupe_key unique (dedupe_key),
    constraint outbound_messages_not_template_only check (kind <> 'share_message'),
    constraint outbound_messages_has_recipient check (phone is not null or customer_id is not null),
    constraint outbound_messages_phone_e164 check (phone ~ '^\+8801[3-9][0-9]{8}$'),
    constraint outbound_messages_attempts_non_negative check (attempts >= 0),
    constraint outbound_messages_segments_positive check (segments > 0),
    constraint outbound_messages_encoding check (encoding in ('gsm7', 'ucs2')),
    constraint outbound_messages_sending_is_leased check ((status = 'sending') = (locked_until is not null)),
    constraint outbound_messages_suppression_has_reason
        check ((status = 'suppressed') = (suppressed_reason is not null))
);
-- The dispatcher's two claims: due queued messages, and expired leases.
create index outbound_messages_due_idx on outbound_messages (next_attempt_at) where status = 'queued';
create index outbound_messages_lease_idx on outbound_messages (locked_until) where status = 'sending';
-- The daily cap and the share-nudge interval count a recipient's recent sends.
create index outbound_messages_recipient_idx on outbound_messages (phone, first_attempt_at)
    where first_attempt_at is not null;
-- Status callbacks find the message by the provider's id.
create unique index outbound_messages_provider_id_key on outbound_messages (provider, provider_message_id)
    where provider_message_id is not null;
-- The operators' list, by status, newest first.
create index outbound_messages_status_idx on outbound_messages (status, id);

-- Queues a message, unless one with the same dedupe key exists. Returns the new row's id,
-- or null when it was a duplicate. The one writer of outbound_messages' new rows.
create function enqueue_message(
    p_kind        message_kind,
    p_customer_id integer,
    p_phone       varchar,
    p_order_id    integer,
    p_referral_id integer,
    p_params      jsonb,
    p_dedupe_key  text)
returns bigint
language sql as $$
    insert into outbound_messages (kind, customer_id, phone, order_id, referral_id, params, dedupe_key)
    values (p_kind, p_customer_id, p_phone, p_order_id, p_referral_id, coalesce(p_params, '{}'), p_dedupe_key)
    on conflict (dedupe_key) do nothing
    returning id
$$;

-- After a delivered order, the customer's share code and link (guide 4.1). Whether it is
-- sent (opt-out, SHARE_NUDGE_DAYS, the daily cap) is the dispatcher's decision, recorded
-- on the row; one nudge per order however often it is delivered again.
create function queue_delivery_messages() returns trigger
language plpgsql as $$
begin
    if new.customer_id is not null then
        perform enqueue_message('share_nudge', new.customer_id, null, new.id, null, '{}',
                                'share_nudge:order:' || new.id);
    end if;
    return null;
end $$;

create trigger sales_orders_delivered_insert_message
    after insert on sales_orders
    for each row when (new.delivered_at is not null)
    execute function queue_delivery_messages();
create trigger sales_orders_delivered_update_message
    after update of delivered_at on sales_orders
    for each row when (old.delivered_at is null and new.delivered_at is not null)
    execute function queue_delivery_messages();

-- To the referrer: when a friend's order completes the referral, and when its rewards are
-- released. A referral that completes again after a reversal counts its completions, so
-- each completion tells once. A partner's referral has no referrer to tell.
create function queue_referral_messages() returns trigger
language plpgsql as $$
begin
    if new.referrer_customer_id is null then
        return null;
    end if;
    if new.status = 'completed' and old.status is distinct from 'completed' then
        perform enqueue_message('referral_completed', new.referrer_customer_id, null, null, new.id,
                                '{}', 'referral_completed:' || new.id || ':' || new.completions);
    end if;
    if old.released_at is null and new.released_at is not null then
        perform enqueue_message('reward_released', new.referrer_customer_id, null, null, new.id,
                                '{}', 'reward_released:' || new.id || ':' || new.completions);
    end if;
    return null;
end $$;

create trigger customer_referrals_message
    after update of status, released_at on customer_referrals
    for each row
    when ((new.status = 'completed' and old.status is distinct from 'completed')
          or (old.released_at is null and new.released_at is not null))
    execute function queue_referral_messages();
