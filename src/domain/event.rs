//! Domain events as they leave Bondhu: the one envelope every carrier sends (a webhook's
//! body, a NATS message's payload), and where an event's publication to the stream is.
//!
//! Events themselves are written by SQL (`emit_event`); their types are
//! [`DomainEventType`].

use serde::Serialize;
use uuid::Uuid;

use super::time::Timestamp;
use super::webhook::DomainEventType;

/// An event as receivers and consumers get it: `{"id","type","createdAt","data"}`
/// (docs/WEBHOOKS.md, docs/EVENTS.md). The same bytes go to every webhook and to the stream.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope<'a> {
    /// The event's id (`Bondhu-Event-Id`, `Nats-Msg-Id`): what consumers deduplicate by.
    pub id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: DomainEventType,
    /// When the fact happened (committed).
    pub created_at: Timestamp,
    /// The payload, as `emit_event` stored it.
    pub data: &'a serde_json::Value,
}

impl EventEnvelope<'_> {
    /// The JSON bytes sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of plain values and a `Value` cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

super::sql_enum! {
    /// Where an event's publication to the NATS stream is.
    pub enum PublicationStatus = "event_publication_status" {
        /// Waiting for its next attempt.
        Queued = "queued",
        /// A relay is publishing it (under a lease).
        Publishing = "publishing",
        /// JetStream acknowledged it.
        Published = "published",
    }
}
