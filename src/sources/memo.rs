//! Each package fetched once, however many callers (the resolver, prefetches) ask at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::resolve::PackageMeta;

type Cell<E> = Arc<OnceCell<Result<Arc<PackageMeta>, Arc<E>>>>;

pub struct Memo<E> {
    cells: Mutex<HashMap<String, Cell<E>>>,
}

impl<E> Default for Memo<E> {
    fn default() -> Self {
        Self {
            cells: Mutex::default(),
        }
    }
}

impl<E> Memo<E> {
    fn cell(&self, name: &str) -> Cell<E> {
        let mut cells = self.cells.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cells.entry(name.to_string()).or_default().clone()
    }

    /// Whether `name` has already been fetched (successfully or not).
    pub fn is_done(&self, name: &str) -> bool {
        self.cell(name).initialized()
    }

    /// `name`'s metadata: the first caller runs `fetch`, the others wait for its result.
    pub async fn get<F, Fut>(&self, name: &str, fetch: F) -> Result<Arc<PackageMeta>, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<PackageMeta, E>>,
    {
        let cell = self.cell(name);
        cell.get_or_init(|| async { fetch().await.map(Arc::new).map_err(Arc::new) })
            .await
            .clone()
    }
}
