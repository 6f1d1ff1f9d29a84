//! The task graph: which tasks a `velo run` asks for, the tasks they depend on, and an order.

use std::collections::{BTreeMap, BTreeSet};

use super::workspace::Workspace;
use crate::error::Error;
use crate::manifest::{Task, MANIFEST_FILE};

/// One task of one member.
#[derive(Debug, Clone)]
pub struct Node {
    pub member: usize,
    pub name: String,
    pub task: Task,
    /// Nodes that must finish first.
    pub dependencies: Vec<usize>,
    /// `member:task` in a workspace, `task` in a single project.
    pub label: String,
}

#[derive(Debug)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Every node, dependencies before dependents, ties broken by label.
    pub order: Vec<usize>,
}

impl Graph {
    /// The graph for running `tasks` in `scope` (member indices) and everything they depend on.
    pub fn build(workspace: &Workspace, scope: &[usize], tasks: &[String]) -> Result<Self, Error> {
        let mut builder = Builder {
            workspace,
            nodes: Vec::new(),
            index: BTreeMap::new(),
        };
        let mut roots = Vec::new();
        for name in tasks {
            let mut found = false;
            for &member in scope {
                if workspace.members[member].manifest.tasks.contains_key(name) {
                    roots.push((member, name.clone()));
                    found = true;
                }
            }
            if !found {
                return Err(unknown_task(workspace, scope, name));
            }
        }
        for (member, name) in &roots {
            builder.add(*member, name)?;
        }
        let order = builder.order()?;
        Ok(Self {
            nodes: builder.nodes,
            order,
        })
    }
}

struct Builder<'a> {
    workspace: &'a Workspace,
    nodes: Vec<Node>,
    index: BTreeMap<(usize, String), usize>,
}

impl Builder<'_> {
    fn add(&mut self, member: usize, name: &str) -> Result<usize, Error> {
        if let Some(&existing) = self.index.get(&(member, name.to_string())) {
            return Ok(existing);
        }
        let workspace = self.workspace;
        let m = &workspace.members[member];
        let task = m.manifest.tasks[name].clone();
        let label = label(workspace, member, name);
        let id = self.nodes.len();
        self.index.insert((member, name.to_string()), id);
        self.nodes.push(Node {
            member,
            name: name.to_string(),
            task: task.clone(),
            dependencies: Vec::new(),
            label: label.clone(),
        });
        let mut dependencies = BTreeSet::new();
        for dependency in &task.depends_on {
            if let Some(upstream) = dependency.strip_prefix('^') {
                for &other in &m.dependencies {
                    if workspace.members[other].manifest.tasks.contains_key(upstream) {
                        dependencies.insert(self.add(other, upstream)?);
                    }
                }
            } else if let Some((member_name, task_name)) = dependency.split_once('#') {
                let Some(other) = workspace.members.iter().position(|o| o.name == member_name) else {
                    let names = workspace.members.iter().map(|o| o.name.as_str());
                    return Err(Error::usage(
                        format!("task `{label}` depends on `{dependency}`, but there is no workspace member `{member_name}`"),
                        crate::suggest::closest(member_name, names).map(|best| format!("did you mean `{best}#{task_name}`?")),
                    ));
                };
                if !workspace.members[other].manifest.tasks.contains_key(task_name) {
                    return Err(missing_dependency(
                        workspace, &label, dependency, other, task_name,
                    ));
                }
                dependencies.insert(self.add(other, task_name)?);
            } else {
                if !m.manifest.tasks.contains_key(dependency) {
                    return Err(missing_dependency(
                        workspace, &label, dependency, member, dependency,
                    ));
                }
                dependencies.insert(self.add(member, dependency)?);
            }
        }
        self.nodes[id].dependencies = dependencies.into_iter().collect();
        Ok(id)
    }

    /// A topological order, or the cycle that prevents one.
    fn order(&self) -> Result<Vec<usize>, Error> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        let mut stack: Vec<usize> = Vec::new();
        fn visit(
            nodes: &[Node],
            node: usize,
            marks: &mut [Mark],
            stack: &mut Vec<usize>,
        ) -> Result<(), Vec<usize>> {
            match marks[node] {
                Mark::Done => return Ok(()),
                Mark::Active => {
                    let start = stack.iter().position(|&n| n == node).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(node);
                    return Err(cycle);
                }
                Mark::New => {}
            }
            marks[node] = Mark::Active;
            stack.push(node);
            for &dependency in &nodes[node].dependencies {
                visit(nodes, dependency, marks, stack)?;
            }
            stack.pop();
            marks[node] = Mark::Done;
            Ok(())
        }
        let mut by_label: Vec<usize> = (0..self.nodes.len()).collect();
        by_label.sort_by(|&a, &b| self.nodes[a].label.cmp(&self.nodes[b].label));
        for &node in &by_label {
            if let Err(cycle) = visit(&self.nodes, node, &mut marks, &mut stack) {
                let path: Vec<&str> = cycle.iter().map(|&n| self.nodes[n].label.as_str()).collect();
                return Err(Error::usage(
                    format!("the tasks depend on each other in a cycle: {}", path.join(" -> ")),
                    Some("remove one of these `depends_on` entries".to_string()),
                ));
            }
        }
        // Kahn's algorithm over labels, so the order is the same on every run.
        let mut waiting: Vec<usize> = self.nodes.iter().map(|n| n.dependencies.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate() {
            for &dependency in &node.dependencies {
                dependents[dependency].push(id);
            }
        }
        let mut ready: BTreeSet<(&str, usize)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(id, _)| waiting[*id] == 0)
            .map(|(id, n)| (n.label.as_str(), id))
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some((_, id)) = ready.pop_first() {
            order.push(id);
            for &dependent in &dependents[id] {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.insert((self.nodes[dependent].label.as_str(), dependent));
                }
            }
        }
        Ok(order)
    }
}

/// `member:task` in a workspace, `task` in a single project.
pub fn label(workspace: &Workspace, member: usize, name: &str) -> String {
    if workspace.is_workspace {
        format!("{}:{name}", workspace.members[member].name)
    } else {
        name.to_string()
    }
}

fn missing_dependency(
    workspace: &Workspace,
    label: &str,
    dependency: &str,
    member: usize,
    task: &str,
) -> Error {
    let m = &workspace.members[member];
    let names = m.manifest.tasks.keys().map(String::as_str);
    Error::usage(
        format!(
            "task `{label}` depends on `{dependency}`, but `{}` has no task `{task}`",
            m.dir.join(MANIFEST_FILE).display()
        ),
        crate::suggest::closest(task, names).map(|best| format!("did you mean `{best}`?")),
    )
}

fn unknown_task(workspace: &Workspace, scope: &[usize], name: &str) -> Error {
    let known: BTreeSet<&str> = scope
        .iter()
        .flat_map(|&m| workspace.members[m].manifest.tasks.keys().map(String::as_str))
        .collect();
    let hint = if known.is_empty() {
        format!("add it under `tasks` in `{MANIFEST_FILE}`")
    } else {
        crate::suggest::closest_or_all(name, known.iter().copied(), "tasks")
    };
    let place = if scope.len() == 1 {
        format!(
            "`{}`",
            workspace.members[scope[0]].dir.join(MANIFEST_FILE).display()
        )
    } else {
        "any workspace member".to_string()
    };
    Error::usage(format!("no task `{name}` in {place}"), Some(hint))
}
