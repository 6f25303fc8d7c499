//! Loading: defaults, then `$APP_CONFIG_DIR/$APP_ENV.toml`, then environment variables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, ConfigError, Environment, File, FileFormat};
use derive_more::{Display, Error};

use crate::{DEFAULT_DATABASE_URL, DatabaseUrl, Settings};

/// The origin the `config` crate gives values from environment variables.
const ENV_ORIGIN: &str = "the environment";

/// The environment whose file is read when `APP_ENV` is unset.
const DEFAULT_ENV: &str = "local";

/// Why settings could not be loaded. Each message names the key, variable or path at fault.
#[derive(Debug, Display, Error)]
pub enum SettingsError {
    /// A setting is missing, malformed or out of range (the message names its key, and the
    /// file it came from when it came from one).
    #[display("{}", describe(_0))]
    Invalid(ConfigError),
    /// An environment variable that is not a setting's (`APP_CONFIG_DIR`, `APP_ENV`,
    /// `DATABASE_URL`) has a value that cannot be used.
    #[display("invalid {name}: {why}")]
    Variable {
        /// The variable.
        #[error(not(source))]
        name: &'static str,
        /// What is wrong with its value.
        #[error(not(source))]
        why: String,
    },
}

/// `invalid setting database.url (from the environment): not a URL ...`: the key first.
fn describe(error: &ConfigError) -> String {
    match error {
        ConfigError::At { error, origin, key: Some(key) } => {
            let from = origin.as_deref().map(|o| format!(" (from {o})")).unwrap_or_default();
            format!("invalid setting {key}{from}: {error}")
        }
        ConfigError::Type { origin, unexpected, expected, key: Some(key) } => {
            let from = origin.as_deref().map(|o| format!(" (from {o})")).unwrap_or_default();
            format!("invalid setting {key}{from}: {unexpected}, expected {expected}")
        }
        other => format!("invalid settings: {other}"),
    }
}

impl From<ConfigError> for SettingsError {
    fn from(e: ConfigError) -> Self {
        Self::Invalid(e)
    }
}

/// Settings as loaded, with what deserves a warning: loading logs nothing itself, so the caller
/// (a binary, once its logger is up) logs [`Loaded::warnings`].
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// Things that look like mistakes but do not stop start-up, e.g. an `APP_ENV` whose file
    /// does not exist.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Loads settings from this process's environment (and the file it points at).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Loads settings as if `vars` were the whole environment.
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, SettingsError> {
        let mut warnings = Vec::new();
        let mut builder = defaults()?;
        let file = settings_file(&vars, &mut warnings)?;
        if let Some(file) = &file {
            builder = builder.add_source(File::from(file.clone()).format(FileFormat::Toml).required(true));
        }
        let app_vars: HashMap<String, String> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("APP__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(app_vars.into_iter().collect())),
        );
        if let Some(url) = vars.get("DATABASE_URL") {
            // Checked here so the message names the variable that was set, not `database.url`.
            DatabaseUrl::parse(url)
                .map_err(|e| SettingsError::Variable { name: "DATABASE_URL", why: e.to_string() })?;
            builder = builder.set_override("database.url", url.as_str())?;
        }
        let file = file.as_deref();
        let config = builder.build().map_err(|e| full_path(e, file))?;
        let settings =
            config.clone().try_deserialize().map_err(|e| full_path(with_origin(e, &config), file))?;
        Ok(Self { settings, warnings })
    }
}

impl Settings {
    /// Loads settings from this process's environment, dropping any warnings: a binary uses
    /// [`Loaded::from_env`] instead, to log them.
    pub fn load() -> Result<Self, SettingsError> {
        Loaded::from_env().map(|loaded| loaded.settings)
    }

    /// Loads settings as if `vars` were the whole environment, dropping any warnings.
    pub fn load_from(vars: HashMap<String, String>) -> Result<Self, SettingsError> {
        Loaded::from_vars(vars).map(|loaded| loaded.settings)
    }
}

/// Adds where a refused value came from (the file, or the environment) when the `config`
/// crate left it out, as it does for values our own parsers refuse and for unknown keys.
fn with_origin(error: ConfigError, config: &Config) -> ConfigError {
    let ConfigError::At { error, origin: None, key: Some(key) } = error else {
        return error;
    };
    // serde names an unknown key as "unknown field `name`, expected ..." at its parent's key.
    let message = error.to_string();
    let unknown =
        message.strip_prefix("unknown field `").and_then(|rest| rest.split_once('`')).map(|(name, _)| name);
    let path = match unknown {
        Some(name) => format!("{key}.{name}"),
        None => key.clone(),
    };
    // Through the parent table: `get::<Value>` would deserialize the value, origin lost.
    let origin = path
        .rsplit_once('.')
        .and_then(|(parent, leaf)| config.get_table(parent).ok()?.get(leaf)?.origin().map(str::to_owned));
    ConfigError::At { error, origin, key: Some(key) }
}

/// Names the settings file by its full path: the `config` crate shortens it relative to the
/// working directory, which says nothing to whoever reads the message elsewhere.
fn full_path(error: ConfigError, file: Option<&Path>) -> ConfigError {
    let Some(file) = file.map(|f| f.display().to_string()) else {
        return error;
    };
    let from_file = |origin: Option<String>| origin.map(|o| if o == ENV_ORIGIN { o } else { file.clone() });
    match error {
        ConfigError::At { error, origin, key } => ConfigError::At { error, origin: from_file(origin), key },
        ConfigError::Type { origin, unexpected, expected, key } => {
            ConfigError::Type { origin: from_file(origin), unexpected, expected, key }
        }
        ConfigError::FileParse { cause, uri } => ConfigError::FileParse { cause, uri: from_file(uri) },
        other => other,
    }
}

/// Every setting's default, so that no file and no variable is needed on a development
/// machine. (`auth.admin_token` has none: without one the server makes one per start.)
pub(crate) fn defaults() -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    Config::builder()
        .set_default("server.host", "127.0.0.1")?
        .set_default("server.port", 8080)?
        .set_default("server.workers", 0)?
        .set_default("server.shutdown_timeout_secs", 30)?
        .set_default("database.url", DEFAULT_DATABASE_URL)?
        .set_default("database.max_connections", 10)?
        .set_default("database.acquire_timeout_secs", 5)?
        .set_default("database.statement_timeout_ms", 5000)?
        .set_default("database.pooler_mode", "none")?
        .set_default("database.statement_cache_capacity", 2000)?
        .set_default("database.max_lifetime_secs", 1800)?
        .set_default("database.home_wait_ms", 1000)?
        .set_default("tenancy.header", "X-Tenant")?
        .set_default("tenancy.cache_ttl_secs", 30)?
        .set_default("limits.requests_per_second", "unlimited")?
        .set_default("limits.max_concurrent_requests", "unlimited")?
        .set_default("limits.max_products", "unlimited")?
        .set_default("limits.max_orders", "unlimited")
}

/// The settings file to read, if any. A set `APP_CONFIG_DIR` must be an existing absolute
/// directory (a relative one would depend on the working directory); a missing
/// `$APP_ENV.toml` in it, or an `APP_ENV` without `APP_CONFIG_DIR`, is only a warning, since
/// defaults and variables may be all a deployment needs.
fn settings_file(
    vars: &HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, SettingsError> {
    let env_name = vars.get("APP_ENV").map_or(DEFAULT_ENV, String::as_str);
    let env_ok =
        !env_name.is_empty() && env_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !env_ok {
        return Err(SettingsError::Variable {
            name: "APP_ENV",
            why: format!("{env_name:?} is not an environment name (letters, digits, '-' and '_')"),
        });
    }
    let Some(dir) = vars.get("APP_CONFIG_DIR") else {
        if vars.contains_key("APP_ENV") {
            warnings.push(format!(
                "APP_ENV={env_name} is set but APP_CONFIG_DIR is not, so no settings file is read"
            ));
        }
        return Ok(None);
    };
    let dir_error =
        |why: String| SettingsError::Variable { name: "APP_CONFIG_DIR", why: format!("{dir:?} {why}") };
    let path = Path::new(dir);
    if !path.is_absolute() {
        return Err(dir_error(
            "is not an absolute path (a relative one would depend on the working directory)".into(),
        ));
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(dir_error("is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(dir_error("does not exist".into())),
        Err(e) => return Err(dir_error(format!("cannot be read: {e}"))),
    }
    let file = path.join(format!("{env_name}.toml"));
    if !file.is_file() {
        warnings.push(format!(
            "no settings file {} (APP_CONFIG_DIR={dir}, APP_ENV={env_name}); using defaults and \
             environment variables only",
            file.display()
        ));
        return Ok(None);
    }
    Ok(Some(file))
}
