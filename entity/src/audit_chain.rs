//! The audit log's hash chain: what an entry's hash covers, how it is computed, and the one way
//! an entry is appended ([`append`], or its steps [`LOCK`], [`newest`], [`chain`] and [`insert`]
//! or [`insert_all`] where the statements are sent otherwise), shared by the service and the `migration` tool's
//! fleet runs so that both chain entries alike.

use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound, Utc};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};
use sha2::{Digest, Sha256};

use crate::audit_entry::{self, Column, Entity as AuditLog, Model};

/// What an entry records, before it is chained.
#[derive(Clone, Debug)]
pub struct NewEntry<'a> {
    /// What is done, e.g. `tenant.provision`.
    pub action: &'a str,
    /// The tenant's registry id, if the change concerns one that exists.
    pub tenant_id: Option<i64>,
    /// The tenant's slug as it was named.
    pub tenant_slug: Option<&'a str>,
    /// Which credential made the change (never the secret).
    pub actor: &'a str,
    /// The request's id, if it had one.
    pub request_id: Option<&'a str>,
    /// `ok`, or `refused: <why>`.
    pub outcome: &'a str,
    /// The change as JSON; never a secret.
    pub change: &'a serde_json::Value,
}

/// Appends `entry` on `conn` (a transaction: the entry commits with the change it records),
/// chained to the newest entry. The table lock (which only other appends wait for; readers do
/// not) keeps the chain a line: two transactions can never both chain to the same entry.
pub async fn append(conn: &impl ConnectionTrait, entry: NewEntry<'_>) -> Result<(), DbErr> {
    conn.execute_unprepared(LOCK).await?;
    let newest = newest().one(conn).await?;
    conn.execute_raw(insert(chain(entry, newest.as_ref()))).await?;
    Ok(())
}

/// The statement every append takes first, in its transaction, before reading the newest entry.
pub const LOCK: &str = "LOCK TABLE tenantry.audit_log IN SHARE ROW EXCLUSIVE MODE";

/// The newest entry, which the next one chains to: read after [`LOCK`].
pub fn newest() -> Select<AuditLog> {
    AuditLog::find().order_by_desc(Column::Id).limit(1)
}

/// `entry` as the row that follows `newest` (`None`: the log is empty), its hash computed.
pub fn chain(entry: NewEntry<'_>, newest: Option<&Model>) -> Model {
    let (id, prev_hash) = match newest {
        Some(last) => (last.id + 1, last.hash.clone()),
        None => (1, GENESIS.to_owned()),
    };
    let mut row = Model {
        id,
        at: Utc::now().trunc_subsecs(6).into(),
        action: entry.action.to_owned(),
        tenant_id: entry.tenant_id,
        tenant_slug: entry.tenant_slug.map(str::to_owned),
        actor: entry.actor.to_owned(),
        request_id: entry.request_id.map(str::to_owned),
        outcome: entry.outcome.to_owned(),
        change: entry.change.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = hash(&row);
    row
}

/// The `INSERT` of a chained row, its values bound.
pub fn insert(row: Model) -> Statement {
    AuditLog::insert(audit_entry::ActiveModel::from(row)).build(DbBackend::Postgres)
}

/// One `INSERT` of several chained rows (each chained to the one before it), values bound.
pub fn insert_all(rows: Vec<Model>) -> Statement {
    AuditLog::insert_many(rows.into_iter().map(audit_entry::ActiveModel::from)).build(DbBackend::Postgres)
}

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
