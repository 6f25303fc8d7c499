//! The audit log: every control-plane change, recorded in the control schema in the same
//! transaction as the change, hash-chained so that an entry changed, removed or inserted
//! behind the service's back is found by [`verify`]. The service only appends: there is no
//! function to change or delete an entry.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use tenantry_entity::audit_entry::{Column, Entity as AuditLog, Model};

use tenantry_entity::audit_chain;
pub use tenantry_entity::audit_chain::GENESIS;

use crate::ServiceError;
use crate::db::{Db, On, Tx};
use crate::page::{Page, PageRequest};

/// Who makes a change, and in which request: recorded with every entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Which credential, e.g. `admin:1a2b3c4d` (the admin token's digest prefix; never the secret).
    pub credential: String,
    /// The request's id, if it had one.
    pub request_id: Option<String>,
}

/// What an entry records about a change, before it is chained.
#[derive(Clone, Debug)]
pub struct Change {
    /// What is done, e.g. `tenant.provision`.
    pub action: &'static str,
    /// The tenant's registry id, once known.
    pub tenant_id: Option<i64>,
    /// The tenant's slug as the request named it.
    pub tenant_slug: Option<String>,
    /// Whether the slug names the tenant the change is about, or one it would create.
    pub subject: Subject,
    /// The change itself; never a secret.
    pub detail: Value,
}

/// Which tenant a change is about, for recording its refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The tenant its slug names now (an update, a deletion, an export...): a refusal records
    /// that tenant's id if it exists, `NULL` (with the slug) if it does not.
    Existing,
    /// A tenant the change would create (a provisioning, an import as a new tenant): a refusal
    /// records `NULL`, since the tenant never existed, even if another one holds the slug.
    New,
}

/// Appends an entry for `change` with `outcome` on `tx`, chained to the newest entry (see
/// [`audit_chain::append`]).
pub async fn append(tx: &Tx, actor: &Actor, change: &Change, outcome: &str) -> Result<(), ServiceError> {
    let entry = audit_chain::NewEntry {
        action: change.action,
        tenant_id: change.tenant_id,
        tenant_slug: change.tenant_slug.as_deref(),
        actor: &actor.credential,
        request_id: actor.request_id.as_deref(),
        outcome,
        change: &change.detail,
    };
    Ok(audit_chain::append(tx, entry).await?)
}

/// Runs `work` in one transaction with its audit entry: on success the entry (outcome `ok`,
/// the tenant id `work` reports) commits with the change; a refusal (not found, conflict,
/// invalid, forbidden) rolls the change back and is recorded on its own as `refused: <why>`,
/// with the id of the tenant the change was about if it exists when the refusal is recorded
/// (see [`Subject`]). Database failures are not recorded: the log may be just as unreachable.
pub async fn audited<T>(
    db: &Db,
    actor: &Actor,
    mut change: Change,
    work: impl AsyncFn(&Tx) -> Result<(T, Option<i64>), ServiceError>,
) -> Result<T, ServiceError> {
    let done = db
        .atomic(On::Control, async |tx| {
            let (value, tenant_id) = work(tx).await?;
            let change = Change { tenant_id: tenant_id.or(change.tenant_id), ..change.clone() };
            append(tx, actor, &change, "ok").await?;
            Ok(value)
        })
        .await;
    match done {
        Err(
            e @ (ServiceError::NotFound(_)
            | ServiceError::Conflict(_)
            | ServiceError::Invalid(_)
            | ServiceError::Forbidden(_)
            | ServiceError::Unprocessable(_)),
        ) => {
            let outcome = format!("refused: {e}");
            // Whatever id `work` was building on was rolled back with it.
            change.tenant_id = None;
            // The client learns why its change was refused even if recording the refusal fails.
            let recorded = db
                .atomic(On::Control, async |tx| {
                    let change = Change { tenant_id: subject_id(tx, &change).await?, ..change.clone() };
                    append(tx, actor, &change, &outcome).await
                })
                .await;
            if let Err(failed) = recorded {
                log::error!("could not record a refused {}: {failed}", change.action);
            }
            Err(e)
        }
        done => done,
    }
}

/// The registry id of the existing tenant a refused `change` was about, if there is one.
async fn subject_id(tx: &Tx, change: &Change) -> Result<Option<i64>, ServiceError> {
    let Some(slug) = change.tenant_slug.as_deref().filter(|_| change.subject == Subject::Existing) else {
        return Ok(None);
    };
    let tenant = tenantry_entity::tenant::Entity::find()
        .filter(tenantry_entity::tenant::Column::Slug.eq(slug))
        .select_only()
        .column(tenantry_entity::tenant::Column::Id)
        .into_tuple::<i64>()
        .one(tx)
        .await?;
    Ok(tenant)
}

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Entries naming this slug, or the tenant that now carries it.
    pub tenant: Option<String>,
    /// Entries of this action.
    pub action: Option<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Entries matching `filter`, oldest first.
pub async fn list(db: &Db, filter: Filter, page: PageRequest) -> Result<Page<Model>, ServiceError> {
    db.run(On::Control, async |work| {
        let mut select = AuditLog::find();
        if let Some(slug) = &filter.tenant {
            let current = tenantry_entity::tenant::Entity::find()
                .filter(tenantry_entity::tenant::Column::Slug.eq(slug.as_str()))
                .one(work)
                .await?;
            let mut by = Condition::any().add(Column::TenantSlug.eq(slug.as_str()));
            if let Some(current) = current {
                by = by.add(Column::TenantId.eq(current.id));
            }
            select = select.filter(by);
        }
        if let Some(action) = &filter.action {
            select = select.filter(Column::Action.eq(action.as_str()));
        }
        if let Some(since) = filter.since {
            select = select.filter(Column::At.gte(since));
        }
        page.fetch(work, select, |s| s.order_by_asc(Column::Id)).await
    })
    .await
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Entries checked (up to and including the first that does not match).
    pub checked: u64,
    /// The first entry whose hash or link does not match, and why.
    pub first_mismatch: Option<(i64, &'static str)>,
}

/// Entries read per statement while verifying, so memory stays flat however long the log.
const VERIFY_BATCH: u64 = 1_000;

/// Walks the chain in id order and names the first entry that does not match: its stored
/// hash is not the hash of its content, its `prev_hash` is not the previous entry's hash, or
/// its id does not follow the previous one (an entry was removed).
pub async fn verify(db: &Db) -> Result<Verdict, ServiceError> {
    db.run(On::Control, async |work| verify_on(work).await).await
}

async fn verify_on(conn: &impl ConnectionTrait) -> Result<Verdict, ServiceError> {
    // A time the service never writes (`infinity`, set behind its back) cannot even be read into
    // an entry: found first, it ends the walk and is named in its turn.
    let unreadable: Option<i64> = AuditLog::find()
        .select_only()
        .column_as(Column::Id.min(), "id")
        .filter(Expr::cust("NOT isfinite(at)"))
        .into_tuple::<Option<i64>>()
        .one(conn)
        .await?
        .flatten();
    let (mut checked, mut prev_id, mut prev_hash) = (0, 0, GENESIS.to_owned());
    loop {
        let mut select = AuditLog::find().filter(Column::Id.gt(prev_id));
        if let Some(unreadable) = unreadable {
            select = select.filter(Column::Id.lt(unreadable));
        }
        let batch = select.order_by_asc(Column::Id).limit(VERIFY_BATCH).all(conn).await?;
        let Some(last) = batch.last().map(|e| e.id) else { break };
        for entry in &batch {
            checked += 1;
            let problem = if entry.id != prev_id + 1 {
                Some("an entry before it is missing")
            } else if entry.prev_hash != prev_hash {
                Some("its previous hash does not match the entry before it")
            } else if audit_chain::hash(entry) != entry.hash {
                Some("its content does not match its hash")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(Verdict { checked, first_mismatch: Some((entry.id, problem)) });
            }
            (prev_id, prev_hash) = (entry.id, entry.hash.clone());
        }
        prev_id = last;
    }
    if let Some(id) = unreadable {
        let problem = if id == prev_id + 1 {
            "its time is not one an entry can have been written at"
        } else {
            "an entry before it is missing"
        };
        return Ok(Verdict { checked: checked + 1, first_mismatch: Some((id, problem)) });
    }
    Ok(Verdict { checked, first_mismatch: None })
}
