//! Homebrew core as a package source: formula records from Homebrew's JSON API, bottles from
//! its OCI registry (ghcr.io), chosen per platform and recorded in the lock.

pub mod api;
