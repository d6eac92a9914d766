-- Partners who earn and get paid (issue 11, guide 4.10 and 4.11): the partner's type, contact
-- phone, payout account and commission rule; the partner ledger (`partner_commissions`, one
-- row per partner and order); payout batches, their per-partner lines and the commissions
-- each line carries; and the `manage-payouts` permission.
--
-- The functions that write these rows (accrual inside apply_order_status, release, reversal,
-- batches) are in the next files of this series; nothing here moves money.

------------------------------------------------------------------------------------------
-- Partners

-- `partner_type` becomes the enum. Free-text values are mapped to the nearest kind, and
-- anything else (TrustCart's `shop`, typos) becomes `affiliate`: a code that brings
-- customers for a cut, which is what every other partner is. The old text is kept in
-- `legacy_partner_type` where it changed, so nothing is lost.
alter table referral_partners add column legacy_partner_type varchar(30);
update referral_partners
set legacy_partner_type = partner_type
where lower(btrim(partner_type)) not in ('influencer', 'community', 'delivery_rider', 'affiliate');
alter table referral_partners
    alter column partner_type drop default,
    alter column partner_type type partner_type using (
        case
            when lower(btrim(partner_type)) in ('influencer', 'community', 'delivery_rider', 'affiliate')
                then lower(btrim(partner_type))
            when lower(btrim(partner_type)) in ('rider', 'delivery-rider', 'delivery rider', 'delivery', 'courier')
                then 'delivery_rider'
            when lower(btrim(partner_type)) in ('group', 'facebook_group', 'whatsapp_group', 'community_group')
                then 'community'
            when lower(btrim(partner_type)) in ('creator', 'blogger', 'youtuber', 'influencers')
                then 'influencer'
            else 'affiliate'
        end)::partner_type,
    alter column partner_type set default 'influencer';

alter table referral_partners
    -- E.164 Bangladeshi mobile (the application normalises with domain::phone::Phone). An
    -- order from this phone never earns the partner a commission (own_phone).
    add column contact_phone      varchar(20),
    -- Where commissions are paid: a bKash/Nagad wallet (an E.164 mobile number) or a bank
    -- account (free text), both or neither.
    add column payout_method      partner_payout_method,
    add column payout_account     varchar(80),
    -- The commission rule: fixed taka per delivered order, or a percentage of what the
    -- order kept (its total less refunds), optionally capped. Neither: the partner earns
    -- nothing (partners made before commissions existed).
    add column commission_amount  numeric(12,2),
    add column commission_percent numeric(5,2),
    add column commission_cap     numeric(12,2),
    add column commission_scope   commission_scope not null default 'first_order',
    -- Orders placed within this many days of the customer's attribution earn; null: no
    -- limit (only for first_order).
    add column commission_days    integer,
    -- The partner's own customer account (a rider's): its orders, and orders from its
    -- recorded phones, devices and addresses, are self-dealing.
    add column customer_id        integer references customers (id),
    -- What the partner owes back: commissions clawed back (or shrunk by a refund) after
    -- they were paid or put in a payout file. Taken from the partner's next payout batch.
    add column owed_amount        numeric(12,2) not null default 0,
    add constraint referral_partners_contact_phone_e164
        check (contact_phone ~ '^\+8801[3-9][0-9]{8}$'),
    add constraint referral_partners_payout_complete
        check ((payout_method is null) = (payout_account is null)),
    add constraint referral_partners_payout_account_valid
        check (payout_method is null
               or (payout_method in ('bkash', 'nagad') and payout_account ~ '^\+8801[3-9][0-9]{8}$')
               or (payout_method = 'bank' and payout_account = btrim(payout_account)
                   and length(payout_account) between 1 and 80 and payout_account !~ '[[:cntrl:]]')),
    add constraint referral_partners_commission_one_rule
        check (commission_amount is null or commission_percent is null),
    add constraint referral_partners_commission_amount_positive
        check (commission_amount > 0),
    add constraint referral_partners_commission_percent_range
        check (commission_percent > 0 and commission_percent <= 100),
    add constraint referral_partners_commission_cap_positive
        check (commission_cap > 0),
    add constraint referral_partners_commission_cap_with_percent
        check (commission_cap is null or commission_percent is not null),
    add constraint referral_partners_commission_days_range
        check (commission_days > 0 and commission_days <= 3650),
    add constraint referral_partners_every_order_has_days
        check (commission_scope <> 'every_order' or commission_days is not null),
    add constraint referral_partners_owed_non_negative
        check (owed_amount >= 0);

-- Paying partners is a duty of its own (money leaves the shop): staff with it build payout
-- batches, export them and mark them paid. `admin` and `super-admin` pass every check.
insert into permissions (slug, name)
values ('manage-payouts', 'Build partner payout batches, export them and mark them paid');

------------------------------------------------------------------------------------------
-- Payout batches

-- A payout batch: every released, unpaid commission (released in [released_from,
-- released_to)) of the partners paid by `method`, one line per partner. The totals are
-- what the batch was built with; lines say what became of each transfer.
create table payout_batches (
    id             bigint                generated by default as identity primary key,
    method         partner_payout_method not null,
    released_from  timestamptz           not null,
    released_to    timestamptz           not null,
    -- Σ lines' gross (commissions), netted (debts taken) and amount (to transfer).
    gross_amount   numeric(12,2)         not null,
    netted_amount  numeric(12,2)         not null,
    total_amount   numeric(12,2)         not null,
    partner_count  integer               not null,
    commission_count integer             not null,
    -- 'user:{id}' or 'api_key:{id}'.
    created_by     varchar(50)           not null,
    created_at     timestamptz           not null default now(),
    constraint payout_batches_window_ordered check (released_to > released_from),
    constraint payout_batches_totals
        check (total_amount > 0 and netted_amount >= 0 and gross_amount = total_amount + netted_amount
               and partner_count > 0 and commission_count >= partner_count)
);
create index payout_batches_list_idx on payout_batches (id desc);

-- One partner's transfer in a batch: the commissions' sum (gross), less what the partner
-- owed (netted), is the amount paid to the account as it was when the batch was built.
create table payout_batch_lines (
    id               bigint             generated by default as identity primary key,
    batch_id         bigint             not null references payout_batches (id),
    partner_id       uuid               not null references referral_partners (id),
    -- The wallet (E.164) or bank account at the time of the batch: the file says where the
    -- money went even if the partner's details change later.
    account          varchar(80)        not null,
    partner_name     text,
    gross_amount     numeric(12,2)      not null,
    netted_amount    numeric(12,2)      not null default 0,
    amount           numeric(12,2)      not null,
    commission_count integer            not null,
    -- The reference the provider shows on the transfer (ASCII letters and digits).
    reference        varchar(20)        not null,
    status           payout_line_status not null default 'pending',
    -- The provider's transaction id (bKash/Nagad TrxID, bank reference) of a paid line.
    transaction_id   varchar(100),
    rejection_reason varchar(200),
    decided_by       varchar(50),
    decided_at       timestamptz,
    created_at       timestamptz        not null default now(),
    constraint payout_batch_lines_partner_key unique (batch_id, partner_id),
    constraint payout_batch_lines_reference_key unique (reference),
    constraint payout_batch_lines_reference_format check (reference ~ '^[A-Z0-9]{4,20}$'),
    constraint payout_batch_lines_amounts
        check (amount > 0 and netted_amount >= 0 and gross_amount = amount + netted_amount
               and commission_count > 0),
    constraint payout_batch_lines_paid_has_transaction
        check ((status = 'paid') = (transaction_id is not null)),
    constraint payout_batch_lines_decided
        check ((status <> 'pending') = (decided_at is not null and decided_by is not null)),
    constraint payout_batch_lines_rejection_reason
        check (rejection_reason is null or status = 'rejected')
);
create index payout_batch_lines_batch_idx on payout_batch_lines (batch_id, partner_id);
-- One unsettled transfer per partner at a time: a partner's next batch waits until the
-- current line is paid or rejected, so what was netted from their debt is always settled.
create unique index payout_batch_lines_one_open on payout_batch_lines (partner_id)
    where status = 'pending';
-- A provider's transaction id pays one transfer.
create unique index payout_batch_lines_transaction_key on payout_batch_lines (transaction_id)
    where transaction_id is not null;

------------------------------------------------------------------------------------------
-- The partner ledger

-- One commission decision per partner and order (`partner_commissions_once`, the stable
-- idempotency key): pending through the hold, then released, paid; voided or clawed back
-- when the order is returned, cancelled or refunded; or skipped with its reason.
create table partner_commissions (
    id                 bigint                    generated by default as identity primary key,
    partner_id         uuid                      not null references referral_partners (id),
    order_id           integer                   not null references sales_orders (id),
    customer_id        integer                   not null references customers (id),
    -- The referral that attributed the customer to the partner.
    referral_id        integer                   references customer_referrals (id),
    status             partner_commission_status not null,
    skip_reason        commission_skip_reason,
    -- What the order kept when the commission was decided (total less refunds), and the
    -- rule it was decided by (a percentage is recomputed when a refund shrinks the order).
    base_amount        numeric(12,2)             not null,
    commission_percent numeric(5,2),
    commission_cap     numeric(12,2),
    -- Taka earned. Shrinks with a partial refund while it is unpaid and in no payout file.
    amount             numeric(12,2)             not null,
    -- What the partner owes back for this commission, once it was paid or put in a payout
    -- file and then clawed back (all of it) or shrunk by a refund (the difference).
    owed_amount        numeric(12,2)             not null default 0,
    release_at         timestamptz,
    released_at        timestamptz,
    paid_at            timestamptz,
    voided_at          timestamptz,
    clawed_back_at     timestamptz,
    -- What undid the order: returned, cancelled, admin_cancelled, refunded.
    reversal_reason    varchar(40),
    -- The batch the commission is in now (null again when its line was rejected).
    payout_batch_id    bigint                    references payout_batches (id),
    -- The provider's transaction id of the transfer that paid it.
    transaction_id     varchar(100),
    created_at         timestamptz               not null default now(),
    updated_at         timestamptz               not null default now(),
    constraint partner_commissions_once unique (partner_id, order_id),
    constraint partner_commissions_amount_non_negative check (amount >= 0 and base_amount >= 0),
    constraint partner_commissions_owed_within_amount check (owed_amount >= 0 and owed_amount <= amount),
    constraint partner_commissions_skip_has_reason
        check ((status = 'skipped') = (skip_reason is not null)),
    constraint partner_commissions_pending_has_release
        check (status <> 'pending' or release_at is not null),
    constraint partner_commissions_released_when
        check ((status in ('released', 'paid', 'clawed_back')) = (released_at is not null)),
    constraint partner_commissions_paid_when
        check ((paid_at is not null) = (transaction_id is not null)
               and (status <> 'paid' or paid_at is not null)
               and (paid_at is null or status in ('paid', 'clawed_back'))),
    constraint partner_commissions_paid_in_batch
        check (status <> 'paid' or payout_batch_id is not null),
    constraint partner_commissions_voided_when check ((status = 'voided') = (voided_at is not null)),
    constraint partner_commissions_clawed_back_when
        check ((status = 'clawed_back') = (clawed_back_at is not null)),
    constraint partner_commissions_reversal_has_reason
        check ((status in ('voided', 'clawed_back')) = (reversal_reason is not null)),
    constraint partner_commissions_batch_status
        check (payout_batch_id is null or status in ('released', 'paid', 'clawed_back')),
    -- Only money that left (or is in a file on its way) can be owed back.
    constraint partner_commissions_owed_when_paid
        check (owed_amount = 0 or payout_batch_id is not null),
    constraint partner_commissions_percent_range
        check (commission_percent is null or (commission_percent > 0 and commission_percent <= 100))
);
-- The release job's claim.
create index partner_commissions_due_idx on partner_commissions (release_at) where status = 'pending';
-- Reversals find an order's commissions.
create index partner_commissions_order_idx on partner_commissions (order_id);
-- Batches take a partner's released, unbatched commissions by release time.
create index partner_commissions_payable_idx on partner_commissions (partner_id, released_at)
    where status = 'released' and payout_batch_id is null;
-- Reports sum a partner's commissions by status over a window of created_at.
create index partner_commissions_partner_created_idx on partner_commissions (partner_id, created_at)
    include (status, amount);
create index partner_commissions_batch_idx on partner_commissions (payout_batch_id)
    where payout_batch_id is not null;

-- Which commissions a line carries. `live` turns false when the line is rejected (the
-- commissions leave the batch); a commission is in at most one live line, ever.
create table payout_batch_items (
    line_id       bigint        not null references payout_batch_lines (id),
    commission_id bigint        not null references partner_commissions (id),
    -- The commission's amount when the batch took it.
    amount        numeric(12,2) not null,
    live          boolean       not null default true,
    primary key (line_id, commission_id),
    constraint payout_batch_items_amount_positive check (amount > 0)
);
create unique index payout_batch_items_one_live on payout_batch_items (commission_id) where live;
