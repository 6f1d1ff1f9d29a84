//! Mach-O relocation: install names, rpaths and ad-hoc re-signing.
