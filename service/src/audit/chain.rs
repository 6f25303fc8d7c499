//! The hash chain: what an entry's hash covers, and how it is computed.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use tenantry_entity::audit_entry::Model;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of `entry`: SHA-256, in hex, over a JSON array of every column but `hash` itself,
/// `prev_hash` included, so changing, removing or reordering any entry breaks every later link.
/// A JSON array is unambiguous where a plain concatenation of fields would not be.
pub fn hash(entry: &Model) -> String {
    let content = serde_json::json!([
        entry.id,
        timestamp(&entry.at),
        entry.action,
        entry.tenant_id,
        entry.tenant_slug,
        entry.actor,
        entry.request_id,
        entry.outcome,
        entry.change,
        entry.prev_hash,
    ]);
    Sha256::digest(content.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The time as hashed: UTC to the microsecond, which is what `timestamptz` keeps, so the value
/// read back hashes as the value written.
fn timestamp(at: &DateTime<FixedOffset>) -> String {
    at.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn entry() -> Model {
        Model {
            id: 1,
            at: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().map(Into::into).unwrap_or_default(),
            action: "tenant.provision".to_owned(),
            tenant_id: Some(7),
            tenant_slug: Some("acme".to_owned()),
            actor: "admin".to_owned(),
            request_id: None,
            outcome: "ok".to_owned(),
            change: "{}".to_owned(),
            prev_hash: GENESIS.to_owned(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = hash(&entry());
        assert_eq!(base.len(), 64);
        let changed: [fn(&mut Model); 6] = [
            |e| e.id = 2,
            |e| e.action.push('x'),
            |e| e.tenant_id = None,
            |e| e.outcome = "refused".to_owned(),
            |e| e.change = "{\"a\":1}".to_owned(),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for change in changed {
            let mut e = entry();
            change(&mut e);
            assert_ne!(hash(&e), base);
        }
        let mut e = entry();
        e.hash = "ignored".to_owned();
        assert_eq!(hash(&e), base, "the hash does not cover itself");
    }
}
