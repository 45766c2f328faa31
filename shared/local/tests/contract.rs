//! The port contract suite against the local adapters: the SQLite state store and queue
//! (each check on a fresh state folder under cargo's test temp dir) and the env/file
//! secret store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dynsync_contract::Fut;
use dynsync_domain::ports::MemberSets;
use dynsync_domain::ports::{PageQueue, SecretStore, StateStore};
use dynsync_local::{LocalSecretStore, SqliteMemberSets, SqliteQueue, SqliteStateStore};

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dynsync-local-contract")
        .join(uuid::Uuid::new_v4().simple().to_string())
}

fn make_state_store() -> Fut<Arc<dyn StateStore>> {
    Box::pin(async { Arc::new(SqliteStateStore::open(&state_dir()).unwrap()) as _ })
}

fn make_queue(visibility_timeout: Duration) -> Fut<Arc<dyn PageQueue>> {
    Box::pin(async move {
        let queue = SqliteQueue::open(&state_dir())
            .unwrap()
            .with_visibility_timeout(visibility_timeout)
            .with_poll_interval(Duration::from_millis(20));
        Arc::new(queue) as _
    })
}

fn make_secret_store() -> Fut<Arc<dyn SecretStore>> {
    Box::pin(async { Arc::new(LocalSecretStore::new(&state_dir())) as _ })
}

dynsync_contract::state_store_tests!(make_state_store);
dynsync_contract::queue_tests!(make_queue);
dynsync_contract::secret_store_tests!(make_secret_store);

fn make_member_sets() -> Fut<Arc<dyn MemberSets>> {
    Box::pin(async { Arc::new(SqliteMemberSets::open(&state_dir()).unwrap()) as _ })
}

dynsync_contract::member_sets_tests!(make_member_sets);
