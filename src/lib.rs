//! velo: a declarative per-project environment manager with lockfiles.
//!
//! A map of the crate, leaves first, and the on-disk things each module owns:
//!
//! | module | owns |
//! |---|---|
//! | [`platform`], [`version`], [`suggest`], [`env_vars`], [`fs`], [`signals`] | shared leaves |
//! | [`manifest`] | `velo.json`: types, loading with line/column errors, in-place edits |
//! | [`lock`] | `velo.lock`: types, canonical writer, staleness |
//! | [`resolve`] | PubGrub resolution and conflict reports; knows no network |
//! | [`cache`], [`http`] | the user cache directory; the retrying HTTP client |
//! | [`sources`] | package sources (the velo index) implementing [`resolve::PackageSource`] |
//! | [`store`] | the content-addressed store: verified downloads, safe extraction, link-or-copy |
//! | [`install`] | the project's `.velo/`: Cellar, generations of `bin/` and `opt/`, state |
//! | [`shell`] | activation hooks for bash, zsh and fish (`templates/hook.*`) and their stamps; `trust.json` in the config dir (projects the hook may activate) |
//! | [`config`] | the user's `config.toml` |
//! | [`run`] | `velo run`: workspaces, the task graph, task keys, the local task cache (`tasks-v1/`), the remote cache client |
//! | [`protocol`] | the remote cache's wire format and object envelope, shared by client and server |
//! | `server` | `velo serve` (cargo feature `server`, on by default): routes, tokens, storage drivers |
//! | [`ops`] | what commands do, as library functions |
//! | [`cli`] | argument parsing and all printing |

pub mod cache;
pub mod cli;
pub mod config;
pub mod env_vars;
pub mod error;
pub mod escape;
pub mod fs;
pub mod http;
pub mod install;
pub mod lock;
pub mod manifest;
pub mod ops;
pub mod platform;
pub mod protocol;
pub mod resolve;
pub mod run;
#[cfg(feature = "server")]
pub mod server;
pub mod settings;
pub mod shell;
pub mod signals;
pub mod sources;
pub mod store;
pub mod suggest;
pub mod version;

pub use error::Error;
