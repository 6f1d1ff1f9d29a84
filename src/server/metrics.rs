//! `/metrics`: the server's counters in the Prometheus text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

pub struct Metrics {
    registry: Registry,
    /// Downloads asked for and found, by API (`velo`, `turbo`).
    pub hits: Family<Labels, Counter>,
    pub misses: Family<Labels, Counter>,
    /// Upload URLs handed out (`velo`) or uploads received (`turbo`, local driver).
    pub uploads: Family<Labels, Counter>,
    /// Uploads of a key that already existed, kept as it was.
    pub skipped: Family<Labels, Counter>,
    /// Artifact bytes, by direction and by who carried them: `server` (the local driver and
    /// the Turborepo API stream them) or `presigned` (sizes of objects clients fetch from
    /// storage directly, as far as storage reported them).
    pub bytes: Family<Labels, Counter>,
    pub negotiation_seconds: Histogram,
    pub negotiated_items: Counter,
    /// Error responses and storage failures, by kind.
    pub errors: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("velo_cache");
        let hits = Family::default();
        let misses = Family::default();
        let uploads = Family::default();
        let skipped = Family::default();
        let bytes = Family::default();
        let errors = Family::default();
        // 100 µs to about 13 s.
        let negotiation_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        let negotiated_items = Counter::default();
        registry.register("hits", "Downloads asked for and found", hits.clone());
        registry.register("misses", "Downloads asked for and not found", misses.clone());
        registry.register(
            "uploads",
            "Uploads accepted (URLs handed out or bodies stored)",
            uploads.clone(),
        );
        registry.register(
            "upload_skipped",
            "Uploads of keys that already existed",
            skipped.clone(),
        );
        registry.register(
            "artifact_bytes",
            "Artifact bytes moved, by direction and carrier",
            bytes.clone(),
        );
        registry.register(
            "negotiation_duration_seconds",
            "Time to answer one negotiation",
            negotiation_seconds.clone(),
        );
        registry.register(
            "negotiated_items",
            "Items in all negotiations",
            negotiated_items.clone(),
        );
        registry.register("errors", "Errors by kind", errors.clone());
        Self {
            registry,
            hits,
            misses,
            uploads,
            skipped,
            bytes,
            negotiation_seconds,
            negotiated_items,
            errors,
        }
    }

    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&vec![("kind", kind)]).inc();
    }

    pub fn count(family: &Family<Labels, Counter>, api: &'static str, n: u64) {
        family.get_or_create(&vec![("api", api)]).inc_by(n);
    }

    pub fn add_bytes(&self, direction: &'static str, carrier: &'static str, n: u64) {
        self.bytes
            .get_or_create(&vec![("direction", direction), ("carrier", carrier)])
            .inc_by(n);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
