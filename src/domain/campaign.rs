//! Campaign rules that live outside SQL: sticky A/B variant assignment.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A campaign variant and its share of referrers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weighted {
    /// Variant id.
    pub id: i32,
    /// Relative weight (≥ 1).
    pub weight: i32,
}

/// The variant of `campaign` that `subject` (a referrer's id, or a partner's) belongs to.
///
/// The choice is a pure function of the campaign, the subject and the variants' ids and
/// weights: the same referrer always lands in the same variant (sticky), with no state to
/// store, and the shares follow the weights. Variants are taken in id order.
pub fn pick_variant(campaign: Uuid, subject: &str, variants: &[Weighted]) -> Option<i32> {
    let total: u64 = variants
        .iter()
        .map(|v| u64::try_from(v.weight.max(0)).unwrap_or(0))
        .sum();
    if total == 0 {
        return None;
    }
    let digest = Sha256::digest(format!("{campaign}:{subject}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let mut point = u64::from_be_bytes(bytes) % total;
    let mut sorted = variants.to_vec();
    sorted.sort_by_key(|v| v.id);
    for variant in sorted {
        let weight = u64::try_from(variant.weight.max(0)).unwrap_or(0);
        if point < weight {
            return Some(variant.id);
        }
        point -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_sticky_and_follows_the_weights() {
        let campaign = Uuid::from_u128(7);
        let variants = [Weighted { id: 1, weight: 3 }, Weighted { id: 2, weight: 1 }];
        let mut counts = [0usize; 2];
        for referrer in 0..10_000 {
            let subject = referrer.to_string();
            let first = pick_variant(campaign, &subject, &variants).unwrap();
            assert_eq!(pick_variant(campaign, &subject, &variants), Some(first));
            // The order the variants are listed in does not matter.
            let reversed = [variants[1], variants[0]];
            assert_eq!(pick_variant(campaign, &subject, &reversed), Some(first));
            counts[(first - 1) as usize] += 1;
        }
        // 75 % / 25 %, within two points.
        assert!((7300..=7700).contains(&counts[0]), "{counts:?}");
        assert_eq!(pick_variant(campaign, "1", &[]), None);
    }
}
