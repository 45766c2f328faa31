//! The typed configuration of the engine on AWS ([`AwsConfig`]): read once from the
//! environment that template.yaml sets for the two functions, or built from the CLI's flags
//! ([`AwsConfig::new`]). Every missing or invalid setting is reported in one error, each
//! naming its variable, so a broken deployment is fixed in one go. A setting that is not set
//! takes its one default: the engine's ([`EngineConfig::default`]) or this module's
//! [`DEFAULT_TIME_RESERVE`].
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `DYNSYNC_TABLE` | the state table | required |
//! | `DYNSYNC_QUEUE_URL` | the page queue | required |
//! | `DYNSYNC_STALL_AFTER_MINUTES` | a running execution with no page completed for this long is failed | `EngineConfig::default().stall_after` (template.yaml sets 60) |
//! | `DYNSYNC_TIME_RESERVE_SECONDS` | the worker starts no page with less time left | [`DEFAULT_TIME_RESERVE`] (90) |
//! | `AWS_LAMBDA_FUNCTION_NAME` | set by Lambda; the metrics' `Function` dimension | the function's role |

use std::time::Duration;

use dynsync_domain::ErrorKind;
use dynsync_engine::EngineConfig;

/// The worker starts no page with less than this left of its invocation.
pub const DEFAULT_TIME_RESERVE: Duration = Duration::from_secs(90);

/// Where the engine's state, queue and secrets live on AWS, and how it times its work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// The DynamoDB state table.
    pub table: String,
    /// The SQS page queue.
    pub queue_url: String,
    /// Put before every secret name read from Secrets Manager. `None` for the deployed
    /// functions and the CLI: definitions name their secrets in full, and IAM limits them to
    /// the stack's `SecretsPrefix`.
    pub secret_prefix: Option<String>,
    pub engine: EngineConfig,
    /// The worker starts no page with less than this left of its invocation.
    pub time_reserve: Duration,
    /// The deployed function's name (the `Function` dimension of the metrics).
    pub function_name: String,
}

/// The settings that are missing or invalid, all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the function is misconfigured: {}; set them in template.yaml (Environment.Variables)", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

impl AwsConfig {
    /// The engine over `table` and `queue_url` with every other setting at its default;
    /// `function_name` names the caller in metrics.
    pub fn new(table: String, queue_url: String, function_name: &str) -> Self {
        Self {
            table,
            queue_url,
            secret_prefix: None,
            engine: EngineConfig::default(),
            time_reserve: DEFAULT_TIME_RESERVE,
            function_name: function_name.to_owned(),
        }
    }

    /// Reads the process environment; `role` (`dispatcher`, `worker`) names the function
    /// when Lambda's `AWS_LAMBDA_FUNCTION_NAME` is absent (local runs).
    pub fn from_env(role: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(role, |name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a table in tests).
    pub fn from_lookup(
        role: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut required = |name: &str| match lookup(name).map(|v| v.trim().to_owned()) {
            Some(value) if !value.is_empty() => value,
            _ => {
                problems.push(format!("{name} is not set"));
                String::new()
            }
        };
        let table = required("DYNSYNC_TABLE");
        let queue_url = required("DYNSYNC_QUEUE_URL");
        let defaults = EngineConfig::default();
        let mut number = |name: &str, default: u64| match lookup(name) {
            None => default,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(value) if value > 0 => value,
                _ => {
                    problems.push(format!(
                        "{name} must be a positive whole number, not '{text}'"
                    ));
                    default
                }
            },
        };
        let stall_minutes = number(
            "DYNSYNC_STALL_AFTER_MINUTES",
            defaults.stall_after.as_secs() / 60,
        );
        let reserve_seconds = number(
            "DYNSYNC_TIME_RESERVE_SECONDS",
            DEFAULT_TIME_RESERVE.as_secs(),
        );
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let engine = EngineConfig {
            stall_after: Duration::from_secs(stall_minutes.saturating_mul(60)),
            ..defaults
        };
        Ok(Self {
            table,
            queue_url,
            secret_prefix: None,
            engine,
            time_reserve: Duration::from_secs(reserve_seconds),
            function_name: lookup("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| role.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<AwsConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AwsConfig::from_lookup("worker", |name| vars.get(name).cloned())
    }

    #[test]
    fn every_missing_setting_is_reported_together() {
        let error = read(&[("DYNSYNC_TIME_RESERVE_SECONDS", "soon")]).unwrap_err();
        assert_eq!(
            error.problems,
            [
                "DYNSYNC_TABLE is not set",
                "DYNSYNC_QUEUE_URL is not set",
                "DYNSYNC_TIME_RESERVE_SECONDS must be a positive whole number, not 'soon'",
            ]
        );
        assert!(error.to_string().contains("template.yaml"));
    }

    #[test]
    fn the_defaults_apply_when_only_the_resources_are_set() {
        let config = read(&[
            ("DYNSYNC_TABLE", "dynsync-StateTable"),
            (
                "DYNSYNC_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/q",
            ),
        ])
        .unwrap();
        assert_eq!(config.table, "dynsync-StateTable");
        assert_eq!(config.engine, EngineConfig::default());
        assert_eq!(config.time_reserve, DEFAULT_TIME_RESERVE);
        assert_eq!(config.secret_prefix, None);
        assert_eq!(config.function_name, "worker");
    }

    #[test]
    fn the_cli_s_configuration_has_the_same_defaults_as_the_functions() {
        let read = read(&[("DYNSYNC_TABLE", "t"), ("DYNSYNC_QUEUE_URL", "q")]).unwrap();
        assert_eq!(AwsConfig::new("t".into(), "q".into(), "worker"), read);
    }

    #[test]
    fn lambda_s_function_name_becomes_the_metrics_function() {
        let config = read(&[
            ("DYNSYNC_TABLE", "t"),
            ("DYNSYNC_QUEUE_URL", "q"),
            ("DYNSYNC_STALL_AFTER_MINUTES", "45"),
            ("AWS_LAMBDA_FUNCTION_NAME", "prod-WorkerFunction-AbC"),
        ])
        .unwrap();
        assert_eq!(config.function_name, "prod-WorkerFunction-AbC");
        assert_eq!(config.engine.stall_after, Duration::from_secs(45 * 60));
    }
}
