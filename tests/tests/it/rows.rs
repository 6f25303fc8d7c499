//! The hot tables' rows are read by column position (`tenantry_service::rows`), positions
//! found by name once per result set. Checked against SeaORM's own by-name reading of the same
//! rows: columns in another order, extra columns, a missing column, a value of the wrong type.

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};
use tenantry_service::db::{Db, PoolOptions, connect};
use tenantry_service::entity::{order, product};
use tenantry_service::rows::ReadRows;
use tenantry_service::{SchemaName, TenantScope};
use tenantry_tests::TestDb;

/// A tenant schema `tenant_rr` with a products and an orders table shaped as the migrations
/// shape them, two rows each (one product without a description).
async fn two_of_each(test_db: &TestDb) -> (Db, TenantScope) {
    test_db
        .execute(
            "CREATE SCHEMA tenant_rr;
             CREATE TABLE tenant_rr.products (id bigint, name text, description text,
                 price numeric(12,2), created_at timestamptz);
             INSERT INTO tenant_rr.products VALUES
                 (1, 'Anvil', NULL, 12.50, '2026-01-02 03:04:05+00'),
                 (2, 'Bell', 'rings', 0.99, '2026-02-03 04:05:06.789+00');
             CREATE TABLE tenant_rr.orders (id bigint, product_id bigint, quantity int,
                 total_price numeric(12,2), order_date timestamptz);
             INSERT INTO tenant_rr.orders VALUES
                 (7, 1, 3, 37.50, '2026-03-04 05:06:07+00'),
                 (8, 2, 1, 0.99, '2026-04-05 06:07:08+00');",
        )
        .await;
    let db = connect(test_db.url(), &PoolOptions::default()).await.expect("pool");
    (db, TenantScope::new(SchemaName::parse("tenant_rr").expect("a schema name")))
}

async fn rows(db: &Db, scope: &TenantScope, sql: &str) -> Vec<QueryResult> {
    let statement = Statement::from_string(DbBackend::Postgres, sql);
    db.run(scope, async |work| Ok(work.query_all_raw(statement.clone()).await?)).await.expect("rows")
}

/// What `M::read_rows` reads, beside what SeaORM's by-name reading reads from the same rows.
fn both<M: ReadRows>(rows: &[QueryResult]) -> (Result<Vec<M>, String>, Result<Vec<M>, String>) {
    let by_position = M::read_rows(rows).map_err(|e| e.to_string());
    let by_name = rows.iter().map(|row| M::from_query_result(row, "")).collect::<Result<Vec<_>, _>>();
    (by_position, by_name.map_err(|e| e.to_string()))
}

#[tokio::test]
async fn columns_in_any_order_and_extra_ones_read_as_seaorm_reads_them_by_name() {
    let test_db = TestDb::new().await;
    let (db, scope) = two_of_each(&test_db).await;

    let in_order = rows(&db, &scope, "SELECT * FROM tenant_rr.products ORDER BY id").await;
    let (by_position, by_name) = both::<product::Model>(&in_order);
    let products = by_position.expect("read by position");
    assert_eq!(Ok(&products), by_name.as_ref());
    assert_eq!(products.len(), 2);
    assert_eq!(
        (products[0].description.as_deref(), products[1].description.as_deref()),
        (None, Some("rings"))
    );
    assert_eq!(products[1].price.to_string(), "0.99");

    let shuffled = rows(
        &db,
        &scope,
        "SELECT 42 AS extra, created_at, price, description, name, id, count(*) OVER () AS _page_total
         FROM tenant_rr.products ORDER BY id",
    )
    .await;
    let (by_position, by_name) = both::<product::Model>(&shuffled);
    assert_eq!(by_position.as_ref(), Ok(&products), "each field from its own column");
    assert_eq!(by_name.as_ref(), Ok(&products));

    let orders = rows(
        &db,
        &scope,
        "SELECT order_date, total_price, quantity, product_id, id FROM tenant_rr.orders ORDER BY id",
    )
    .await;
    let (by_position, by_name) = both::<order::Model>(&orders);
    let orders = by_position.expect("read by position");
    assert_eq!(Ok(&orders), by_name.as_ref());
    assert_eq!(
        orders
            .iter()
            .map(|o| (o.id, o.product_id, o.quantity, o.total_price.to_string()))
            .collect::<Vec<_>>(),
        [(7, 1, 3, "37.50".to_owned()), (8, 2, 1, "0.99".to_owned())]
    );
}

#[tokio::test]
async fn a_missing_column_or_a_value_of_another_type_is_an_error_as_by_name() {
    let test_db = TestDb::new().await;
    let (db, scope) = two_of_each(&test_db).await;

    // Without `price`, by-name reading fails; reading falls back to it and fails the same way.
    let missing = rows(&db, &scope, "SELECT id, name, description, created_at FROM tenant_rr.products").await;
    let (by_position, by_name) = both::<product::Model>(&missing);
    assert!(by_name.is_err(), "{by_name:?}");
    assert_eq!(by_position, by_name);

    // `id` as text: every column is there, so this is the by-position path, and it must refuse.
    let mistyped = rows(
        &db,
        &scope,
        "SELECT id::text AS id, name, description, price, created_at FROM tenant_rr.products",
    )
    .await;
    let (by_position, by_name) = both::<product::Model>(&mistyped);
    assert!(by_name.is_err(), "{by_name:?}");
    let error = by_position.expect_err("a text id is refused");
    assert!(error.contains("id") || error.contains("mismatched"), "{error}");

    // A column of the wrong type whose first value is NULL: the type is checked on the first
    // row all the same (the later rows are decoded unchecked, and four bytes of an int would
    // decode as a string).
    let null_first = rows(
        &db,
        &scope,
        "SELECT id, name, CASE WHEN id = 1 THEN NULL ELSE 5 END AS description, price, created_at
         FROM tenant_rr.products ORDER BY id",
    )
    .await;
    let (by_position, by_name) = both::<product::Model>(&null_first);
    assert!(by_name.is_err(), "{by_name:?}");
    let error = by_position.expect_err("an int description is refused");
    assert!(error.contains("description") && error.contains("mismatched"), "{error}");

    // No rows: nothing to read, whichever way.
    let none = rows(&db, &scope, "SELECT * FROM tenant_rr.products WHERE false").await;
    assert_eq!(both::<product::Model>(&none), (Ok(vec![]), Ok(vec![])));
}

/// `NUMERIC` values are decoded by `Numeric` exactly as sqlx decodes them into `Decimal`: the
/// same value, the same scale, and an error where sqlx errs.
#[tokio::test]
async fn numerics_decode_exactly_as_sqlx_decodes_them() {
    use rust_decimal::Decimal;
    use sea_orm::sqlx::Row as _;
    use tenantry_service::rows::Numeric;

    let test_db = TestDb::new().await;
    let (db, scope) = two_of_each(&test_db).await;
    // Chosen edges, then 3,000 random values over 0 to 14 places and 1 to 27 digits.
    let sql = "SELECT v FROM (VALUES ('19.99'::numeric), ('0.00'), ('-0.5'), ('10000'), ('1e-28'),
                   ('0.0012'), ('123456789012345678901234567.8'), ('79228162514264337593543950335'),
                   ('-79228162514264337593543950335'), ('79228162514264337593543950336'),
                   ('0.1234567890123456789012345678901'), ('1e30'), ('NaN'), ('Infinity'),
                   ('12.3400'), ('100000000'), ('0.00000001')) AS t(v)
               UNION ALL
               SELECT round(((random() - 0.5) * 10 ^ (random() * 27))::numeric, (i % 15)::int)
               FROM generate_series(1, 3000) AS i";
    let rows = rows(&db, &scope, sql).await;
    assert_eq!(rows.len(), 3017);
    let mut fast = 0;
    for row in &rows {
        let row = row.try_as_pg_row().expect("a Postgres row");
        let theirs = row.try_get::<Decimal, _>(0).map(|d| (d.to_string(), d.scale()));
        let ours = row.try_get::<Numeric, _>(0).map(|Numeric(d)| (d.to_string(), d.scale()));
        match (&theirs, &ours) {
            (Ok(theirs), Ok(ours)) => {
                assert_eq!(ours, theirs);
                fast += 1;
            }
            (Err(_), Err(_)) => {}
            _ => panic!("sqlx: {theirs:?}, ours: {ours:?}"),
        }
    }
    assert!(fast > 3000, "{fast} values decoded");
}
