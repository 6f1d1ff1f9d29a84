//! Pouring Homebrew bottles: relocating a keg from Homebrew's placeholders and default prefix
//! to the project's, on Linux (ELF) and macOS (Mach-O).

pub mod macho;
