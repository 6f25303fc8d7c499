//! Hostile schema names given to the real `migration` binary are refused, saying why, before
//! they can reach SQL: the database's schemas are the same afterwards.

use std::process::Command;

use tenantry_tests::TestDb;

#[tokio::test]
async fn hostile_schema_names_are_refused_by_the_binary_and_change_no_schema() {
    let db = TestDb::new().await;
    let before = db.schemas().await;
    let too_long = "a".repeat(64);
    // A NUL cannot be passed as a command-line argument at all; the parser's unit tests cover it.
    let hostile = [
        "",
        "public",
        "pg_catalog",
        "information_schema",
        "tenantry",
        "Tenant_a",
        "a\"; DROP SCHEMA public; --",
        "a b",
        "a;b",
        "a--",
        "a/*",
        "tenant-a",
        "ténant",
        "1abc",
        "_abc",
        too_long.as_str(),
    ];

    for name in hostile {
        let output = Command::new(env!("CARGO_BIN_EXE_migration"))
            .args(["--database-url", db.url(), "tenant", "--schema", name, "up"])
            .env_remove("DATABASE_URL")
            .output()
            .expect("the migration binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name:?} was accepted: {stderr}");
        assert!(stderr.contains("schema name"), "{name:?}: the refusal names the problem: {stderr}");
    }

    assert_eq!(db.schemas().await, before, "no schema appeared or disappeared");
}
