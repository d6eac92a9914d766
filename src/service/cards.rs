//! QR codes and printable cards: whose code, which landing URL, which shop name. The
//! codes come from where they always come from ([`referrals::share_code_of`] for a
//! customer, the partner's own code for a rider), the URL from
//! [`landing_url`](crate::domain::share::landing_url); drawing is [`crate::render`], run on
//! the blocking pool because a sheet of 500 cards is CPU work that would stall other
//! requests on an async worker.

use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Config;
use crate::db;
use crate::domain::channel::Channel;
use crate::domain::partner::PartnerType;
use crate::domain::share::landing_url;
use crate::error::{Code, Error, Result};
use crate::render::cards::{self, Card, CardCount, CardKind};
use crate::render::qr::{self, QrMatrix, QrSize};
use crate::service::{partners, referrals};

/// An image format of a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrFormat {
    /// `image/svg+xml`.
    Svg,
    /// `image/png`.
    Png,
}

/// Customer `customer_id`'s share code as a QR code of its landing URL with `ch=qr`.
pub async fn share_qr(
    pool: &PgPool,
    config: &Config,
    customer_id: i32,
    format: QrFormat,
    size: QrSize,
) -> Result<Vec<u8>> {
    let code = referrals::share_code_of(pool, customer_id).await?;
    let url = landing_url(&config.public_url, &code, Channel::Qr);
    blocking(move || {
        let matrix = QrMatrix::encode(&url)?;
        match format {
            QrFormat::Svg => Ok(qr::svg(&matrix, size).into_bytes()),
            QrFormat::Png => qr::png(&matrix, size),
        }
    })
    .await
}

/// `count` cards of delivery rider `partner_id`, eight to an A4 sheet, each with the
/// rider's code and its landing URL with `ch=delivery_card`. The partner must exist
/// (404), be a `delivery_rider` (422) and be active (409): an inactive code attributes
/// nobody, so its cards would reward nobody.
pub async fn rider_cards(
    pool: &PgPool,
    config: &Config,
    partner_id: Uuid,
    count: CardCount,
) -> Result<Vec<u8>> {
    let partner = db::partners::find(pool, partner_id)
        .await?
        .ok_or_else(partners::partner_not_found)?;
    if partner.partner_type != PartnerType::DeliveryRider {
        return Err(Error::new(
            Code::PartnerNotRider,
            format!(
                "Rider cards are printed for partners of type {}; this one is {}",
                PartnerType::DeliveryRider,
                partner.partner_type
            ),
        ));
    }
    if !partner.is_active {
        return Err(Error::new(
            Code::PartnerInactive,
            "The partner is inactive: its code attributes nobody",
        ));
    }
    let card = Card {
        kind: CardKind::Rider,
        shop_name: config.shop_name.clone(),
        url: landing_url(&config.public_url, &partner.code, Channel::DeliveryCard),
        code: partner.code,
        printed_at: chrono::Utc::now(),
    };
    blocking(move || cards::rider_sheet(&card, count)).await
}

/// The card for the parcel of order `order_id`: its customer's own share code, with the
/// landing URL with `ch=delivery_card`, so the recipient passes it on. The order must
/// exist (404) and have a customer (409).
pub async fn parcel_card(pool: &PgPool, config: &Config, order_id: i32) -> Result<Vec<u8>> {
    let customer_id = db::orders::customer_of(pool, order_id)
        .await?
        .ok_or_else(|| Error::new(Code::OrderNotFound, "Order not found"))?
        .ok_or_else(|| {
            Error::new(
                Code::OrderHasNoCustomer,
                "The order has no customer yet, so there is no share code to print",
            )
        })?;
    let code = referrals::share_code_of(pool, customer_id).await?;
    let card = Card {
        kind: CardKind::Parcel,
        shop_name: config.shop_name.clone(),
        url: landing_url(&config.public_url, &code, Channel::DeliveryCard),
        code,
        printed_at: chrono::Utc::now(),
    };
    blocking(move || cards::parcel_card(&card)).await
}

/// Runs `work` on the blocking pool, in the request's span.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("drawing task failed: {e}")))?
}
