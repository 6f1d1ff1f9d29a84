//! The operations commands perform, as library functions: they return what happened and leave
//! printing to `cli`.

pub mod cache;
pub mod env;
pub mod info;
pub mod lock;
pub mod sync;
