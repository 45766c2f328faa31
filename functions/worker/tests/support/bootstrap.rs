//! A Lambda function's `bootstrap` run as a process against the Lambda Runtime API emulator
//! (`dynsync_emulators::lambda_runtime`), as Lambda runs it: a cleared environment holding
//! only what Lambda sets (`AWS_LAMBDA_RUNTIME_API`, the function's name, memory and
//! version, region and credentials; `AWS_ENDPOINT_URL` points the SDK at moto) and the
//! function's `Environment.Variables` read from template.yaml (its `Globals` and the
//! function's own, `!Ref StateTable`/`!Ref PageQueue` replaced by the test's table and
//! queue). Output is captured and shown when an invocation does not end.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dynsync_emulators::lambda_runtime::{InvocationResult, LambdaRuntimeEmulator};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Longest wait for one invocation (a page with its retries takes seconds here).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The AWS variables of the test's environment a Lambda container also has.
const AWS_VARIABLES: [&str; 6] = [
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_DISABLED",
];

/// `Environment.Variables` template.yaml gives `function` (`WorkerFunction`,
/// `DispatcherFunction`): the `Globals` ones, then the function's own.
pub fn template_environment(
    function: &str,
    table: &str,
    queue_url: &str,
) -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let template = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    let globals_at = lines.iter().position(|l| *l == "Globals:").unwrap();
    let globals_end = lines[globals_at + 1..]
        .iter()
        .position(|l| !l.is_empty() && !l.starts_with(' ') && !l.starts_with('#'))
        .map_or(lines.len(), |n| globals_at + 1 + n);
    let header = format!("  {function}:");
    let function_at = lines
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("template.yaml has no resource {function}"));
    let function_end = lines[function_at + 1..]
        .iter()
        .position(|l| {
            l.len() > 2
                && l.starts_with("  ")
                && !l[2..].starts_with(' ')
                && !l[2..].starts_with('#')
        })
        .map_or(lines.len(), |n| function_at + 1 + n);
    let mut variables = BTreeMap::new();
    let blocks = [
        &lines[globals_at..globals_end],
        &lines[function_at..function_end],
    ];
    for line in blocks.into_iter().flatten() {
        let Some((name, value)) = line.trim().split_once(": ") else {
            continue;
        };
        if !name.starts_with("DYNSYNC_") {
            continue;
        }
        let value = match value.trim() {
            "!Ref StateTable" => table.to_owned(),
            "!Ref PageQueue" => queue_url.to_owned(),
            quoted if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') => {
                quoted[1..quoted.len() - 1].to_owned()
            }
            other => panic!("template.yaml sets {name} to {other}, which this test cannot resolve"),
        };
        variables.insert(name.to_owned(), value);
    }
    assert!(
        variables.contains_key("DYNSYNC_TABLE") && variables.contains_key("DYNSYNC_QUEUE_URL"),
        "template.yaml gives {function} {variables:?}"
    );
    variables
}

/// A running bootstrap and the runtime API it polls.
pub struct Bootstrap {
    pub runtime: LambdaRuntimeEmulator,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Bootstrap {
    /// Starts `binary` (a `CARGO_BIN_EXE_*` path) as Lambda function `function` with
    /// `variables` as its configuration.
    pub async fn spawn(binary: &str, function: &str, variables: &BTreeMap<String, String>) -> Self {
        let runtime = LambdaRuntimeEmulator::start().await.unwrap();
        Self::spawn_on(runtime, binary, function, variables)
    }

    /// [`Bootstrap::spawn`] against a runtime API already holding invocations.
    pub fn spawn_on(
        runtime: LambdaRuntimeEmulator,
        binary: &str,
        function: &str,
        variables: &BTreeMap<String, String>,
    ) -> Self {
        let mut command = Command::new(binary);
        command.env_clear();
        for name in AWS_VARIABLES {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", runtime.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]test")
            .env("_HANDLER", "bootstrap")
            .envs(variables)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take(), &output);
        collect(child.stderr.take(), &output);
        Self {
            runtime,
            child,
            output,
        }
    }

    /// One invocation with Lambda's `deadline`; its result. Panics, showing the process's
    /// output, when the process exits first or the invocation does not end.
    pub async fn invoke(&mut self, event: Value, deadline: SystemTime) -> InvocationResult {
        let invocation = self.runtime.invoke(event, deadline);
        tokio::select! {
            result = invocation.result() => result.expect("the runtime API emulator stopped"),
            status = self.child.wait() => {
                panic!("the bootstrap exited ({status:?}) during an invocation:\n{}", self.output())
            }
            () = tokio::time::sleep(INVOCATION_TIMEOUT) => {
                panic!("the invocation did not end within {INVOCATION_TIMEOUT:?}:\n{}", self.output())
            }
        }
    }

    /// One invocation with a 300 s deadline (the template's `Timeout`) that must return a
    /// response; the response.
    pub async fn respond(&mut self, event: Value) -> Value {
        let deadline = SystemTime::now() + Duration::from_secs(300);
        match self.invoke(event, deadline).await {
            InvocationResult::Response(response) => response,
            InvocationResult::Error(error) => {
                panic!("the invocation failed: {error}\n{}", self.output())
            }
        }
    }

    /// Waits (up to 30 s) for the process to exit; its status.
    pub async fn exited(&mut self) -> ExitStatus {
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("the bootstrap did not exit:\n{}", self.output()),
        }
    }

    /// Everything the process wrote so far (stdout and stderr, interleaved by line).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

fn collect(stream: Option<impl AsyncRead + Unpin + Send + 'static>, into: &Arc<Mutex<String>>) {
    let Some(stream) = stream else { return };
    let into = Arc::clone(into);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
}
