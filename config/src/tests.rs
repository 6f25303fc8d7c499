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
    assert_eq!(settings.server.shutdown_timeout_secs, 30);
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
