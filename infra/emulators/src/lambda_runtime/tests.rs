#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn url(emulator: &LambdaRuntimeEmulator, path: &str) -> String {
    format!(
        "http://{}/2018-06-01/runtime/{path}",
        emulator.runtime_api()
    )
}

#[tokio::test]
async fn next_hands_out_the_event_with_its_headers_and_the_response_ends_it() {
    let emulator = LambdaRuntimeEmulator::start().await.unwrap();
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(1_900_000_000_123);
    let invocation = emulator.invoke(json!({"hello": 1}), deadline);
    let client = reqwest::Client::new();
    let next = client
        .get(url(&emulator, "invocation/next"))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let header = |name: &str| {
        next.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("Lambda-Runtime-Aws-Request-Id"),
        invocation.request_id
    );
    assert_eq!(header("Lambda-Runtime-Deadline-Ms"), "1900000000123");
    assert_eq!(header("Lambda-Runtime-Invoked-Function-Arn"), FUNCTION_ARN);
    assert!(header("Lambda-Runtime-Trace-Id").starts_with("Root=1-"));
    let id = invocation.request_id.clone();
    assert_eq!(next.json::<Value>().await.unwrap(), json!({"hello": 1}));

    let unknown = client
        .post(url(&emulator, "invocation/not-in-flight/response"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let done = client
        .post(url(&emulator, &format!("invocation/{id}/response")))
        .body(r#"{"ok":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    assert_eq!(
        invocation.result().await,
        Some(InvocationResult::Response(json!({"ok": true})))
    );
    let again = client
        .post(url(&emulator, &format!("invocation/{id}/response")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "an invocation ends once");
}

#[tokio::test]
async fn an_error_ends_the_invocation_and_an_init_error_ends_every_waiting_one() {
    let emulator = LambdaRuntimeEmulator::start().await.unwrap();
    let client = reqwest::Client::new();
    let first = emulator.invoke(json!(1), SystemTime::now() + Duration::from_secs(60));
    let next = client
        .get(url(&emulator, "invocation/next"))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let failed = client
        .post(url(
            &emulator,
            &format!("invocation/{}/error", first.request_id),
        ))
        .header("Lambda-Runtime-Function-Error-Type", "Unhandled")
        .body(r#"{"errorType":"Boom","errorMessage":"it broke"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 202);
    let error = first.result().await.unwrap();
    assert_eq!(
        error.error(),
        Some(
            &json!({"errorType":"Boom","errorMessage":"it broke","functionErrorType":"Unhandled"})
        )
    );

    let waiting = emulator.invoke(json!(2), SystemTime::now() + Duration::from_secs(60));
    assert_eq!(emulator.init_error(), None);
    let init = client
        .post(url(&emulator, "init/error"))
        .body(r#"{"errorType":"Config","errorMessage":"DYNSYNC_TABLE is not set"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 202);
    let expected = json!({"errorType":"Config","errorMessage":"DYNSYNC_TABLE is not set"});
    assert_eq!(emulator.init_error(), Some(expected.clone()));
    assert_eq!(
        waiting.result().await,
        Some(InvocationResult::Error(expected.clone()))
    );
    let later = emulator.invoke(json!(3), SystemTime::now());
    assert_eq!(
        later.result().await,
        Some(InvocationResult::Error(expected))
    );
}
