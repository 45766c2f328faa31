//! Secret store checks. `make` returns a store that can write (the local file store, the
//! in-memory one, Secrets Manager); names are unique per check.

use std::sync::Arc;

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{Secret, SecretError, SecretStore};

use crate::Fut;
use crate::fixtures::unique;

/// Builds a secret store for one check.
pub trait MakeSecretStore: Fn() -> Fut<Arc<dyn SecretStore>> {}
impl<F: Fn() -> Fut<Arc<dyn SecretStore>>> MakeSecretStore for F {}

pub async fn a_stored_secret_reads_back_and_can_be_replaced(make: &impl MakeSecretStore) {
    let store = make().await;
    let name = format!("dynsync/{}", unique("contract"));
    store.put(&name, &Secret::new("first value")).await.unwrap();
    assert_eq!(store.get(&name).await.unwrap().expose(), "first value");
    // A rotated refresh token: long, with characters that need care in JSON.
    let rotated = format!("0.AX{}\"\\/+=", "x".repeat(1500));
    store
        .put(&name, &Secret::new(rotated.clone()))
        .await
        .unwrap();
    assert_eq!(store.get(&name).await.unwrap().expose(), rotated);
}

pub async fn a_missing_secret_is_not_found_and_permanent(make: &impl MakeSecretStore) {
    let store = make().await;
    let name = format!("dynsync/{}", unique("missing"));
    let error = store.get(&name).await.unwrap_err();
    assert!(
        matches!(&error, SecretError::NotFound { name: n, .. } if *n == name),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(
        error.to_string().contains(&name),
        "the error names the secret: {error}"
    );
}

pub async fn secret_values_stay_out_of_debug_output(make: &impl MakeSecretStore) {
    let store = make().await;
    let name = format!("dynsync/{}", unique("hidden"));
    store
        .put(&name, &Secret::new("hunter2-value"))
        .await
        .unwrap();
    let secret = store.get(&name).await.unwrap();
    assert!(!format!("{secret:?} {secret}").contains("hunter2"));
}
