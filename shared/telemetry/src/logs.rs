//! Tracing set-up. On Lambda, the runtime's initializer: it reads Lambda's advanced logging
//! controls (`AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line,
//! `AWS_LAMBDA_LOG_LEVEL` the level, else `RUST_LOG`, else INFO), so the template's
//! `LoggingConfig` is what decides. On the CLI, readable lines on stderr, leaving stdout to
//! results (`--json` prints exactly one document there).

use tracing_subscriber::EnvFilter;

use crate::TelemetryError;

/// Logging for a Lambda function: call once at cold start, before anything logs.
#[cfg(feature = "lambda")]
pub fn init_lambda() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Readable logs on stderr for the CLI. `RUST_LOG` wins when set; otherwise `default_level`
/// (`warn`, `info`, `debug`…) applies to every crate.
pub fn init_cli(default_level: &str) -> Result<(), TelemetryError> {
    let filter = cli_filter(std::env::var("RUST_LOG").ok().as_deref(), default_level)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInitialised(e.to_string()))
}

fn cli_filter(rust_log: Option<&str>, default_level: &str) -> Result<EnvFilter, TelemetryError> {
    let filter = match rust_log {
        Some(value) if !value.trim().is_empty() => value,
        _ => default_level,
    };
    EnvFilter::builder()
        .parse(filter)
        .map_err(|source| TelemetryError::Filter {
            filter: filter.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_overrides_the_default_level() {
        let filter = cli_filter(Some("debug"), "warn").map(|f| f.to_string());
        assert_eq!(filter.ok().as_deref(), Some("debug"));
    }

    #[test]
    fn an_empty_rust_log_falls_back_to_the_default_level() {
        let filter = cli_filter(Some("  "), "warn").map(|f| f.to_string());
        assert_eq!(filter.ok().as_deref(), Some("warn"));
    }

    #[test]
    fn an_unparsable_filter_is_a_permanent_error_naming_it() {
        let Err(error) = cli_filter(Some("=debug=="), "info") else {
            panic!("the filter parsed");
        };
        assert!(error.to_string().contains("=debug=="), "{error}");
        assert_eq!(error.kind(), dynsync_domain::ErrorKind::Permanent);
    }
}
