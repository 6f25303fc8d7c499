//! The audit log: every control-plane change leaves one hash-chained entry with its actor and
//! request id, a refused change is recorded as refused, and an entry changed with SQL behind
//! the service's back is named by `GET /audit/verify`.

use serde_json::{Value, json};
use tenantry_tests::{ADMIN_TOKEN, TestApp};

/// The audit entries `query` lists, as the admin.
async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let reply = app.get(&format!("/audit{query}"), None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn each_control_plane_change_is_recorded_with_its_actor_and_request_id() {
    let app = TestApp::spawn().await;
    let provision = app.client.post(app.url("/tenants")).header("X-Request-Id", "req-provision-1");
    let reply = app.send(provision.json(&json!({"slug": "acme", "name": "Acme"})), None).await;
    assert_eq!(reply.status, 201);
    // An X-Request-Id the server does not take (characters outside A-Z a-z 0-9 . _ -) is not
    // recorded either: the entry carries the id the server served and answered the request with.
    let issue = app
        .client
        .post(app.url("/tenants/acme/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .header("X-Request-Id", "id/with:odd@chars!")
        .json(&json!({}))
        .send()
        .await
        .expect("issue a key");
    let answered = issue.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let key: Value = issue.json().await.expect("a key");
    let (key_id, issued) =
        (key["id"].as_i64().expect("key id"), key["api_key"].as_str().expect("secret").to_owned());
    assert_eq!(app.delete(&format!("/tenants/acme/keys/{key_id}"), None).await.status, 204);
    assert_eq!(
        app.patch("/tenants/acme", None, &json!({"slug": "acme2", "state": "suspended"})).await.status,
        200
    );
    assert_eq!(app.delete("/tenants/acme2", None).await.status, 204);

    let all = entries(&app, "").await;

    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(actions, ["tenant.provision", "key.issue", "key.revoke", "tenant.update", "tenant.delete"]);
    assert!(
        all.iter()
            .all(|e| e["outcome"] == "ok" && e["actor"].as_str().is_some_and(|a| a.starts_with("admin:")))
    );
    assert_eq!(all[0]["request_id"], "req-provision-1");
    assert_eq!(all[1]["request_id"].as_str(), answered.as_deref());
    assert_ne!(all[1]["request_id"], "id/with:odd@chars!");
    assert!(all[2]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "every request has an id");
    assert_eq!(all[0]["change"], json!({"slug": "acme", "name": "Acme"}));
    assert_eq!(all[3]["change"], json!({"slug": "acme2", "name": null, "state": "suspended"}));
    let tenant_id = all[0]["tenant_id"].as_i64().expect("the tenant's id");
    assert!(all.iter().all(|e| e["tenant_id"] == tenant_id), "{all:?}");
    let text = serde_json::to_string(&all).unwrap_or_default();
    let secret = reply.body["api_key"].as_str().expect("the first key");
    assert!(!text.contains(secret) && !text.contains(&issued), "no secrets in the log: {text}");
    assert_eq!(
        app.get("/audit/verify", None).await.body,
        json!({"ok": true, "checked": 5, "first_mismatch": null, "problem": null})
    );
}

#[tokio::test]
async fn a_refused_change_is_recorded_as_refused_and_writes_nothing_else() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    app.post("/tenants", None, &json!({"slug": "acme", "name": "Again"}))
        .await
        .assert_problem(409, "already exists");

    let refused = entries(&app, "?action=tenant.provision&offset=1").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["outcome"], "refused: tenant 'acme' already exists");
    assert_eq!(refused[0]["tenant_id"], Value::Null);
    assert_eq!(app.db.count("SELECT count(*) AS n FROM tenantry.tenants").await, 1);
}

#[tokio::test]
async fn the_log_is_filtered_by_tenant_action_and_time_and_paged() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    assert_eq!(app.patch("/tenants/acme", None, &json!({"slug": "initech"})).await.status, 200);

    assert_eq!(entries(&app, "?tenant=initech").await.len(), 2, "the renamed tenant's whole history");
    assert_eq!(entries(&app, "?tenant=globex&action=tenant.update").await.len(), 0);
    assert_eq!(entries(&app, "?since=2999-01-01T00:00:00Z").await.len(), 0);
    let page = app.get("/audit?limit=1&offset=1", None).await.body;
    assert_eq!((page["total"].as_i64(), page["items"][0]["tenant"].as_str()), (Some(3), Some("globex")));
    app.get("/audit?limit=0", None).await.assert_problem(400, "limit");
    app.get("/audit?since=yesterday", None).await.assert_problem(400, "since");
    let anonymous = app.send_raw(app.client.get(app.url("/audit/verify"))).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn an_entry_changed_behind_the_services_back_is_named_by_verify() {
    let app = TestApp::spawn().await;
    for slug in ["acme", "globex", "initech"] {
        app.create_tenant(slug).await;
    }
    assert_eq!(app.get("/audit/verify", None).await.body["ok"], true);

    app.db.execute("UPDATE tenantry.audit_log SET actor = 'someone else' WHERE id = 2").await;

    let verdict = app.get("/audit/verify", None).await.body;
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["first_mismatch"], 2);
    assert_eq!(verdict["problem"], "its content does not match its hash");
    let (intact, said) = verify_with_the_tool(app.db.url()).await;
    assert!(!intact, "the tool exits 1: {said}");
    assert!(said.contains("entry 2 does not match (its content does not match its hash)"), "{said}");
}

/// A time no entry can have been written at (set with SQL) cannot even be read into an entry:
/// verify names that entry instead of failing, over HTTP and in the tool.
#[tokio::test]
async fn an_entry_whose_time_is_set_to_infinity_is_named_by_verify() {
    let app = TestApp::spawn().await;
    for slug in ["acme", "globex", "initech"] {
        app.create_tenant(slug).await;
    }

    app.db.execute("UPDATE tenantry.audit_log SET at = 'infinity' WHERE id = 2").await;

    let verdict = app.get("/audit/verify", None).await.body;
    assert_eq!(
        (verdict["ok"].as_bool(), verdict["first_mismatch"].as_i64()),
        (Some(false), Some(2)),
        "{verdict}"
    );
    assert_eq!(verdict["problem"], "its time is not one an entry can have been written at");
    let (intact, said) = verify_with_the_tool(app.db.url()).await;
    assert!(!intact, "the tool exits 1: {said}");
    assert!(said.contains("entry 2 does not match"), "{said}");
}

/// `migration audit verify` on the database at `url`: whether the chain is intact, and what
/// it printed.
async fn verify_with_the_tool(url: &str) -> (bool, String) {
    use clap::Parser;
    let cli =
        tenantry_migration::cli::Cli::try_parse_from(["migration", "--database-url", url, "audit", "verify"])
            .expect("valid arguments");
    let mut out = Vec::new();
    let intact = tenantry_cli::run(&cli, Default::default(), &mut std::io::empty(), &mut out).await;
    (intact.expect("the command runs"), String::from_utf8(out).expect("utf-8"))
}

#[tokio::test]
async fn the_tool_verifies_an_intact_chain() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;

    let (intact, said) = verify_with_the_tool(app.db.url()).await;

    assert!(intact, "{said}");
    assert!(said.contains("entries checked, the chain is intact"), "{said}");
}

#[tokio::test]
async fn an_entry_with_a_forged_hash_or_a_removed_entry_is_named_by_verify() {
    let app = TestApp::spawn().await;
    for slug in ["acme", "globex", "initech"] {
        app.create_tenant(slug).await;
    }
    // An entry rewritten with a made-up hash.
    app.db.execute("UPDATE tenantry.audit_log SET outcome = 'x', hash = repeat('a', 64) WHERE id = 1").await;
    let verdict = app.get("/audit/verify", None).await.body;
    assert_eq!((verdict["first_mismatch"].as_i64(), verdict["checked"].as_i64()), (Some(1), Some(1)));

    app.db.execute("DELETE FROM tenantry.audit_log WHERE id <= 2").await;
    let verdict = app.get("/audit/verify", None).await.body;
    assert_eq!(verdict["first_mismatch"], 3);
    assert_eq!(verdict["problem"], "an entry before it is missing");
}

#[tokio::test]
async fn a_refused_tenant_move_is_recorded_with_where_it_was_to_go() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    let moved = app.post("/tenants/acme/move", None, &json!({"node": "127.0.0.1:5432"})).await;

    moved.assert_problem(409, "not a Citus coordinator");
    let recorded = entries(&app, "?action=tenant.move").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["change"], json!({"to": "127.0.0.1:5432"}));
    assert!(recorded[0]["outcome"].as_str().is_some_and(|o| o.starts_with("refused: ")), "{recorded:?}");
}

/// Runs the `migration` tool as operator `alice` on the database at `url`.
async fn tool_as_alice(url: &str, args: &[&str]) -> String {
    use clap::Parser;
    let head = ["migration", "--database-url", url];
    let cli = tenantry_migration::cli::Cli::try_parse_from(head.iter().chain(args).copied())
        .expect("valid arguments");
    let vars = [("USER".to_owned(), "alice".to_owned())].into_iter().collect();
    let mut out = Vec::new();
    let ran = tenantry_cli::run(&cli, vars, &mut std::io::empty(), &mut out).await;
    assert!(ran.expect("the command runs"), "{}", String::from_utf8_lossy(&out));
    String::from_utf8(out).expect("utf-8")
}

/// A migration the tool applies or rolls back is a control-plane change too: recorded, by the
/// operator, in the tenant's migration transaction; a run with nothing to do records nothing.
#[tokio::test]
async fn a_tenants_migrations_run_by_the_tool_are_recorded_with_the_operator() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let url = app.db.url().to_owned();

    tool_as_alice(&url, &["tenant", "--tenant", "acme", "down", "-n", "1"]).await;
    tool_as_alice(&url, &["tenants", "up"]).await;
    tool_as_alice(&url, &["tenants", "up"]).await;

    let migrations = entries(&app, "?action=tenant.migrate").await;
    assert_eq!(migrations.len(), 2, "a no-op run records nothing: {migrations:?}");
    let tenant_id = entries(&app, "?action=tenant.provision").await[0]["tenant_id"].clone();
    for (entry, direction) in migrations.iter().zip(["down", "up"]) {
        assert_eq!(entry["actor"], "cli:alice", "{entry}");
        assert_eq!(entry["tenant"], "acme", "{entry}");
        assert_eq!(entry["tenant_id"], tenant_id, "{entry}");
        assert_eq!(entry["change"]["direction"], direction, "{entry}");
        assert_eq!(entry["change"]["changed"].as_array().map(Vec::len), Some(1), "{entry}");
    }
    assert_eq!(migrations[1]["change"]["version"], app.get("/tenants/acme", None).await.body["version"]);
    assert_eq!(app.get("/audit/verify", None).await.body["ok"], true, "chained as the service chains");
}

#[tokio::test]
async fn a_refusal_records_the_tenant_it_was_about_when_it_exists_and_the_slug_when_not() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let ids = entries(&app, "?action=tenant.provision").await;
    let acme_id = ids.iter().find(|e| e["tenant"] == "acme").map(|e| e["tenant_id"].clone());
    let acme_id = acme_id.filter(Value::is_i64).expect("acme's id");
    assert_eq!(acme["slug"], "acme");
    let garbage =
        |query: &str| app.client.post(app.url(&format!("/tenants/import?{query}"))).body("not a tar archive");

    // About acme, which exists: a rename onto a taken slug (with a limits change), a key that
    // is not there, an archive into it that does not read.
    let rename = json!({"slug": "globex", "limits": {"max_products": 5}});
    app.patch("/tenants/acme", None, &rename).await.assert_problem(409, "already exists");
    assert_eq!(app.delete("/tenants/acme/keys/999999", None).await.status, 404);
    assert_eq!(app.send(garbage("into=acme"), None).await.status, 400);
    // About tenants that do not exist; and a new tenant whose slug another one holds.
    assert_eq!(app.delete("/tenants/ghost", None).await.status, 404);
    assert_eq!(app.get("/tenants/ghost/export", None).await.status, 404);
    assert_eq!(app.post("/tenants/ghost/keys", None, &json!({})).await.status, 404);
    assert_eq!(app.send(garbage("slug=globex"), None).await.status, 400);

    let refused: Vec<Value> = entries(&app, "?limit=100")
        .await
        .into_iter()
        .filter(|e| e["outcome"].as_str().is_some_and(|o| o.starts_with("refused: ")))
        .collect();
    let recorded: Vec<(&str, &str, &Value)> = refused
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["tenant"].as_str().unwrap_or_default(),
                &e["tenant_id"],
            )
        })
        .collect();
    assert_eq!(
        recorded,
        [
            ("tenant.update", "acme", &acme_id),
            ("key.revoke", "acme", &acme_id),
            ("tenant.import", "acme", &acme_id),
            ("tenant.delete", "ghost", &Value::Null),
            ("tenant.export", "ghost", &Value::Null),
            ("key.issue", "ghost", &Value::Null),
            ("tenant.import", "globex", &Value::Null),
        ],
        "{refused:?}"
    );
    assert_eq!(refused[0]["change"]["limits"], json!({"max_products": 5}), "what was refused");
    assert_eq!(app.get("/audit/verify", None).await.body["ok"], true);
}
