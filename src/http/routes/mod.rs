//! One module per resource. TrustCart-compatible handlers keep TrustCart's paths, methods
//! and JSON keys; every handler only parses, authorises and calls [`crate::service`].

pub mod auth;
pub mod campaigns;
pub mod codes;
pub mod customers;
pub mod health;
pub mod kpis;
pub mod loyalty;
pub mod orders;
pub mod partners;
pub mod referrals;
pub mod wallets;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{Error, Result};

/// `?limit=&beforeId=`: a page of a newest-first list. `beforeId` is the last id of the
/// previous page (seek pagination: stable while new rows arrive).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many rows (1 to the route's maximum).
    pub limit: Option<i64>,
    /// Only rows with a smaller id than this.
    pub before_id: Option<i32>,
}

impl PageParams {
    /// The validated limit: `default` when absent, an error outside `1..=max`.
    pub fn limit(&self, default: i64, max: i64) -> Result<i64> {
        match self.limit {
            None => Ok(default),
            Some(limit) if (1..=max).contains(&limit) => Ok(limit),
            Some(_) => Err(Error::bad_request(
                "invalid_query",
                format!("limit must be between 1 and {max}"),
            )),
        }
    }
}
