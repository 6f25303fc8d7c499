//! Export and restore of one tenant over real HTTP: round trips, snapshots, and every
//! refused archive leaving nothing behind.

use std::io::Read;

use serde_json::{Value, json};
use tenantry_tests::{ADMIN_TOKEN, TestApp};

/// `GET /tenants/{slug}/export`, the archive's bytes; fails the test on anything but 200.
pub(crate) async fn export(app: &TestApp, slug: &str) -> Vec<u8> {
    let response = app
        .client
        .get(app.url(&format!("/tenants/{slug}/export")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200, "exporting {slug}");
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(kind.as_deref(), Some("application/x-tar"));
    response.bytes().await.expect("the archive").to_vec()
}

/// `POST /tenants/import?<query>` with `archive` as the body.
pub(crate) async fn import(app: &TestApp, query: &str, archive: Vec<u8>) -> tenantry_tests::Reply {
    let request = app
        .client
        .post(app.url(&format!("/tenants/import?{query}")))
        .header("content-type", "application/x-tar")
        .body(archive);
    app.send(request, None).await
}

/// A tenant with three products and four orders.
async fn shop(app: &TestApp, slug: &str) {
    app.create_tenant(slug).await;
    let mut ids = Vec::new();
    for (name, price) in [("Widget", "19.99"), (r#"Back\slash "quoted" \N"#, "5.00"), ("Ünïcode", "0.10")] {
        ids.push(app.create_product(slug, name, price).await["id"].clone());
    }
    for (product, quantity) in [(&ids[0], 3), (&ids[1], 1), (&ids[2], 7), (&ids[0], 2)] {
        let order =
            app.post("/orders", Some(slug), &json!({"product_id": product, "quantity": quantity})).await;
        assert_eq!(order.status, 201, "{order:?}");
    }
}

/// Every table's entries in the archive, by path.
fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(archive);
    let mut out = Vec::new();
    for entry in tar.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("data");
        out.push((path, data));
    }
    out
}

/// A tar of `entries`, in order.
fn tar_of(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, &path, data.as_slice()).expect("append");
    }
    builder.into_inner().expect("tar")
}

/// The archive rebuilt with its manifest changed by `change`.
fn with_manifest(archive: &[u8], change: impl Fn(&mut Value)) -> Vec<u8> {
    tar_of(entries(archive).into_iter().map(|(path, data)| {
        if path != "manifest.json" {
            return (path, data);
        }
        let mut manifest: Value = serde_json::from_slice(&data).expect("JSON");
        change(&mut manifest);
        (path, serde_json::to_vec(&manifest).expect("JSON"))
    }))
}

/// The tenant's products and orders as the API lists them.
async fn contents(app: &TestApp, slug: &str) -> (Value, Value) {
    let products = app.get("/products?limit=100", Some(slug)).await.body;
    let orders = app.get("/orders?limit=100", Some(slug)).await.body;
    (products, orders)
}

/// Registered tenants and schemas, for "nothing was left" checks.
async fn fleet(app: &TestApp) -> (Vec<String>, Vec<String>) {
    let slugs = app.db.strings("SELECT slug AS v FROM tenantry.tenants ORDER BY slug").await;
    (slugs, app.db.schemas().await)
}

#[tokio::test]
async fn an_exported_tenant_imported_under_a_new_slug_answers_the_same_lists_and_totals() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;

    let archive = export(&app, "acme").await;
    let reply = import(&app, "slug=acme2&name=Acme%20Two", archive).await;

    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["slug"], "acme2");
    assert_eq!(reply.body["rows"], json!({"products": 3, "orders": 4}));
    assert_ne!(reply.body["schema"], app.schema_of("acme"), "a schema of its own, from its id");
    let key = reply.body["api_key"].as_str().expect("a first key").to_owned();
    let as_acme2 = |r: reqwest::RequestBuilder| r.header("X-Tenant", "acme2").bearer_auth(&key);
    let products = app.send_raw(as_acme2(app.client.get(app.url("/products?limit=100")))).await.body;
    let orders = app.send_raw(as_acme2(app.client.get(app.url("/orders?limit=100")))).await.body;
    assert_eq!((products.clone(), orders), contents(&app, "acme").await, "same rows, same ids");
    let largest = products["items"].as_array().expect("items").iter().filter_map(|p| p["id"].as_i64()).max();
    let new = app
        .send_raw(as_acme2(
            app.client.post(app.url("/products")).json(&json!({"name": "New", "price": "1.00"})),
        ))
        .await;
    assert_eq!(new.status, 201, "{new:?}");
    assert!(new.body["id"].as_i64() > largest, "new ids continue after the largest: {new:?}");
    let version = app.get("/tenants/acme2", None).await.body["version"].clone();
    assert_eq!(version, app.get("/tenants/acme", None).await.body["version"]);
}

#[tokio::test]
async fn export_and_import_are_audited_with_their_actor_and_request_id() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;

    let archive = export(&app, "acme").await;
    let request =
        app.client.post(app.url("/tenants/import?slug=copy")).header("x-request-id", "imp-1").body(archive);
    let reply = app.send(request, None).await;

    assert_eq!(reply.status, 201, "{reply:?}");
    let entries = app.get("/audit?limit=100", None).await.body;
    let items = entries["items"].as_array().expect("items");
    let export = items.iter().find(|e| e["action"] == "tenant.export").expect("an export entry");
    assert_eq!(export["outcome"], "ok");
    let import = items.iter().find(|e| e["action"] == "tenant.import").expect("an import entry");
    assert_eq!((import["outcome"].as_str(), import["request_id"].as_str()), (Some("ok"), Some("imp-1")));
    assert!(import["actor"].as_str().is_some_and(|a| a.starts_with("admin:")), "{import}");
}

#[tokio::test]
async fn an_archive_with_one_byte_changed_in_a_table_is_refused_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;
    let archive = export(&app, "acme").await;
    let before = fleet(&app).await;
    // The first product row's id: "1\t..." becomes "2\t...", same size and row count.
    let (path, data) =
        entries(&archive).into_iter().find(|(p, _)| p == "tables/products.copy").expect("products");
    assert_eq!(path, "tables/products.copy");
    let at = archive.windows(data.len()).position(|w| w == data.as_slice()).expect("the entry's data");
    let mut tampered = archive.clone();
    tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };

    let reply = import(&app, "slug=acme2", tampered).await;

    reply.assert_problem(400, "does not match its SHA-256 checksum");
    assert_eq!(fleet(&app).await, before, "no registry row, no schema");
}

#[tokio::test]
async fn a_truncated_archive_is_refused_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;
    let archive = export(&app, "acme").await;
    let before = fleet(&app).await;

    for cut in [archive.len() / 2, 1024, 100, 0] {
        let reply = import(&app, "slug=acme2", archive[..cut].to_vec()).await;
        assert_eq!(reply.status, 400, "cut at {cut}: {reply:?}");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(["truncated", "corrupt", "no manifest"].iter().any(|w| detail.contains(w)), "{detail}");
    }
    assert_eq!(fleet(&app).await, before);
}

#[tokio::test]
async fn an_archive_from_a_newer_migration_version_is_refused() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;
    let archive = with_manifest(&export(&app, "acme").await, |m| {
        m["migration_version"] = json!("m29991231_000001_from_the_future");
    });
    let before = fleet(&app).await;

    let reply = import(&app, "slug=acme2", archive).await;

    reply.assert_problem(422, "newer than this server's newest");
    assert_eq!(fleet(&app).await, before);
}

#[tokio::test]
async fn an_archive_of_an_unknown_format_version_or_without_manifest_is_refused() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;
    let archive = export(&app, "acme").await;
    let later = with_manifest(&archive, |m| m["format_version"] = json!(2));
    let headless = tar_of([("tables/products.copy".to_owned(), b"1\tx".to_vec())]);
    let before = fleet(&app).await;

    import(&app, "slug=acme2", later).await.assert_problem(422, "format version is 2");
    import(&app, "slug=acme2", headless).await.assert_problem(400, "not its manifest");
    import(&app, "slug=acme2", b"garbage, not a tar".to_vec()).await.assert_problem(400, "tar");
    // Bytes tar could not read are not echoed back in the answer.
    let binary: Vec<u8> = (0..1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let reply = import(&app, "slug=acme2", binary).await;
    reply.assert_problem(400, "not a readable tar file");
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{detail:?}");
    assert_eq!(fleet(&app).await, before);
}

#[tokio::test]
async fn an_import_under_a_taken_slug_is_a_conflict_and_into_needs_an_empty_tenant() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;
    app.create_tenant("empty").await;
    let archive = export(&app, "acme").await;

    import(&app, "slug=acme", archive.clone()).await.assert_problem(409, "already exists");
    import(&app, "into=acme", archive.clone()).await.assert_problem(409, "is not empty");
    import(&app, "into=nobody", archive.clone()).await.assert_problem(404, "nobody");
    import(&app, "slug=a&into=b", archive.clone()).await.assert_problem(400, "exactly one");
    let into = import(&app, "into=empty", archive).await;

    assert_eq!(into.status, 200, "{into:?}");
    assert!(into.body.get("api_key").is_none(), "keys stay as they were");
    assert_eq!(contents(&app, "empty").await, contents(&app, "acme").await);
}

#[tokio::test]
async fn an_archive_over_the_size_limit_is_refused_with_413() {
    let app = TestApp::spawn_with(&[("APP__TRANSFER__MAX_ARCHIVE_BYTES", "4096")]).await;
    shop(&app, "acme").await;
    let archive = export(&app, "acme").await;
    assert!(archive.len() > 4096);

    import(&app, "slug=acme2", archive).await.assert_problem(413, "transfer.max_archive_bytes");
    assert!(!fleet(&app).await.0.contains(&"acme2".to_owned()));
}

#[tokio::test]
async fn an_export_taken_during_writes_is_one_snapshot() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;
    let schema = app.schema_of("acme");
    // Enough rows that the export takes a while, written straight into the tenant's tables.
    app.db
        .execute(&format!(
            "INSERT INTO {schema}.products (name, price) SELECT 'p' || g, 1.00 FROM generate_series(1, 50000) g"
        ))
        .await;
    let writer = async {
        for _ in 0..30 {
            let product = app.create_product("acme", "During", "2.00").await;
            let order = json!({"product_id": product["id"], "quantity": 1});
            assert_eq!(app.post("/orders", Some("acme"), &order).await.status, 201);
        }
    };

    let (archive, ()) = tokio::join!(export(&app, "acme"), writer);

    let manifest: Value = serde_json::from_slice(&entries(&archive)[0].1).expect("manifest");
    for (table, (path, data)) in
        manifest["tables"].as_array().expect("tables").iter().zip(&entries(&archive)[1..])
    {
        assert_eq!(table["file"].as_str(), Some(path.as_str()));
        let rows = data.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(table["rows"].as_u64(), Some(rows), "the manifest counts the rows it holds");
    }
    // Every order in the archive finds its product in the same archive (the import checks
    // each reference), so products and orders come from one moment.
    let reply = import(&app, "slug=copy", archive).await;
    assert_eq!(reply.status, 201, "{reply:?}");
}

/// Runs the `migration` tool's command (as its binary does) on `app`'s database.
async fn tool(app: &TestApp, args: &[&str], input: &[u8]) -> Vec<u8> {
    let url = app.db.url().to_owned();
    let argv = ["migration", "--database-url", url.as_str()].into_iter().chain(args.iter().copied());
    let cli = <tenantry_migration::cli::Cli as clap::Parser>::try_parse_from(argv).expect("valid arguments");
    let (mut input, mut out) = (input, Vec::new());
    let ran = tenantry_cli::run(&cli, Default::default(), &mut input, &mut out).await;
    assert!(ran.expect("the command runs"), "{args:?}");
    out
}

#[tokio::test]
async fn the_migration_tool_exports_and_imports_a_tenant_as_the_api_does() {
    let app = TestApp::spawn().await;
    shop(&app, "acme").await;

    let archive = tool(&app, &["tenant", "--tenant", "acme", "export"], b"").await;
    let report = tool(&app, &["tenant", "import", "--slug", "acme2"], &archive).await;

    let report = String::from_utf8(report).expect("text");
    assert!(report.starts_with("imported acme2 (tenant_"), "{report}");
    assert!(report.contains("3 products, 4 orders"), "{report}");
    let key =
        report.lines().find_map(|l| l.strip_prefix("api key (shown once): ")).expect("a key").to_owned();
    let list = |path: &str| app.client.get(app.url(path)).header("X-Tenant", "acme2").bearer_auth(&key);
    let products = app.send_raw(list("/products?limit=100")).await.body;
    let orders = app.send_raw(list("/orders?limit=100")).await.body;
    assert_eq!((products, orders), contents(&app, "acme").await);
    let audit = app.get("/audit?action=tenant.import", None).await.body;
    assert!(audit["items"][0]["actor"].as_str().is_some_and(|a| a.starts_with("cli:")), "{audit}");
    // The API reads what the tool wrote, and the other way round.
    assert_eq!(entries(&archive)[0].0, "manifest.json");
    let again = import(&app, "slug=acme3", archive).await;
    assert_eq!(again.status, 201, "{again:?}");
}

/// The archive rebuilt with `table`'s rows replaced by `data`, its manifest entry (rows, bytes,
/// SHA-256) recomputed to match: an archive whose checksums hold but whose content is bad.
fn with_table(archive: &[u8], table: &str, data: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    let rows = data.iter().filter(|b| **b == b'\n').count();
    let with_entry = with_manifest(archive, |manifest| {
        for entry in manifest["tables"].as_array_mut().expect("tables") {
            if entry["name"] == table {
                entry["rows"] = json!(rows);
                entry["bytes"] = json!(data.len());
                entry["sha256"] = json!(digest);
            }
        }
    });
    let file = format!("tables/{table}.copy");
    tar_of(entries(&with_entry).into_iter().map(|(path, old)| {
        let data = if path == file { data.to_vec() } else { old };
        (path, data)
    }))
}

/// Ids the sequence cannot continue after are the archive's fault: 400 naming the table, with
/// Postgres' own words and nothing of the client library's, and nothing left behind.
#[tokio::test]
async fn an_archive_with_ids_out_of_the_sequences_range_is_refused_not_a_500() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let archive = export(&app, "acme").await;
    let before = fleet(&app).await;

    for id in ["-7", "9223372036854775807"] {
        let row = format!("{id}\tWidget\t\\N\t1.00\t2026-12-02 02:10:47+00\n");
        let reply = import(&app, "slug=acme2", with_table(&archive, "products", row.as_bytes())).await;

        reply.assert_problem(400, "the archive's products rows do not load");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains("Execution Error") && !detail.contains(" at line "), "{detail}");
        assert_eq!(fleet(&app).await, before, "no registry row, no schema");
    }
}

/// An export of a tenant whose schema is gone is a 409 (as its usage is), and HEAD answers an
/// export's headers without taking one.
#[tokio::test]
async fn head_takes_no_export_and_a_missing_schema_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;

    let head =
        app.client.head(app.url("/tenants/acme/export")).bearer_auth(ADMIN_TOKEN).send().await.expect("HEAD");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/x-tar"));
    let exports = app.get("/audit?action=tenant.export", None).await.body;
    assert_eq!(exports["total"], 0, "HEAD took no export: {exports}");
    let ghost = app
        .client
        .head(app.url("/tenants/ghost/export"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(ghost.status(), 404);

    app.db.execute(&format!("DROP SCHEMA {} CASCADE", app.schema_of("acme"))).await;
    let reply = app.send(app.client.get(app.url("/tenants/acme/export")), None).await;
    reply.assert_problem(409, "schema");
}

/// A tar header of any length (a GNU long name, a pax record) is refused as an entry an export
/// never holds, before its data is read: not held in memory, echoed in the answer or written to
/// the audit log.
#[tokio::test]
async fn an_archive_with_a_huge_long_name_entry_is_refused_without_echoing_it() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let archive = export(&app, "acme").await;
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o644);
    let long = format!("{}/manifest.json", "a".repeat(4 << 20));
    builder.append_data(&mut header, &long, std::io::empty()).expect("a GNU long-name entry");
    let mut hostile = builder.into_inner().expect("tar");
    hostile.truncate(hostile.len() - 1024); // the end-of-archive blocks
    hostile.extend_from_slice(&archive);
    let before = fleet(&app).await;

    let reply = import(&app, "slug=acme2", hostile).await;

    reply.assert_problem(400, "tar type 'L'");
    let body = reply.body.to_string();
    assert!(body.len() < 2_000, "the answer holds {} bytes", body.len());
    assert_eq!(fleet(&app).await, before, "no registry row, no schema");
    let refused = app.get("/audit?action=tenant.import", None).await.body;
    assert!(
        refused.to_string().len() < 5_000,
        "the audit entry holds the name: {}",
        refused.to_string().len()
    );
}

/// An import is held to the target tenant's row quotas as its creates are: an archive with more
/// products than the tenant may hold is a 409 naming the quota, and nothing is loaded.
#[tokio::test]
async fn an_archive_over_the_tenants_quota_is_refused() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    for name in ["Widget", "Gadget"] {
        let created = app.post("/products", Some("acme"), &json!({"name": name, "price": "1.00"})).await;
        assert_eq!(created.status, 201, "{created:?}");
    }
    let archive = export(&app, "acme").await;
    app.create_tenant("spare").await;
    let limited = app.patch("/tenants/spare", None, &json!({"limits": {"max_products": 1}})).await;
    assert_eq!(limited.status, 200, "{limited:?}");

    let reply = import(&app, "into=spare", archive.clone()).await;

    reply.assert_problem(409, "max_products is 1");
    assert_eq!(app.get("/products", Some("spare")).await.body["total"], 0, "nothing was loaded");
    let roomy = app.patch("/tenants/spare", None, &json!({"limits": {"max_products": 2}})).await;
    assert_eq!(roomy.status, 200, "{roomy:?}");
    assert_eq!(import(&app, "into=spare", archive).await.status, 200, "exactly at the quota is within it");
}

#[tokio::test]
async fn import_is_not_a_tenant_slug() {
    let app = TestApp::spawn().await;
    let reply = app.post("/tenants", None, &json!({"slug": "import", "name": "Import"})).await;
    reply.assert_problem(400, "names a route");
}

/// Rows an archive carries are held to the API's own rules, and a table its version has cannot
/// be left out: each a 400, nothing left behind.
#[tokio::test]
async fn an_archive_breaking_the_apis_rules_or_missing_a_table_is_refused() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let archive = export(&app, "acme").await;
    let before = fleet(&app).await;
    let long_name = "x".repeat(300);
    let rows = [
        (format!("1\t{long_name}\t\\N\t1.00\t2026-12-02 02:10:47+00\n"), "at most 200 characters"),
        ("1\tWidget\t\\N\t12.345\t2026-12-02 02:10:47+00\n".to_owned(), "more than two decimal places"),
        ("1\t   \t\\N\t1.00\t2026-12-02 02:10:47+00\n".to_owned(), "must not be blank"),
        // Postgres takes these, but no created row holds them, and `infinity` cannot be read back.
        ("1\tWidget\t\\N\t1.00\tinfinity\n".to_owned(), "created_at \"infinity\" is not a time"),
        ("1\tWidget\t\\N\t1.00\t-infinity\n".to_owned(), "created_at \"-infinity\" is not a time"),
        ("1\tWidget\t\\N\t1.00\tyesterday\n".to_owned(), "created_at \"yesterday\" is not a time"),
    ];
    for (row, needle) in rows {
        let reply = import(&app, "slug=acme2", with_table(&archive, "products", row.as_bytes())).await;
        reply.assert_problem(400, needle);
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("products row 1 (id 1) breaks a rule of the API")),
            "{reply:?}"
        );
    }

    // A last row without its newline is not a row an export writes: refused, not dropped.
    let fragment = b"1\tWidget\t\\N\t1.00\t2026-12-02 02:10:47+00";
    let reply = import(&app, "slug=acme2", with_table(&archive, "products", fragment)).await;
    reply.assert_problem(400, "ends inside a row");

    let without_orders = with_manifest(&archive, |manifest| {
        manifest["tables"].as_array_mut().expect("tables").retain(|t| t["name"] != "orders");
    });
    let archive = tar_of(entries(&without_orders).into_iter().filter(|(p, _)| p != "tables/orders.copy"));
    let reply = import(&app, "slug=acme2", archive).await;
    reply.assert_problem(400, "has [\"products\", \"orders\"]");
    assert_eq!(fleet(&app).await, before, "no registry row, no schema");
}
