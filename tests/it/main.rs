//! velo's integration tests: one binary, one module per area.

mod common;

mod add_remove;
mod brew_install;
mod brew_download;
mod exec_env;
mod forge;
mod help;
mod hostile;
mod hostile_velo;
mod http_index;
mod lock;
mod manifest_errors;
mod remote;
mod restore;
mod run;
mod schema;
mod serve;
mod shell;
mod sync;
mod tree_outdated;
mod trust;
mod turbo;
