//! UTM parameters (`utm_source`, `utm_medium`, `utm_campaign`, `utm_content`): where a
//! visitor of a shared link came from, as the link's author tagged it (a Facebook group, a
//! WhatsApp broadcast, a boosted post). The one home of how they are cleaned.
//!
//! They are best-effort data from public URLs, so a bad value is dropped, never refused:
//! a landing or a signup never fails because of its tags.

use serde::Serialize;
use serde_json::{Value, json};

/// Longest value kept, in characters (longer ones are cut).
pub const MAX_UTM_LEN: usize = 100;

/// The four UTM values of one visit or signup, each cleaned: trimmed, at most
/// [`MAX_UTM_LEN`] characters, and printable (a value with a control or invisible
/// formatting character is dropped). Empty values are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Utm {
    /// `utm_source`: the site or group (`facebook`, `dhaka-moms-group`).
    pub source: Option<String>,
    /// `utm_medium`: the kind of traffic (`social`, `group_post`).
    pub medium: Option<String>,
    /// `utm_campaign`: the campaign (`eid-2026`).
    pub campaign: Option<String>,
    /// `utm_content`: which post or creative.
    pub content: Option<String>,
}

impl Utm {
    /// The cleaned values of the four parameters as received.
    pub fn new(
        source: Option<&str>,
        medium: Option<&str>,
        campaign: Option<&str>,
        content: Option<&str>,
    ) -> Self {
        Self {
            source: source.and_then(clean),
            medium: medium.and_then(clean),
            campaign: campaign.and_then(clean),
            content: content.and_then(clean),
        }
    }

    /// Whether no value is present.
    pub fn is_empty(&self) -> bool {
        self.pairs().next().is_none()
    }

    /// The present values with their query parameter names (`utm_source`, …), in the
    /// usual order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("utm_source", &self.source),
            ("utm_medium", &self.medium),
            ("utm_campaign", &self.campaign),
            ("utm_content", &self.content),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    }

    /// The present values as an event payload's `utm` object (`{"source": …}`).
    pub fn to_json(&self) -> Value {
        let mut object = json!({});
        for (name, value) in self.pairs() {
            object[name.trim_start_matches("utm_")] = json!(value);
        }
        object
    }
}

/// One value cleaned, or `None` when nothing printable is left.
fn clean(raw: &str) -> Option<String> {
    if raw.chars().any(|c| c.is_control() || is_invisible(c)) {
        return None;
    }
    let value: String = raw.trim().chars().take(MAX_UTM_LEN).collect();
    let value = value.trim_end();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Formatting characters that print as nothing but can reorder or hide text (zero-width
/// spaces and joiners, bidirectional overrides, the byte-order mark).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_trimmed_capped_and_printable() {
        let long = "x".repeat(150);
        let utm = Utm::new(
            Some("  facebook "),
            Some("\u{202E}social"),
            Some(&long),
            Some("   "),
        );
        assert_eq!(utm.source.as_deref(), Some("facebook"));
        assert_eq!(utm.medium, None, "a bidi override drops the value");
        assert_eq!(utm.campaign.as_deref().map(str::len), Some(MAX_UTM_LEN));
        assert_eq!(utm.content, None);
        assert_eq!(
            Utm::new(Some("a\nb"), None, None, None),
            Utm::default(),
            "a control character drops the value"
        );
    }

    #[test]
    fn bangla_values_are_kept_whole() {
        let utm = Utm::new(None, None, Some("ঈদ অফার"), None);
        assert_eq!(utm.campaign.as_deref(), Some("ঈদ অফার"));
        assert_eq!(utm.to_json(), json!({ "campaign": "ঈদ অফার" }));
        assert_eq!(
            utm.pairs().collect::<Vec<_>>(),
            [("utm_campaign", "ঈদ অফার")]
        );
        assert!(!utm.is_empty());
        assert!(Utm::default().is_empty());
    }
}
