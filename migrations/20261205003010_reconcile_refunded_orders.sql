-- Reconciliation no longer completes a referral again on an order that its refunds undo.
--
-- A refund that takes all of the qualifying order (or leaves it below the campaign's
-- minimum) reverses the referral: it goes back to `registered` while the order stays
-- delivered. That is where the live path leaves it, and where it would leave it again:
-- a delivery that re-entered a successful status would complete the referral and, in the
-- same statement, reverse it (`completion_undone_by`). Reconciliation found such a
-- referral as an unfinished completion, and its repair completed it and issued its
-- rewards once more: a reward paid again, after its hold, for an order refunded in full.
-- Found by the kill phase of scripts/chaos.sh (a full refund, then `bondhu reconcile`).
--
-- The check (`db::reconcile::unfinished_completions`) and this repair now both skip an
-- order for which `completion_undone_by` has a reason. Nothing else changed.
create or replace function repair_completion(p_referral_id integer, p_order_id integer) returns boolean
language plpgsql as $$
declare
    v_order sales_orders%rowtype;
    r       customer_referrals%rowtype;
begin
    select * into v_order from sales_orders where id = p_order_id for no key update;
    select * into r from customer_referrals where id = p_referral_id for no key update;
    if v_order.id is null or r.id is null or r.status <> 'registered'
       or v_order.customer_id is distinct from r.referred_customer_id
       or not order_status_is_success(v_order.status)
       or qualification_refusal(r, v_order) is not null
       or completion_undone_by(r, v_order) is not null then
        return false;
    end if;
    return complete_referral(r.id, v_order.id, 'reconciliation') = 'completed';
end
$$;
