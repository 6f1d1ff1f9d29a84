//! The formulae JSON API: fetching, verifying (JWS, PS512), caching with ETag revalidation, and
//! looking a formula up by name, alias or old name without parsing the whole catalogue.

use std::sync::Arc;

/// One formula's record as the API serves it.
#[derive(Debug, Clone)]
pub struct FormulaRecord {
    /// The canonical name (`python@3.13` when asked for `python`).
    pub name: String,
    /// The record's JSON, exactly as in the catalogue.
    pub json: Arc<str>,
}
