//! Share pages: a customer's code, the link to copy and the share buttons' URLs, each
//! with its own channel's landing link and the customer's share text (the
//! `share_message` template, in their language); and review to referral (guide 4.7),
//! where the shop asks for the same page after a customer posts a review.

use serde_json::json;
use sqlx::PgPool;

use crate::config::Config;
use crate::db;
use crate::db::events::NewEvent;
use crate::domain::channel::Channel;
use crate::domain::message_text::Language;
use crate::domain::referral::EventType;
use crate::domain::share::{ChannelTexts, ShareLinks, Shared, landing_url};
use crate::error::Result;
use crate::service::{messaging, referrals};

/// Customer `customer_id`'s share page: the copied link has `ch=share_link`.
pub async fn my_share(pool: &PgPool, config: &Config, customer_id: i32) -> Result<ShareLinks> {
    let code = referrals::share_code_of(pool, customer_id).await?;
    share_links(pool, config, customer_id, code, Channel::ShareLink).await
}

/// A review a customer posted, as the shop reports it.
#[derive(Debug, Clone, Copy)]
pub struct ReviewShare {
    /// The reviewer.
    pub customer_id: i32,
    /// The shop's id of the review (positive).
    pub review_id: i64,
    /// The product reviewed (positive), when the shop says.
    pub product_id: Option<i32>,
}

/// The reviewer's share page, its copied link with `ch=review_share`, and a
/// `review_created` event the first time this review is reported: `true` then, `false`
/// for a repeat, which logs nothing and answers the same links.
pub async fn review_shared(
    pool: &PgPool,
    config: &Config,
    review: ReviewShare,
) -> Result<(ShareLinks, bool)> {
    let code = referrals::share_code_of(pool, review.customer_id).await?;
    let mut tx = pool.begin().await?;
    let first = db::review_shares::record(
        &mut tx,
        review.customer_id,
        review.review_id,
        review.product_id,
    )
    .await?;
    if first {
        // TrustCart's event: the customer as the referrer-to-be, the channel, and the
        // review in the payload.
        db::events::record(
            &mut *tx,
            NewEvent {
                referrer_customer_id: Some(review.customer_id),
                share_code_used: Some(&code),
                source_channel: Some(Channel::ReviewShare.as_str()),
                payload: Some(json!({
                    "reviewId": review.review_id,
                    "productId": review.product_id,
                })),
                ..NewEvent::new(EventType::ReviewCreated)
            },
        )
        .await?;
    }
    tx.commit().await?;
    // The texts are read after the commit: no connection is held across them.
    let links = share_links(pool, config, review.customer_id, code, Channel::ReviewShare).await?;
    Ok((links, first))
}

/// The page of `code`, whose copied link has `copied`'s channel: every text rendered by
/// the `share_message` template with its own channel's link, in the customer's language.
async fn share_links(
    pool: &PgPool,
    config: &Config,
    customer_id: i32,
    code: String,
    copied: Channel,
) -> Result<ShareLinks> {
    let public_url = &config.public_url;
    let shared = |channel: Channel| {
        let link = landing_url(public_url, &code, channel);
        let code = &code;
        async move {
            let (message, language) =
                messaging::share_message(pool, customer_id, code, &link).await?;
            Ok::<(Shared, Language), crate::error::Error>((Shared::new(link, message), language))
        }
    };
    let ((copied, language), (whatsapp, _), (sms, _), (email, _)) = tokio::try_join!(
        shared(copied),
        shared(Channel::Whatsapp),
        shared(Channel::Sms),
        shared(Channel::Email),
    )?;
    let channels = ChannelTexts {
        whatsapp,
        facebook_link: landing_url(public_url, &code, Channel::Facebook),
        sms,
        email,
    };
    // The subject names the shop and the code: no template holds a subject, and both
    // read the same in Bangla and English.
    let subject = format!("{}: {code}", config.shop_name);
    Ok(ShareLinks::new(code, copied, channels, &subject, language))
}
