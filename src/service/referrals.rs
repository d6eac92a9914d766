//! Share codes, invitations, referral lists and manual completion.

use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::db;
use crate::db::customers::{Attribution, Contact};
use crate::db::events::NewEvent;
use crate::db::referrals::NewReferral;
use crate::domain::channel::Channel;
use crate::domain::customer::normalise_email;
use crate::domain::phone::Phone;
use crate::domain::referral::{Completion, EventType, Referral, ReferralListItem, ReferralStats};
use crate::domain::referral_code::share_code;
use crate::error::{Code, Error, Result};
use crate::service::attribution;
use crate::service::fraud::{self, ClientSignals};

/// Invitations one customer may send in 24 hours: invite codes are bearer codes, and an
/// unlimited supply would let one customer stockpile them.
pub const MAX_INVITATIONS_PER_DAY: i64 = 20;

/// Customer `customer_id`'s share code, if the customer exists.
pub async fn share_code_of(pool: &PgPool, customer_id: i32) -> Result<String> {
    if db::customers::exists(pool, customer_id).await? {
        Ok(share_code(customer_id))
    } else {
        Err(Error::customer_not_found())
    }
}

/// A page of a referrer's referrals, newest first.
pub async fn list(
    pool: &PgPool,
    referrer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<ReferralListItem>> {
    let items = db::referrals::list_for_referrer(pool, referrer_id, limit, before_id).await?;
    super::customer_page(pool, referrer_id, items).await
}

/// A referrer's statistics.
pub async fn stats(db: impl PgExecutor<'_>, referrer_id: i32) -> Result<ReferralStats> {
    db::referrals::stats(db, referrer_id)
        .await?
        .ok_or_else(Error::customer_not_found)
}

/// The friend an invitation names, read from what was typed: a normalised email and/or
/// a Bangladeshi mobile phone, at least one of the two.
pub(crate) fn invitee(
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<(Option<String>, Option<Phone>)> {
    let email = normalise_email(email.unwrap_or_default())
        .map_err(|e| Error::invalid_field("referredEmail", e.to_string()))?;
    let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
        Some(raw) => Some(
            Phone::parse(raw).map_err(|e| Error::invalid_field("referredPhone", e.to_string()))?,
        ),
        None => None,
    };
    if email.is_none() && phone.is_none() {
        return Err(Error::invalid_field(
            "referredEmail",
            "give the friend's email or phone",
        ));
    }
    Ok((email, phone))
}

/// Whom `referrer` may invite, however the invitation is made (by the customer, an
/// operator or a call agent): never themselves, by phone or email (a self-referral), and
/// never someone who is already a customer (a referral is for new customers).
pub(crate) async fn check_invitee(
    db: &mut PgConnection,
    referrer: &Contact,
    phone: Option<&Phone>,
    email: Option<&str>,
) -> Result<()> {
    let phone = phone.map(Phone::as_str);
    if phone == Some(referrer.phone.as_str())
        || (email.is_some() && email == referrer.email.as_deref())
    {
        return Err(Error::new(
            Code::SelfReferral,
            "A customer cannot refer themselves",
        ));
    }
    if db::customers::id_for_contact(&mut *db, phone, email)
        .await?
        .is_some()
    {
        return Err(Error::new(
            Code::AlreadyCustomer,
            "This friend is already a customer, so they cannot be referred",
        ));
    }
    Ok(())
}

/// Invites someone by email and/or phone. The invitation carries its own code and the
/// running campaign's terms; it becomes `registered` when the invitee signs up with it.
/// `client` is the inviting customer's device and address (fraud signals), when the
/// customer sent it themselves.
pub async fn invite(
    pool: &PgPool,
    referrer_id: i32,
    email: Option<&str>,
    phone: Option<&str>,
    client: Option<&ClientSignals>,
) -> Result<Referral> {
    let (email, phone) = invitee(email, phone)?;

    let mut tx = pool.begin().await?;
    let referrer = db::customers::find_contact(&mut *tx, referrer_id)
        .await?
        .ok_or_else(Error::customer_not_found)?;
    check_invitee(&mut tx, &referrer, phone.as_ref(), email.as_deref()).await?;
    if db::referrals::recent_invitations(&mut *tx, referrer_id).await? >= MAX_INVITATIONS_PER_DAY {
        return Err(Error::too_many(
            Code::TooManyInvitations,
            format!("At most {MAX_INVITATIONS_PER_DAY} invitations a day"),
            std::time::Duration::from_secs(3600),
        ));
    }
    let channel = Channel::ShareLink;
    let (campaign_id, variant_id) =
        attribution::choose_campaign(&mut tx, None, channel, &referrer_id.to_string()).await?;
    let referral = db::referrals::insert(
        &mut tx,
        &NewReferral {
            referrer_customer_id: Some(referrer_id),
            referred_email: email.as_deref(),
            referred_phone: phone.as_ref().map(Phone::as_str),
            source_channel: Some(channel.as_str()),
            campaign_id,
            variant_id,
            ..NewReferral::default()
        },
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("an invitation, which names no customer, was refused"))?;
    db::events::record(
        &mut *tx,
        NewEvent {
            referral_id: Some(referral.id),
            referrer_customer_id: Some(referrer_id),
            share_code_used: Some(&referral.referral_code),
            source_channel: referral.source_channel.as_deref(),
            ..NewEvent::new(EventType::Invited)
        },
    )
    .await?;
    if let Some(client) = client {
        fraud::record_invitation(&mut *tx, referrer_id, referral.id, client).await?;
    }
    tx.commit().await?;
    Ok(referral)
}

/// An operator completes a referral by hand, optionally naming the referred customer
/// (for an invitation nobody claimed) and the qualifying order. Rewards are credited in
/// the same transaction; completing a completed referral changes nothing.
pub async fn complete(
    pool: &PgPool,
    referral_id: i32,
    referred_customer_id: Option<i32>,
    order_id: Option<i32>,
    actor: &str,
) -> Result<Referral> {
    db::retry_transient(|| async {
        let mut tx = pool.begin().await?;
        let referral = db::referrals::find(&mut *tx, referral_id)
            .await?
            .ok_or_else(|| Error::new(Code::ReferralNotFound, "Referral not found"))?;

        let referred = match (referral.referred_customer_id, referred_customer_id) {
            (Some(known), Some(given)) if known != given => {
                return Err(Error::new(
                    Code::ReferralCustomerMismatch,
                    "This referral belongs to another referred customer",
                ));
            }
            (Some(known), _) => Some(known),
            (None, Some(given)) => {
                if !db::customers::exists(&mut *tx, given).await? {
                    return Err(Error::new(Code::CustomerNotFound, "Customer not found"));
                }
                // The customer is attributed exactly as if they had joined with the
                // invitation's code: first touch wins, so one already attributed is refused.
                let attribution = Attribution {
                    referred_by_customer_id: referral.referrer_customer_id,
                    referred_by_code: Some(referral.referral_code.clone()),
                    referred_by_partner_id: referral.partner_id,
                    referred_channel: referral
                        .source_channel
                        .clone()
                        .unwrap_or_else(|| Channel::AgentReferral.as_str().to_owned()),
                    referral_campaign_id: referral.campaign_id,
                };
                if db::referrals::find_by_referred(&mut *tx, given)
                    .await?
                    .is_some()
                {
                    return Err(Error::new(
                        Code::CustomerAlreadyReferred,
                        "This customer was already brought by another code",
                    ));
                }
                // The referral's unique index decides a race with another attribution
                // (409 customer_already_referred); the customer's columns copy the winner.
                if !db::referrals::attach_customer(&mut *tx, referral_id, given).await? {
                    return Err(Error::new(
                        Code::ReferralNotCompletable,
                        "Someone joined through this invitation meanwhile",
                    ));
                }
                db::customers::attribute(&mut *tx, given, &attribution).await?;
                Some(given)
            }
            (None, None) => None,
        };

        if let Some(order_id) = order_id {
            let owner = db::orders::customer_of(&mut *tx, order_id)
                .await?
                .ok_or_else(|| Error::new(Code::OrderNotFound, "Order not found"))?;
            if owner.is_none() || owner != referred {
                return Err(Error::new(
                    Code::OrderCustomerMismatch,
                    "The order does not belong to the referred customer",
                ));
            }
        }

        let newly_completed = match db::referrals::complete(
            &mut tx,
            referral_id,
            order_id,
            &format!("manual by {actor}"),
        )
        .await?
        {
            Completion::Completed => true,
            Completion::AlreadyCompleted => false,
            Completion::NotRegistered => {
                return Err(Error::new(
                    Code::ReferralNotCompletable,
                    "Nobody has registered through this referral; give referredCustomerId",
                ));
            }
            Completion::NotFound => {
                return Err(Error::new(Code::ReferralNotFound, "Referral not found"));
            }
        };
        let completed = db::referrals::find(&mut *tx, referral_id)
            .await?
            .ok_or_else(|| Error::new(Code::ReferralNotFound, "Referral not found"))?;
        tx.commit().await?;
        if newly_completed {
            crate::telemetry::metrics::referral_completed();
        }
        Ok(completed)
    })
    .await
}
