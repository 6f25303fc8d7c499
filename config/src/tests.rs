use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn defaults_work_on_a_development_machine() {
    let settings = Settings::load_from(HashMap::new()).expect("defaults load");
    assert_eq!(settings.server.host, "127.0.0.1");
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.server.shutdown_timeout, std::time::Duration::from_secs(30));
    assert_eq!(settings.database.url.expose_secret(), DEFAULT_DATABASE_URL);
    assert_eq!(settings.tenancy.header.as_str(), "X-Tenant");
}

#[test]
fn environment_variables_override_defaults() {
    let settings = Settings::load_from(vars(&[
        ("APP__SERVER__PORT", "9000"),
        ("APP__SERVER__HOST", "0.0.0.0"),
        ("APP__TENANCY__HEADER", "domain"),
        ("APP__DATABASE__MAX_CONNECTIONS", "3"),
    ]))
    .expect("loads");
    assert_eq!(settings.server.port, 9000);
    assert_eq!(settings.server.host, "0.0.0.0");
    assert_eq!(settings.tenancy.header.as_str(), "domain");
    assert_eq!(settings.database.max_connections, 3);
}

#[test]
fn database_url_wins_over_the_app_variable() {
    let settings = Settings::load_from(vars(&[
        ("APP__DATABASE__URL", "postgres://a@h/one"),
        ("DATABASE_URL", "postgres://b@h/two"),
    ]))
    .expect("loads");
    assert_eq!(settings.database.url.expose_secret(), "postgres://b@h/two");
}

#[test]
fn a_bad_value_fails_naming_its_key() {
    let err = Settings::load_from(vars(&[("APP__SERVER__PORT", "eighty")])).expect_err("refused");
    assert!(err.to_string().contains("port"), "{err}");
    let err = Settings::load_from(vars(&[("APP__TENANCY__HEADER", "X Tenant")])).expect_err("refused");
    assert!(err.to_string().contains("header"), "{err}");
}

#[test]
fn an_environment_file_sits_between_defaults_and_variables() {
    let dir = std::env::temp_dir().join(format!("tenantry-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("staging.toml"), "[server]\nport = 7000\nhost = \"10.0.0.1\"\n").expect("write");
    let dir_str = dir.to_string_lossy().into_owned();
    let settings = Settings::load_from(vars(&[
        ("APP_CONFIG_DIR", &dir_str),
        ("APP_ENV", "staging"),
        ("APP__SERVER__HOST", "127.0.0.2"),
    ]))
    .expect("loads");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(settings.server.port, 7000);
    assert_eq!(settings.server.host, "127.0.0.2");
}

#[test]
fn the_database_url_never_shows_in_debug_output() {
    let settings =
        Settings::load_from(vars(&[("DATABASE_URL", "postgres://u:hunter2@h/db")])).expect("loads");
    assert!(!format!("{settings:?}").contains("hunter2"));
}

#[test]
fn the_admin_token_is_optional_checked_and_never_shown() {
    assert!(Settings::load_from(HashMap::new()).expect("loads").auth.admin_token.is_none());
    let token = "t".repeat(40);
    let settings = Settings::load_from(vars(&[("APP__AUTH__ADMIN_TOKEN", &token)])).expect("loads");
    assert_eq!(settings.auth.admin_token.as_ref().map(AdminToken::expose), Some(token.as_str()));
    assert!(!format!("{settings:?}").contains(&token));
    let err = Settings::load_from(vars(&[("APP__AUTH__ADMIN_TOKEN", "short")])).expect_err("too short");
    assert!(err.to_string().contains("admin_token"), "{err}");
}

#[test]
fn the_pooler_mode_is_none_unless_set_and_refuses_unknown_modes() {
    assert_eq!(Settings::load_from(HashMap::new()).expect("loads").database.pooler_mode, PoolerMode::None);
    let settings =
        Settings::load_from(vars(&[("APP__DATABASE__POOLER_MODE", "transaction")])).expect("loads");
    assert_eq!(settings.database.pooler_mode, PoolerMode::Transaction);
    let err = Settings::load_from(vars(&[("APP__DATABASE__POOLER_MODE", "statement")])).expect_err("refused");
    assert!(err.to_string().contains("pooler_mode"), "{err}");
}

/// A fresh, empty directory for one test (absolute: `APP_CONFIG_DIR` must be).
fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantry-config-{test}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Loads with `APP_CONFIG_DIR` at a fresh directory holding `staging.toml` = `toml`.
fn load_file(test: &str, toml: &str) -> Result<Loaded, SettingsError> {
    let dir = temp_dir(test);
    std::fs::write(dir.join("staging.toml"), toml).expect("write");
    let dir_str = dir.to_string_lossy().into_owned();
    let loaded = Loaded::from_vars(vars(&[("APP_CONFIG_DIR", &dir_str), ("APP_ENV", "staging")]));
    std::fs::remove_dir_all(&dir).ok();
    loaded
}

#[test]
fn a_malformed_database_url_is_refused_naming_its_key_and_why() {
    let err = Settings::load_from(vars(&[("APP__DATABASE__URL", "notaurl")])).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("database.url") && message.contains("not a URL"), "{message}");
    assert!(message.contains("postgres://USER"), "says what is expected: {message}");

    let err = Settings::load_from(vars(&[("DATABASE_URL", "notaurl")])).expect_err("refused");
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
}

#[test]
fn a_database_url_of_another_scheme_or_without_host_or_database_is_refused() {
    for (url, why) in [
        ("mysql://u:hunter2@h/db", "scheme"),
        ("postgres://u:hunter2@h:5432", "no database"),
        ("postgres:///db", "no host"),
    ] {
        let err = Settings::load_from(vars(&[("APP__DATABASE__URL", url)])).expect_err(url);
        let message = err.to_string();
        assert!(message.contains("database.url") && message.contains(why), "{url}: {message}");
        assert!(!message.contains("hunter2"), "the password leaked: {message}");
    }
}

#[test]
fn the_database_url_describes_itself_without_its_password() {
    let url = DatabaseUrl::parse("postgres://app:hunter2@db.internal:6432/tenantry?sslmode=require")
        .expect("valid");
    assert_eq!(
        (url.host(), url.port(), url.database(), url.user()),
        ("db.internal", 6432, "tenantry", "app")
    );
    assert_eq!(url.to_string(), "database tenantry on db.internal:6432 as app");
    assert!(!format!("{url:?}").contains("hunter2"));
    let socket = DatabaseUrl::parse("postgres:///tenantry?host=/run/postgresql").expect("a Unix socket");
    assert_eq!((socket.host(), socket.port()), ("/run/postgresql", 5432));
}

#[test]
fn a_loopback_url_without_sslmode_connects_without_tls() {
    for (url, expected) in [
        ("postgres://u@127.0.0.1:5432/t", "postgres://u@127.0.0.1:5432/t?sslmode=disable"),
        (
            "postgres://u@localhost/t?application_name=x",
            "postgres://u@localhost/t?application_name=x&sslmode=disable",
        ),
        ("postgres://u@[::1]:5432/t", "postgres://u@[::1]:5432/t?sslmode=disable"),
    ] {
        assert_eq!(DatabaseUrl::parse(url).expect(url).expose(), expected);
    }
}

#[test]
fn a_remote_url_or_an_explicit_sslmode_is_kept_as_written() {
    for url in [
        "postgres://u@db.internal:5432/t",
        "postgres://u@10.0.0.5/t",
        "postgres://u@127.0.0.1/t?sslmode=require",
        "postgres:///t?host=/run/postgresql",
    ] {
        assert_eq!(DatabaseUrl::parse(url).expect(url).expose(), url);
    }
}

#[test]
fn an_unknown_pooler_mode_is_refused_listing_the_valid_ones() {
    let err = Settings::load_from(vars(&[("APP__DATABASE__POOLER_MODE", "session")])).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("pooler_mode") && message.contains("\"session\""), "{message}");
    assert!(message.contains("\"none\"") && message.contains("\"transaction\""), "{message}");
}

#[test]
fn zero_connections_timeouts_or_lifetimes_are_refused_naming_the_key() {
    for key in ["max_connections", "acquire_timeout_secs", "statement_timeout_ms", "max_lifetime_secs"] {
        let err = load_file(key, &format!("[database]\n{key} = 0\n")).expect_err(key);
        let message = err.to_string();
        assert!(message.contains(&format!("database.{key}")), "{message}");
        assert!(message.contains("at least 1") && message.contains("staging.toml"), "{message}");
    }
    let var = "APP__DATABASE__MAX_CONNECTIONS";
    let err = Settings::load_from(vars(&[(var, "0")])).expect_err("refused from the environment too");
    assert!(err.to_string().contains("database.max_connections"), "{err}");
}

#[test]
fn a_statement_cache_of_zero_is_refused_saying_why() {
    let err = Settings::load_from(vars(&[("APP__DATABASE__STATEMENT_CACHE_CAPACITY", "0")])).expect_err("0");
    let message = err.to_string();
    assert!(message.contains("statement_cache_capacity") && message.contains("leaks"), "{message}");
}

#[test]
fn a_config_dir_that_does_not_exist_is_refused_naming_it() {
    let missing = std::env::temp_dir().join("tenantry-config-no-such-dir");
    let missing = missing.to_string_lossy().into_owned();
    let err = Settings::load_from(vars(&[("APP_CONFIG_DIR", &missing)])).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("APP_CONFIG_DIR") && message.contains(&missing), "{message}");
    assert!(message.contains("does not exist"), "{message}");

    let err = Settings::load_from(vars(&[("APP_CONFIG_DIR", "config")])).expect_err("relative");
    assert!(err.to_string().contains("not an absolute path"), "{err}");
}

#[test]
fn an_env_without_its_file_is_a_warning_naming_the_path() {
    let dir = temp_dir("no-file");
    let dir_str = dir.to_string_lossy().into_owned();
    let loaded =
        Loaded::from_vars(vars(&[("APP_CONFIG_DIR", &dir_str), ("APP_ENV", "prod")])).expect("loads");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains(&format!("{}", dir.join("prod.toml").display())),
        "{:?}",
        loaded.warnings
    );

    let loaded = Loaded::from_vars(vars(&[("APP_ENV", "prod")])).expect("loads");
    assert!(loaded.warnings[0].contains("APP_CONFIG_DIR is not"), "{:?}", loaded.warnings);
    assert!(Loaded::from_vars(HashMap::new()).expect("loads").warnings.is_empty());
}

#[test]
fn an_env_name_that_is_not_a_plain_file_name_is_refused() {
    let dir = temp_dir("traversal").to_string_lossy().into_owned();
    let err =
        Settings::load_from(vars(&[("APP_CONFIG_DIR", &dir), ("APP_ENV", "../etc/x")])).expect_err("refused");
    assert!(err.to_string().contains("APP_ENV"), "{err}");
}

#[test]
fn an_unknown_key_in_the_file_is_refused_naming_the_file() {
    let err = load_file("unknown-key", "[database]\nmax_conections = 3\n").expect_err("typo");
    let message = err.to_string();
    assert!(message.contains("max_conections") && message.contains("staging.toml"), "{message}");
}

/// The settings file shown in the README, between its `settings-example` markers.
fn readme_example() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("<!-- settings-example:start -->").expect("start marker");
    let end = readme.find("<!-- settings-example:end -->").expect("end marker");
    let block = &readme[start..end];
    let body = block.split_once("```toml\n").expect("a toml block").1;
    body.rsplit_once("```").expect("a closed block").0.to_owned()
}

/// Every key path in a configuration tree, e.g. `database.url`.
fn keys(table: config::Map<String, config::Value>, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        match value.clone().into_table() {
            Ok(inner) => out.extend(keys(inner, &format!("{path}."))),
            Err(_) => out.push(path),
        }
    }
    out
}

#[test]
fn the_readme_example_loads_and_spells_out_every_setting() {
    let example = readme_example();

    let loaded = load_file("readme", &example).expect("the README's example loads");

    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let example_tree = config::Config::builder()
        .add_source(config::File::from_str(&example, config::FileFormat::Toml))
        .build()
        .expect("parses");
    let in_example = keys(example_tree.try_deserialize().expect("a table"), "");
    let defaults = crate::load::defaults().expect("defaults").build().expect("builds");
    for key in keys(defaults.try_deserialize().expect("a table"), "") {
        assert!(in_example.contains(&key), "the README's example lacks {key}");
    }
}

#[test]
fn limits_default_to_unlimited_and_take_numbers_or_unlimited() {
    let defaults = Settings::load_from(HashMap::new()).expect("defaults load").limits;
    assert_eq!(defaults.requests_per_second, Limit::UNLIMITED);
    assert_eq!(defaults.burst, None);
    assert_eq!(defaults.max_concurrent_requests, Limit::UNLIMITED);
    assert_eq!((defaults.max_products, defaults.max_orders), (Limit::UNLIMITED, Limit::UNLIMITED));

    let set = Settings::load_from(vars(&[
        ("APP__LIMITS__REQUESTS_PER_SECOND", "50"),
        ("APP__LIMITS__BURST", "100"),
        ("APP__LIMITS__MAX_CONCURRENT_REQUESTS", "8"),
        ("APP__LIMITS__MAX_PRODUCTS", "0"),
        ("APP__LIMITS__MAX_ORDERS", "unlimited"),
    ]))
    .expect("loads")
    .limits;
    assert_eq!(set.requests_per_second.get(), Some(50));
    assert_eq!(set.burst, Some(100));
    assert_eq!(set.max_concurrent_requests.get(), Some(8));
    assert_eq!(set.max_products.get(), Some(0), "a quota of 0 allows no rows");
    assert_eq!(set.max_orders, Limit::UNLIMITED);
}

#[test]
fn a_limit_out_of_range_or_not_a_number_is_refused_naming_its_key() {
    for (key, value) in [
        ("APP__LIMITS__REQUESTS_PER_SECOND", "0"),
        ("APP__LIMITS__REQUESTS_PER_SECOND", "-5"),
        ("APP__LIMITS__REQUESTS_PER_SECOND", "1000001"),
        ("APP__LIMITS__REQUESTS_PER_SECOND", "lots"),
        ("APP__LIMITS__BURST", "unlimited"),
        ("APP__LIMITS__MAX_CONCURRENT_REQUESTS", "0"),
        ("APP__LIMITS__MAX_PRODUCTS", "-1"),
        ("APP__LIMITS__MAX_ORDERS", "1.5"),
    ] {
        let err = Settings::load_from(vars(&[(key, value)])).expect_err("refused");
        let field = key.trim_start_matches("APP__LIMITS__").to_lowercase();
        let message = err.to_string();
        assert!(message.contains(&format!("limits.{field}")), "{key}={value}: {message}");
    }
}

/// Every setting that is a count or a duration in whole units, by its key under its table.
const COUNTS: &[(&str, &str)] = &[
    ("server", "port"),
    ("server", "workers"),
    ("server", "shutdown_timeout_secs"),
    ("database", "max_connections"),
    ("database", "acquire_timeout_secs"),
    ("database", "statement_timeout_ms"),
    ("database", "statement_cache_capacity"),
    ("database", "tenant_shards"),
    ("database", "max_lifetime_secs"),
    ("database", "home_wait_ms"),
    ("tenancy", "cache_ttl_secs"),
    ("metrics", "top_tenants"),
    ("transfer", "max_archive_bytes"),
];

#[test]
fn a_count_written_as_a_fraction_an_exponent_or_past_its_type_is_refused_naming_the_key() {
    for (table, key) in COUNTS {
        let var = format!("APP__{}__{}", table.to_uppercase(), key.to_uppercase());
        // The config crate reads each as a float, or as text when it is no number at all, and
        // would round, scale or cut it into an integer.
        for bad in ["1.5", "600.9", "1e3", "99999999999999999999", "-1", "12abc"] {
            let err = Settings::load_from(vars(&[(&var, bad)])).expect_err(&format!("{var}={bad}"));
            let message = err.to_string();
            assert!(message.contains(&format!("{table}.{key}")), "{var}={bad}: {message}");
            assert!(message.contains("whole number"), "{var}={bad}: {message}");
        }
        let err = load_file(key, &format!("[{table}]\n{key} = 2.5\n")).expect_err(key);
        assert!(err.to_string().contains("whole number"), "{key} = 2.5: {err}");
        // A whole number is taken.
        Settings::load_from(vars(&[(&var, "7")])).expect(&var);
    }
    let err = Settings::load_from(vars(&[("APP__SERVER__PORT", "65536")])).expect_err("past u16");
    assert!(err.to_string().contains("from 0 to 65535"), "{err}");
    let settings =
        Settings::load_from(vars(&[("APP__DATABASE__HOME_WAIT_MS", "1500"), ("APP__SERVER__PORT", "8081")]))
            .expect("whole numbers");
    assert_eq!(settings.database.home_wait, std::time::Duration::from_millis(1500));
    assert_eq!(settings.server.port, 8081);
    let settings =
        Settings::load_from(vars(&[("APP__DATABASE__TENANT_SHARDS", "3")])).expect("a number of shards");
    assert_eq!(settings.database.tenant_shards, Some(3));
    assert_eq!(Settings::load_from(vars(&[])).expect("defaults").database.tenant_shards, None);
}

#[test]
fn counts_and_durations_past_what_can_run_are_refused_naming_the_key_and_the_bound() {
    for (var, key, bad, bound) in [
        ("APP__DATABASE__MAX_CONNECTIONS", "database.max_connections", "10001", "10000"),
        ("APP__SERVER__WORKERS", "server.workers", "513", "512"),
        ("APP__DATABASE__STATEMENT_TIMEOUT_MS", "database.statement_timeout_ms", "2147483648", "2147483647"),
        ("APP__DATABASE__ACQUIRE_TIMEOUT_SECS", "database.acquire_timeout_secs", "31536001", "31536000"),
        ("APP__DATABASE__MAX_LIFETIME_SECS", "database.max_lifetime_secs", "31536001", "31536000"),
        ("APP__DATABASE__HOME_WAIT_MS", "database.home_wait_ms", "31536000001", "31536000000"),
        ("APP__TENANCY__CACHE_TTL_SECS", "tenancy.cache_ttl_secs", "9223372036854775807", "31536000"),
        ("APP__SERVER__SHUTDOWN_TIMEOUT_SECS", "server.shutdown_timeout_secs", "31536001", "31536000"),
        (
            "APP__TRANSFER__MAX_ARCHIVE_BYTES",
            "transfer.max_archive_bytes",
            "18446744073709551615",
            "9223372036854775807",
        ),
    ] {
        let err = Settings::load_from(vars(&[(var, bad)])).expect_err(&format!("{var}={bad}"));
        let message = err.to_string();
        assert!(message.contains(key) && message.contains(&format!("to {bound}")), "{var}={bad}: {message}");
        let settings = Settings::load_from(vars(&[(var, bound)]));
        assert!(settings.is_ok(), "{var}={bound}: {:?}", settings.err());
    }
}
