//! Build velo indexes for tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The platforms a project targets by default.
pub const DEFAULT_PLATFORMS: [&str; 4] = ["linux-aarch64", "linux-x86_64", "macos-aarch64", "macos-x86_64"];

pub struct IndexBuilder {
    pub dir: PathBuf,
    packages: BTreeMap<String, Value>,
}

impl IndexBuilder {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            packages: BTreeMap::new(),
        }
    }

    /// Add `name` `version` with these dependencies and an artifact for every default platform.
    pub fn add(&mut self, name: &str, version: &str, dependencies: &[(&str, &str)]) -> &mut Self {
        self.add_for(name, version, dependencies, &DEFAULT_PLATFORMS)
    }

    /// Add `name` `version` with artifacts only for `platforms`.
    pub fn add_for(
        &mut self,
        name: &str,
        version: &str,
        dependencies: &[(&str, &str)],
        platforms: &[&str],
    ) -> &mut Self {
        let artifacts: serde_json::Map<String, Value> = platforms
            .iter()
            .map(|platform| {
                let file = format!("{name}-{version}-{platform}.tar.gz");
                let digest = hex::encode(Sha256::digest(file.as_bytes()));
                let artifact = json!({
                    "url": format!("../artifacts/{file}"),
                    "sha256": digest,
                    "size": 1000 + file.len(),
                    "strip_components": 1,
                    "bin": { name: format!("bin/{name}") }
                });
                (platform.to_string(), artifact)
            })
            .collect();
        let dependencies: serde_json::Map<String, Value> = dependencies
            .iter()
            .map(|(dep, req)| (dep.to_string(), json!(req)))
            .collect();
        self.version_value(
            name,
            version,
            json!({ "dependencies": dependencies, "artifacts": artifacts }),
        )
    }

    /// Add `name` `version` whose artifact (the same for every default platform) is `bytes`,
    /// written to `artifacts/<file>`; `extra` is merged into each artifact entry (`bin`,
    /// `strip_components`, `env`, …). Returns the artifact's sha256.
    pub fn add_archive(
        &mut self,
        name: &str,
        version: &str,
        file: &str,
        bytes: &[u8],
        extra: Value,
    ) -> String {
        let artifacts_dir = self.dir.join("artifacts");
        fs_err::create_dir_all(&artifacts_dir).unwrap();
        fs_err::write(artifacts_dir.join(file), bytes).unwrap();
        let digest = hex::encode(Sha256::digest(bytes));
        let mut artifact =
            json!({ "url": format!("../artifacts/{file}"), "sha256": digest, "size": bytes.len() });
        if let Value::Object(extra) = extra {
            for (key, value) in extra {
                artifact[key] = value;
            }
        }
        let artifacts: serde_json::Map<String, Value> = DEFAULT_PLATFORMS
            .iter()
            .map(|platform| (platform.to_string(), artifact.clone()))
            .collect();
        self.version_value(name, version, json!({ "artifacts": artifacts }));
        digest
    }

    /// Add a version with a hand-written entry.
    pub fn version_value(&mut self, name: &str, version: &str, entry: Value) -> &mut Self {
        let package = self.packages.entry(name.to_string()).or_insert_with(
            || json!({ "name": name, "description": format!("the {name} tool"), "versions": {} }),
        );
        package["versions"][version] = entry;
        self
    }

    /// Write `index.json` and every package file; returns the index directory.
    pub fn write(&self) -> PathBuf {
        let packages = self.dir.join("packages");
        fs_err::create_dir_all(&packages).expect("create index dir");
        let names: Vec<&String> = self.packages.keys().collect();
        let index = json!({ "format": 1, "packages": names });
        fs_err::write(
            self.dir.join("index.json"),
            serde_json::to_string_pretty(&index).unwrap(),
        )
        .unwrap();
        for (name, package) in &self.packages {
            let text = serde_json::to_string_pretty(package).unwrap();
            fs_err::write(packages.join(format!("{name}.json")), text).unwrap();
        }
        self.dir.clone()
    }
}
