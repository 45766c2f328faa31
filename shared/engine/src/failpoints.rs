//! Test-only failpoints on the page path (the `fail` crate), compiled in only with the
//! `failpoints` feature, which only test builds turn on (the engine's own tests and the
//! CLI's kill tests, through their dev-dependencies); product builds have none. A test
//! configures a point with `fail::cfg`, or a test process through `FAILPOINTS` in its
//! environment (read by [`setup_from_env`]). Configured `return`, a point fails the page
//! with a transient error, as a lost connection to the state store would; `return(kill)`
//! aborts the process on the spot, as `kill -9` would.
//!
//! Points: `page.after_fetch` (fetched and fixed, next task not queued), `page.after_next`
//! (next task queued, nothing sent), `page.after_batch` (after each answered batch is
//! recorded), `page.after_complete` (page completed, execution not finished).

/// What a configured failpoint does (`arg` is the action's argument).
#[cfg(feature = "failpoints")]
pub(crate) fn hit<T, E: From<crate::EngineError>>(name: &str, arg: Option<String>) -> Result<T, E> {
    if arg.as_deref() == Some("kill") {
        eprintln!("failpoint {name}: killing the process");
        std::process::abort();
    }
    Err(E::from(crate::EngineError::State(
        dynsync_domain::ports::PortError::transient(format!("failpoint {name}")),
    )))
}

/// Fails the enclosing function (returning `Result<_, E>` with `E: From<EngineError>`:
/// `EngineError`, or the page path's `Halt`) when the failpoint
/// `$name` is configured; nothing without the `failpoints` feature.
#[cfg(feature = "failpoints")]
macro_rules! failpoint {
    ($name:literal) => {
        fail::fail_point!($name, |arg| $crate::failpoints::hit($name, arg))
    };
}
#[cfg(not(feature = "failpoints"))]
macro_rules! failpoint {
    ($name:literal) => {};
}
pub(crate) use failpoint;

/// Keeps the failpoints configured from `FAILPOINTS` while it lives.
pub struct Failpoints {
    #[cfg(feature = "failpoints")]
    _scenario: fail::FailScenario<'static>,
}

/// Configures the failpoints named in `FAILPOINTS` (a binary calls it at start-up); does
/// nothing, and reads nothing, without the `failpoints` feature.
pub fn setup_from_env() -> Failpoints {
    Failpoints {
        #[cfg(feature = "failpoints")]
        _scenario: fail::FailScenario::setup(),
    }
}
