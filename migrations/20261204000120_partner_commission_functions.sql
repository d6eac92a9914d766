-- Partner commissions, exactly like rewards (issue 11): decided when a partner's customer's
-- order first enters a successful status, held for the campaign's `reward_hold`, released
-- by the jobs loop, voided or clawed back when the order is returned, cancelled or refunded;
-- and paid through payout batches. The schema is 20261204000110_partner_commissions.sql.
--
-- Changes from the previous definitions:
--   * apply_order_status (20261202000040_reward_holds.sql) also calls
--     accrue_partner_commission when the order enters a successful status, and
--     reverse_partner_commissions when it is reversed (or carries refunds); nothing else
--     changed, and the delivered path is still one statement;
--   * refund_order (same file) also calls reverse_partner_commissions after the refund.
--
-- Rules reused, never copied: the amount is reward_amount's (fixed, or a capped percentage,
-- rounded to the poisha); the hold is reward_hold of the partner's campaign's terms
-- (campaign_terms), else the default campaign's; "placed after the attribution" and "the
-- customer's first successful order" are qualification_refusal's; what undoes an order
-- (returned, cancelled, refunded below the campaign's minimum or fully) is
-- completion_undone_by's, with the referral that attributed the customer to the partner.
--
-- Lock order, added to the money core's (order → referral → referrer → campaign →
-- wallets → membership): … → partner → commissions. Payout batches take the partner rows
-- (in id order) and then their commissions; marking a line takes the line, then the
-- partner, then the commissions; the release job takes only commissions, with SKIP LOCKED.

------------------------------------------------------------------------------------------
-- Deciding a commission

-- What a commission rule pays on an order that kept `p_base` taka: a fixed amount, or a
-- percentage capped at `p_cap`. The one rule is reward_amount's.
create function partner_commission_amount(
    p_amount numeric, p_percent numeric, p_cap numeric, p_base numeric)
returns numeric
language sql immutable as $$
    select reward_amount(
        jsonb_build_object('reward_referrer_amount', p_amount,
                           'reward_referrer_percent', p_percent,
                           'reward_referrer_cap', p_cap),
        'referrer', p_base)
$$;

-- Whether order `o` is the partner's own business, or null: the order's customer is the
-- partner's own customer account, has the partner's phone (its contact phone, or a phone
-- of the partner's account), used a device of the partner's account, or the order went to
-- (or the customer signed up with) an address of the partner's account. The devices and
-- addresses are the recorded fraud signals (migrations/20261202000030_fraud.sql); without
-- a customer account only the phone can be compared. Reads only; every lookup is an index
-- probe (fraud_signals_customer_idx, fraud_signals_order_key).
create function commission_self_dealing(p referral_partners, o sales_orders)
returns commission_skip_reason
language sql stable as $$
    select case
        when p.customer_id is not null and o.customer_id = p.customer_id then 'own_account'
        when exists (select 1 from customers c
                     where c.id = o.customer_id
                       and (c.phone = p.contact_phone
                            or c.phone = (select a.phone from customers a where a.id = p.customer_id)
                            or exists (select 1 from fraud_signals s
                                       where s.customer_id = p.customer_id and s.kind = 'phone'
                                         and s.value = c.phone))) then 'own_phone'
        when p.customer_id is not null and exists (
                 select 1 from fraud_signals f
                 join fraud_signals a on a.customer_id = p.customer_id and a.kind = 'device'
                                     and a.value = f.value
                 where f.customer_id = o.customer_id and f.kind = 'device') then 'own_device'
        when p.customer_id is not null and (
                 exists (select 1 from fraud_signals f
                         join fraud_signals a on a.customer_id = p.customer_id and a.kind = 'address'
                                             and a.value = f.value
                         where f.order_id = o.id and f.kind = 'address')
                 or exists (select 1 from fraud_signals f
                            join fraud_signals a on a.customer_id = p.customer_id and a.kind = 'address'
                                                and a.value = f.value
                            where f.customer_id = o.customer_id and f.kind = 'address'
                              and f.context = 'signup')) then 'own_address'
    end::commission_skip_reason
$$;

-- Appends a commission's event to the referral event log (the one writer,
-- log_referral_event), about the referral that attributed the customer. The partner's
-- code is in the payload, not in `partner_code`: the funnel counts events by that column,
-- and a commission is not a visit or a signup.
create function log_commission_event(p_type referral_event_type, c partner_commissions, p_payload jsonb)
returns void
language sql as $$
    select log_referral_event(
        p_type, c.referral_id, null, c.customer_id, c.order_id, null, null, null,
        jsonb_build_object('commissionId', c.id, 'partnerId', c.partner_id,
                           'partnerCode', (select p.code from referral_partners p where p.id = c.partner_id),
                           'status', c.status, 'amount', c.amount)
        || coalesce(p_payload, '{}'))
$$;

-- Records the commission order `o` earns its partner, if any, when the order first enters
-- a successful status (the caller, apply_order_status, holds the order's lock and knows it
-- is the entry). Once per partner and order (`partner_commissions_once`): a duplicate or
-- concurrent delivery records nothing more.
--
-- Which orders: the customer was attributed to the partner (their referral names the
-- partner), the partner has a rule, the order was placed at or after the attribution and,
-- with `commission_days`, within that many days of it; `first_order` also wants it to be
-- the customer's first successful order (qualification_refusal, the rewards' rule).
-- Self-dealing, an inactive partner or a zero amount record the decision as `skipped`.
-- Otherwise it is pending until now() + the hold (released at once with a zero hold).
create function accrue_partner_commission(o sales_orders) returns void
language plpgsql as $$
declare
    r         customer_referrals%rowtype;
    p         referral_partners%rowtype;
    v_refusal text;
    v_base    numeric;
    v_amount  numeric;
    v_skip    commission_skip_reason;
    v_hold    interval;
    v_status  partner_commission_status;
    c         partner_commissions%rowtype;
begin
    -- The delivered path's one check for a customer no partner brought: an index probe
    -- (customer_referrals_referred_customer_key) that finds nothing. The referral's lock
    -- serialises the deliveries of one customer's orders, so "first order" stays true
    -- until commit (the lock order: order, then referral).
    select * into r from customer_referrals x
    where x.referred_customer_id = o.customer_id and x.partner_id is not null
    for no key update;
    if not found then
        return;
    end if;
    select * into p from referral_partners where id = r.partner_id;
    if not found or (p.commission_amount is null and p.commission_percent is null) then
        return;
    end if;

    v_refusal := qualification_refusal(r, o);
    if v_refusal = 'order_before_referral'
       or (p.commission_scope = 'first_order' and v_refusal is not null)
       or (p.commission_days is not null
           and o.created_at >= r.created_at + make_interval(days => p.commission_days)) then
        return;
    end if;

    v_base := o.total_amount - o.refunded_amount;
    v_amount := partner_commission_amount(p.commission_amount, p.commission_percent, p.commission_cap, v_base);
    v_skip := commission_self_dealing(p, o);
    if v_skip is null and not p.is_active then
        v_skip := 'partner_inactive';
    elsif v_skip is null and v_amount <= 0 then
        v_skip := 'zero_amount';
    end if;
    v_hold := reward_hold(campaign_terms(
        coalesce(p.campaign_id, (select d.id from referral_campaigns d where d.is_default)), null));
    v_status := case when v_skip is not null then 'skipped'
                     when v_hold <= interval '0' then 'released'
                     else 'pending' end;

    insert into partner_commissions as x
        (partner_id, order_id, customer_id, referral_id, status, skip_reason, base_amount,
         commission_percent, commission_cap, amount, release_at, released_at)
    values
        (p.id, o.id, o.customer_id, r.id, v_status, v_skip, v_base, p.commission_percent,
         p.commission_cap, v_amount,
         case when v_skip is null then now() + v_hold end,
         case when v_status = 'released' then now() end)
    on conflict on constraint partner_commissions_once do nothing
    returning x.* into c;
    if c.id is null then
        return;
    end if;
    if v_status = 'skipped' then
        perform log_commission_event('commission_skipped', c, jsonb_build_object('reason', v_skip));
    else
        perform log_commission_event('commission_pending', c, jsonb_build_object('releaseAt', c.release_at));
        if v_status = 'released' then
            perform log_commission_event('commission_released', c, null);
        end if;
    end if;
end
$$;

------------------------------------------------------------------------------------------
-- Release: after the hold

-- The release job's unit of work: claims up to `p_limit` commissions whose hold is over
-- (skipping those another instance, or a reversal, holds) and releases them, pending →
-- released, in the caller's transaction. Returns how many. A commission is only a row, no
-- ledger is posted, so a claim of many costs one statement.
create function release_due_partner_commissions(p_limit integer) returns integer
language plpgsql as $$
declare
    c       partner_commissions%rowtype;
    v_count integer := 0;
begin
    for c in
        with due as (
            select d.id from partner_commissions d
            where d.status = 'pending' and d.release_at <= now()
            order by d.release_at
            limit p_limit
            for no key update skip locked)
        update partner_commissions x
        set status = 'released', released_at = now(), updated_at = now()
        from due
        where x.id = due.id and x.status = 'pending'
        returning x.*
    loop
        perform log_commission_event('commission_released', c, null);
        v_count := v_count + 1;
    end loop;
    return v_count;
end
$$;

------------------------------------------------------------------------------------------
-- Reversal: the order returned, cancelled or refunded

-- Reverses or shrinks the commissions of order `o` after a change that may undo it (a
-- reversal status, a refund). The rule of what undoes an order is completion_undone_by's,
-- with the referral that attributed the customer (its campaign's minimum):
--   * undone: pending → voided; released → clawed_back; paid → clawed_back, and what was
--     paid (less what is already owed for it) is owed by the partner (`owed_amount`, on the
--     commission and the partner), taken from the partner's next payout batch. A released
--     commission already in a payout file counts as paid: the file may be on its way.
--   * not undone, a percentage commission and a partial refund: the commission follows what
--     the order kept (reward_amount again). Unpaid and in no file, its amount shrinks; paid
--     or in a file, the difference is owed. A fixed commission is per delivered order and
--     does not change.
-- Every change is a compare-and-set on the commission's status under its row lock (taken
-- after the partner's), with its event. Returns how many commissions it undid.
create function reverse_partner_commissions(o sales_orders) returns integer
language plpgsql as $$
declare
    v_id     bigint;
    c        partner_commissions%rowtype;
    r        customer_referrals%rowtype;
    v_reason text;
    v_new    numeric;
    v_delta  numeric;
    v_locked boolean;
    v_count  integer := 0;
begin
    for v_id in
        select x.id from partner_commissions x
        where x.order_id = o.id and x.status in ('pending', 'released', 'paid')
        order by x.partner_id, x.id
    loop
        select x.* into c from partner_commissions x where x.id = v_id;
        perform 1 from referral_partners where id = c.partner_id for no key update;
        select x.* into c from partner_commissions x where x.id = v_id for update;
        continue when c.status not in ('pending', 'released', 'paid');
        select x.* into r from customer_referrals x where x.id = c.referral_id;
        v_reason := completion_undone_by(r, o);
        -- Money that left, or is in a payout file on its way, can only be owed back.
        v_locked := c.status = 'paid' or c.payout_batch_id is not null;

        if v_reason is not null and c.status = 'pending' then
            update partner_commissions
            set status = 'voided', voided_at = now(), reversal_reason = v_reason, updated_at = now()
            where id = c.id and status = 'pending'
            returning * into c;
            perform log_commission_event('commission_voided', c, jsonb_build_object('reason', v_reason));
            v_count := v_count + 1;
        elsif v_reason is not null then
            v_delta := case when v_locked then c.amount - c.owed_amount else 0 end;
            update partner_commissions
            set status = 'clawed_back', clawed_back_at = now(), reversal_reason = v_reason,
                owed_amount = owed_amount + v_delta, updated_at = now()
            where id = c.id and status in ('released', 'paid')
            returning * into c;
            if v_delta > 0 then
                update referral_partners set owed_amount = owed_amount + v_delta where id = c.partner_id;
            end if;
            perform log_commission_event('commission_clawed_back', c,
                jsonb_build_object('reason', v_reason, 'owedAmount', v_delta));
            v_count := v_count + 1;
        elsif c.commission_percent is not null then
            v_new := partner_commission_amount(null, c.commission_percent, c.commission_cap,
                                               o.total_amount - o.refunded_amount);
            if v_locked then
                v_delta := c.amount - c.owed_amount - v_new;
                if v_delta > 0 then
                    update partner_commissions
                    set owed_amount = owed_amount + v_delta, updated_at = now()
                    where id = c.id
                    returning * into c;
                    update referral_partners set owed_amount = owed_amount + v_delta where id = c.partner_id;
                    perform log_commission_event('commission_adjusted', c,
                        jsonb_build_object('reason', 'refunded', 'owedAmount', v_delta, 'kept', v_new));
                end if;
            elsif v_new < c.amount then
                v_delta := c.amount - v_new;
                update partner_commissions
                set amount = v_new, base_amount = o.total_amount - o.refunded_amount, updated_at = now()
                where id = c.id and status in ('pending', 'released')
                returning * into c;
                perform log_commission_event('commission_adjusted', c,
                    jsonb_build_object('reason', 'refunded', 'shrunkBy', v_delta));
            end if;
        end if;
    end loop;
    return v_count;
end
$$;

------------------------------------------------------------------------------------------
-- Payout batches

-- What a batch owes each partner of commissions `p_ids` (released, unbatched, locked by
-- the caller): their sum (gross), what the partner owes taken from it (netted), one line
-- per partner whose gross is more than they owe (a partner whose debt covers everything
-- is left out; their commissions wait, and so does the debt).
create function payout_lines_of(p_ids bigint[])
returns table (partner_id uuid, account varchar, partner_name text, gross numeric, netted numeric,
               commissions integer)
language sql stable as $$
    select c.partner_id, p.payout_account, p.name, sum(c.amount),
           least(p.owed_amount, sum(c.amount)), count(*)::integer
    from partner_commissions c
    join referral_partners p on p.id = c.partner_id
    where c.id = any(p_ids)
    group by c.partner_id, p.payout_account, p.name, p.owed_amount
    having sum(c.amount) > p.owed_amount
$$;

-- Builds a payout batch for `p_method`: every released commission, in no batch, released
-- in [p_from, p_to), of the partners paid by that method (with an account) who have no
-- transfer still waiting (payout_batch_lines_one_open), one line per partner, what each
-- owes netted off. Returns the batch's id, or null when there was nothing to pay (nothing
-- is written then).
--
-- Concurrent builds for one method queue on an advisory lock; partner rows are locked in
-- id order before their commissions (the lock order), and the commissions taken are
-- locked and listed once, so every later statement works on exactly that set. A
-- commission is in one live line at most (payout_batch_items_one_live).
create function create_payout_batch(
    p_method partner_payout_method, p_from timestamptz, p_to timestamptz, p_created_by varchar)
returns bigint
language plpgsql as $$
declare
    v_partner uuid;
    p         referral_partners%rowtype;
    v_ids     bigint[] := '{}';
    v_batch   bigint;
    v_gross   numeric;
    v_netted  numeric;
    v_lines   integer;
    v_count   integer;
begin
    perform pg_advisory_xact_lock(hashtext('payout_batch'), hashtext(p_method::text));
    for v_partner in
        select x.id from referral_partners x
        where x.payout_method = p_method and x.payout_account is not null
          and exists (select 1 from partner_commissions c
                      where c.partner_id = x.id and c.status = 'released' and c.payout_batch_id is null
                        and c.released_at >= p_from and c.released_at < p_to and c.amount > 0)
        order by x.id
    loop
        select x.* into p from referral_partners x where x.id = v_partner for no key update;
        continue when p.payout_method is distinct from p_method or p.payout_account is null
                   or exists (select 1 from payout_batch_lines l
                              where l.partner_id = p.id and l.status = 'pending');
        v_ids := v_ids || array(
            select c.id from partner_commissions c
            where c.partner_id = p.id and c.status = 'released' and c.payout_batch_id is null
              and c.released_at >= p_from and c.released_at < p_to and c.amount > 0
            order by c.id
            for update);
    end loop;

    select count(*), coalesce(sum(l.gross), 0), coalesce(sum(l.netted), 0), coalesce(sum(l.commissions), 0)
    into v_lines, v_gross, v_netted, v_count
    from payout_lines_of(v_ids) l;
    if v_lines = 0 then
        return null;
    end if;

    insert into payout_batches
        (method, released_from, released_to, gross_amount, netted_amount, total_amount,
         partner_count, commission_count, created_by)
    values (p_method, p_from, p_to, v_gross, v_netted, v_gross - v_netted, v_lines, v_count, p_created_by)
    returning id into v_batch;

    insert into payout_batch_lines
        (batch_id, partner_id, account, partner_name, gross_amount, netted_amount, amount,
         commission_count, reference)
    select v_batch, l.partner_id, l.account, l.partner_name, l.gross, l.netted, l.gross - l.netted,
           l.commissions, 'BND' || v_batch || 'N' || row_number() over (order by l.partner_id)
    from payout_lines_of(v_ids) l;

    insert into payout_batch_items (line_id, commission_id, amount)
    select pl.id, c.id, c.amount
    from payout_batch_lines pl
    join partner_commissions c on c.partner_id = pl.partner_id and c.id = any(v_ids)
    where pl.batch_id = v_batch;

    update partner_commissions c
    set payout_batch_id = v_batch, updated_at = now()
    from payout_batch_items i
    join payout_batch_lines pl on pl.id = i.line_id
    where pl.batch_id = v_batch and i.commission_id = c.id;

    update referral_partners rp
    set owed_amount = rp.owed_amount - pl.netted_amount
    from payout_batch_lines pl
    where pl.batch_id = v_batch and pl.partner_id = rp.id and pl.netted_amount > 0;
    return v_batch;
end
$$;

-- What settling a line did.
create type payout_settle_outcome as enum
    ('paid', 'rejected', 'replayed', 'not_in_batch', 'transaction_mismatch', 'invalid_transition');

-- Settles partner `p_partner_id`'s line of batch `p_batch_id` with the provider's answer:
-- paid with `p_transaction_id` (its commissions pending → paid, with the transaction id), or
-- rejected (its commissions leave the batch, unpaid again for a later batch; what was
-- netted off the partner's debt is owed again, and what the partner came to owe for these
-- commissions while they were in the file is cancelled, since that money never left).
-- The line's status is the compare-and-set, under its row lock: the same answer again is
-- `replayed` and changes nothing; paid with another transaction id is
-- `transaction_mismatch`; paying a rejected line or rejecting a paid one is
-- `invalid_transition`.
create function settle_payout_line(
    p_batch_id bigint, p_partner_id uuid, p_transaction_id varchar, p_reject boolean,
    p_reason varchar, p_by varchar)
returns payout_settle_outcome
language plpgsql as $$
declare
    l        payout_batch_lines%rowtype;
    c        partner_commissions%rowtype;
    v_cancel numeric := 0;
begin
    select * into l from payout_batch_lines x
    where x.batch_id = p_batch_id and x.partner_id = p_partner_id
    for update;
    if not found then
        return 'not_in_batch';
    end if;
    if not p_reject then
        if l.status = 'paid' then
            return case when l.transaction_id = p_transaction_id then 'replayed' else 'transaction_mismatch' end;
        elsif l.status = 'rejected' then
            return 'invalid_transition';
        end if;
        perform 1 from referral_partners where id = l.partner_id for no key update;
        update payout_batch_lines
        set status = 'paid', transaction_id = p_transaction_id, decided_by = p_by, decided_at = now()
        where id = l.id and status = 'pending';
        for c in
            update partner_commissions x
            set status = case when x.status = 'released' then 'paid' else x.status end,
                paid_at = now(), transaction_id = p_transaction_id, updated_at = now()
            from payout_batch_items i
            where i.line_id = l.id and i.live and i.commission_id = x.id
              and x.status in ('released', 'clawed_back')
            returning x.*
        loop
            perform log_commission_event('commission_paid', c,
                jsonb_build_object('batchId', p_batch_id, 'transactionId', p_transaction_id,
                                   'reference', l.reference));
        end loop;
        return 'paid';
    end if;

    if l.status = 'rejected' then
        return 'replayed';
    elsif l.status = 'paid' then
        return 'invalid_transition';
    end if;
    perform 1 from referral_partners where id = l.partner_id for no key update;
    update payout_batch_lines
    set status = 'rejected', rejection_reason = p_reason, decided_by = p_by, decided_at = now()
    where id = l.id and status = 'pending';
    for c in
        select x.* from partner_commissions x
        join payout_batch_items i on i.commission_id = x.id and i.line_id = l.id and i.live
        order by x.id
        for update of x
    loop
        v_cancel := v_cancel + c.owed_amount;
        update partner_commissions x
        set amount = case when x.status = 'released' then x.amount - x.owed_amount else x.amount end,
            owed_amount = 0, payout_batch_id = null, updated_at = now()
        where x.id = c.id
        returning x.* into c;
        perform log_commission_event('commission_payout_rejected', c,
            jsonb_build_object('batchId', p_batch_id, 'reason', p_reason, 'reference', l.reference));
    end loop;
    update payout_batch_items set live = false where line_id = l.id;
    update referral_partners
    set owed_amount = owed_amount + l.netted_amount - v_cancel
    where id = l.partner_id;
    return 'rejected';
end
$$;
