//! `velo tree`.

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
                &dep.lock_key(),
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
        out.push_str(&format!("{} v{}\n", root.name, root.version));
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
            child.name, child.version
        ));
        if !repeated {
            render(&child.dependencies, &format!("{prefix}{indent}"), seen, out);
        }
    }
}
