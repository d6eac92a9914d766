//! The channels a referral can come through: one documented list, used everywhere.

use serde::Serialize;

/// Where a referral code was captured. Stored as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Shared over WhatsApp.
    Whatsapp,
    /// Shared on Facebook or Messenger.
    Facebook,
    /// Sent by SMS.
    Sms,
    /// Sent by email.
    Email,
    /// A printed QR code (rider cards, packaging, posters).
    Qr,
    /// A link copied from the Refer & Earn page.
    ShareLink,
    /// Typed on the website's registration page.
    Web,
    /// Typed at checkout.
    Checkout,
    /// Captured by a call-centre agent on the phone.
    AgentReferral,
    /// Shared after writing a product review.
    ReviewShare,
    /// A community group code.
    Community,
    /// An influencer's code.
    Influencer,
    /// A card handed over by a delivery rider.
    DeliveryCard,
    /// Anything not in this list (the raw value is kept in the event payload).
    Other,
}

impl Channel {
    /// Every channel, in documentation order.
    pub const ALL: [Channel; 14] = [
        Self::Whatsapp,
        Self::Facebook,
        Self::Sms,
        Self::Email,
        Self::Qr,
        Self::ShareLink,
        Self::Web,
        Self::Checkout,
        Self::AgentReferral,
        Self::ReviewShare,
        Self::Community,
        Self::Influencer,
        Self::DeliveryCard,
        Self::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Facebook => "facebook",
            Self::Sms => "sms",
            Self::Email => "email",
            Self::Qr => "qr",
            Self::ShareLink => "share_link",
            Self::Web => "web",
            Self::Checkout => "checkout",
            Self::AgentReferral => "agent_referral",
            Self::ReviewShare => "review_share",
            Self::Community => "community",
            Self::Influencer => "influencer",
            Self::DeliveryCard => "delivery_card",
            Self::Other => "other",
        }
    }

    /// Reads a channel name as clients send it: case-insensitive, `-` or space for `_`,
    /// and a few common aliases. Anything unknown is [`Channel::Other`].
    pub fn parse_lenient(raw: &str) -> Self {
        let name = raw.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match name.as_str() {
            "wa" | "whats_app" => Self::Whatsapp,
            "fb" | "messenger" => Self::Facebook,
            "link" | "share" => Self::ShareLink,
            "agent" | "call_centre" | "call_center" => Self::AgentReferral,
            "review" => Self::ReviewShare,
            _ => Self::ALL
                .into_iter()
                .find(|c| c.as_str() == name)
                .unwrap_or(Self::Other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse_lenient(channel.as_str()), channel);
            let json = serde_json::to_value(channel).unwrap();
            assert_eq!(json, channel.as_str());
        }
    }

    #[test]
    fn lenient_parsing() {
        assert_eq!(Channel::parse_lenient(" WhatsApp "), Channel::Whatsapp);
        assert_eq!(Channel::parse_lenient("share-link"), Channel::ShareLink);
        assert_eq!(Channel::parse_lenient("tiktok"), Channel::Other);
    }
}
