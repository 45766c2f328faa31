//! The port contract suite against the engine's in-memory adapters
//! (`dynsync_engine::memory`), each check on a fresh instance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use dynsync_contract::Fut;
use dynsync_domain::ports::MemberSets;
use dynsync_domain::ports::{PageQueue, SecretStore, StateStore};
use dynsync_engine::memory::{MemoryMemberSets, MemoryQueue, MemorySecretStore, MemoryStateStore};

fn make_state_store() -> Fut<Arc<dyn StateStore>> {
    Box::pin(async { Arc::new(MemoryStateStore::default()) as _ })
}

fn make_queue(visibility_timeout: Duration) -> Fut<Arc<dyn PageQueue>> {
    Box::pin(async move { Arc::new(MemoryQueue::new(visibility_timeout)) as _ })
}

fn make_secret_store() -> Fut<Arc<dyn SecretStore>> {
    Box::pin(async { Arc::new(MemorySecretStore::new()) as _ })
}

dynsync_contract::state_store_tests!(make_state_store);
dynsync_contract::queue_tests!(make_queue);
dynsync_contract::secret_store_tests!(make_secret_store);

fn make_member_sets() -> Fut<Arc<dyn MemberSets>> {
    Box::pin(async { Arc::new(MemoryMemberSets::new()) as _ })
}

dynsync_contract::member_sets_tests!(make_member_sets);
