//! The environment a project's tools run in: `.velo/bin` first on `PATH`, then the manifest's
//! `env`. Shared by `velo exec`, `velo env` and shell activation.

use std::collections::BTreeMap;
use std::path::Path;

use crate::manifest::{EnvValue, Manifest};

/// Variables to set, computed against `current` (the environment velo was started with).
/// `PATH`-like list values are prepended to what the variable holds now.
pub fn project_env(
    root: &Path,
    manifest: &Manifest,
    current: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let bin = crate::ops::sync::bin_dir(root);
    env_layer(root, &manifest.env, current, Some(&bin))
}

/// The variables `env` (from the `velo.json` in `dir`) sets over `current`, with `bin` first on
/// `PATH` when given.
pub fn env_layer(
    dir: &Path,
    env: &BTreeMap<String, EnvValue>,
    current: &BTreeMap<String, String>,
    bin: Option<&Path>,
) -> BTreeMap<String, String> {
    let root = dir;
    let separator = if cfg!(windows) { ";" } else { ":" };
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut path_front: Vec<String> = bin.iter().map(|b| b.to_string_lossy().into_owned()).collect();
    for (name, value) in env {
        match value {
            EnvValue::Value(text) => {
                vars.insert(name.clone(), expand(text, current));
            }
            EnvValue::Paths(paths) => {
                let resolved: Vec<String> = paths
                    .iter()
                    .map(|p| {
                        crate::fs::normalize(&root.join(expand(p, current)))
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                if name == "PATH" {
                    path_front.extend(resolved);
                } else {
                    let mut parts = resolved;
                    parts.extend(current.get(name).filter(|v| !v.is_empty()).cloned());
                    vars.insert(name.clone(), parts.join(separator));
                }
            }
        }
    }
    // Entries already on PATH (a nested shell inherits them) move to the front, not twice.
    let mut path = path_front;
    if let Some(existing) = current.get("PATH") {
        let rest: Vec<&str> = existing
            .split(separator)
            .filter(|entry| !entry.is_empty() && !path.iter().any(|p| p == entry))
            .collect();
        path.extend(rest.into_iter().map(str::to_string));
    }
    vars.insert("PATH".to_string(), path.join(separator));
    vars
}

/// Replace `${NAME}` with the variable's current value (empty when unset).
pub fn expand(text: &str, current: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        let name = &rest[start + 2..start + end];
        out.push_str(current.get(name).map_or("", String::as_str));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The current process environment as a sorted map (variables that are not UTF-8 are skipped).
pub fn current_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_prepends() {
        let manifest = Manifest::from_str(
            r#"{"env": {"RUST_LOG": "info", "GREETING": "hi ${USER}", "PATH": ["./scripts"], "PYTHONPATH": ["lib"]}}"#,
            Path::new("velo.json"),
        )
        .unwrap();
        let current: BTreeMap<String, String> =
            [("PATH", "/usr/bin"), ("USER", "ada"), ("PYTHONPATH", "/site")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
        let env = project_env(Path::new("/p"), &manifest, &current);
        assert_eq!(env["PATH"], "/p/.velo/bin:/p/scripts:/usr/bin");
        assert_eq!(env["GREETING"], "hi ada");
        assert_eq!(env["PYTHONPATH"], "/p/lib:/site");
        let nested: BTreeMap<String, String> = [("PATH".to_string(), env["PATH"].clone())].into();
        assert_eq!(
            project_env(Path::new("/p"), &manifest, &nested)["PATH"],
            env["PATH"]
        );
        assert_eq!(env["RUST_LOG"], "info");
    }
}
