//! velo's integration tests: one binary, one module per area.

mod common;

mod add_remove;
mod help;
mod http_index;
mod lock;
mod manifest_errors;
mod schema;
mod tree_outdated;
