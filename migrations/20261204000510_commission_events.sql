-- `partner.commission_earned`: a partner earned a commission on a delivered order. Emitted
-- in the commission's own transaction (the delivery's) by a trigger, like the reward
-- events of 20261204000400_event_outbox.sql, once per commission (`commission:{id}:earned`).
-- A skipped commission (self-dealing, an inactive partner, nothing to pay) earned nothing
-- and emits nothing. The payload carries ids, the amount as text and times, never the
-- partner's phone or payout account.
create function emit_commission_event() returns trigger
language plpgsql as $$
begin
    perform emit_event('partner.commission_earned',
        'commission:' || new.id || ':earned',
        jsonb_build_object(
            'commissionId', new.id,
            'partnerId', new.partner_id,
            'orderId', new.order_id,
            'customerId', new.customer_id,
            'referralId', new.referral_id,
            'amount', new.amount::text,
            'status', new.status,
            'releaseAt', event_time(new.release_at),
            'earnedAt', event_time(new.created_at)));
    return null;
end
$$;

create trigger partner_commissions_earned_event
    after insert on partner_commissions
    for each row when (new.status in ('pending', 'released'))
    execute function emit_commission_event();
