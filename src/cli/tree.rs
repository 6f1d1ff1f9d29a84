//! `velo tree`.

use crate::escape::untrusted;
use std::collections::HashSet;
use std::process::ExitCode;

use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::lock::Lock;
use crate::ops::lock::Upgrade;

#[derive(Debug, clap::Args)]
pub struct TreeArgs {
    /// Print the tree as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TreeNode {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    requirement: Option<String>,
    dependencies: Vec<TreeNode>,
}

pub async fn run(args: TreeArgs, context: &Context) -> Result<ExitCode, Error> {
    let project = context.project()?;
    let result = super::lock::lock_and_write(&project, &project.manifest, context, &Upgrade::None).await?;
    let lock = &result.lock;
    let roots: Vec<TreeNode> = project
        .manifest
        .dependencies
        .iter()
        .map(|dep| {
            node(
                lock,
                &lock
                    .manifest
                    .package_of(&dep.key)
                    .unwrap_or_else(|| dep.lock_key()),
                Some(dep.requirement.to_string()),
                &mut Vec::new(),
            )
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&roots).expect("a tree serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let mut seen = HashSet::new();
    for root in &roots {
        out.push_str(&format!(
            "{} v{}\n",
            untrusted(&root.name),
            untrusted(&root.version)
        ));
        render(&root.dependencies, "", &mut seen, &mut out);
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn node(lock: &Lock, name: &str, requirement: Option<String>, path: &mut Vec<String>) -> TreeNode {
    let package = lock.packages.get(name);
    let version = package.map_or_else(|| "?".to_string(), |p| p.version.clone());
    path.push(name.to_string());
    let mut dependencies = Vec::new();
    for dep in package.map(|p| p.dependencies.as_slice()).unwrap_or_default() {
        if !path.contains(dep) {
            dependencies.push(node(lock, dep, None, path));
        }
    }
    path.pop();
    TreeNode {
        name: name.to_string(),
        version,
        requirement,
        dependencies,
    }
}

/// Draw children with box characters; a subtree printed before is shown once and marked `(*)`.
fn render(children: &[TreeNode], prefix: &str, seen: &mut HashSet<String>, out: &mut String) {
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, indent) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let repeated = !child.dependencies.is_empty() && !seen.insert(child.name.clone());
        let marker = if repeated { " (*)" } else { "" };
        out.push_str(&format!(
            "{prefix}{branch}{} v{}{marker}\n",
            untrusted(&child.name),
            untrusted(&child.version)
        ));
        if !repeated {
            render(&child.dependencies, &format!("{prefix}{indent}"), seen, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock whose version is not a version is locked again before the tree is drawn (so an
    /// integration test cannot plant one); the tree escapes what it prints anyway.
    #[test]
    fn a_name_or_version_carrying_an_escape_is_printed_escaped() {
        let child = TreeNode {
            name: "tool\x1b]0;x\x07".to_string(),
            version: "4.0.0\x1b[2J".to_string(),
            requirement: None,
            dependencies: Vec::new(),
        };
        let mut out = String::new();
        render(&[child], "", &mut HashSet::new(), &mut out);
        assert_eq!(out, "└── tool\\e]0;x\\u{7} v4.0.0\\e[2J\n");
    }
}
