//! `velo run`: the task graph of a project or workspace, run in parallel, with results cached by
//! key and replayed.
//!
//! [`Plan::new`] finds the workspace ([`workspace`]), builds the graph ([`graph`]) and checks every
//! task's globs and directory before anything runs. [`Plan::execute`] walks the graph: for each
//! task whose dependencies have finished it hashes the inputs ([`key`]), restores and replays a
//! cached result ([`cache`], [`artifact`]) or runs the command ([`process`]) and stores what it
//! produced. With a remote cache ([`remote`]), the keys of the whole graph are worked out first
//! and everything the local cache lacks is negotiated in one request and downloaded before the
//! first task starts; new results are uploaded as they are stored.

pub mod artifact;
pub mod cache;
pub mod glob;
pub mod graph;
pub mod key;
pub mod process;
pub mod remote;
pub mod restore;
pub mod state;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::task::JoinSet;

use self::artifact::{ArtifactMeta, ARTIFACT_FORMAT};
use self::cache::{Lookup, TaskCache};
use self::glob::{Globs, Kind, Walk};
use self::graph::Graph;
use self::key::{InputsDigest, KeyInput};
use self::process::{Children, Echo};
use self::state::OutputState;
use self::workspace::Workspace;
use crate::error::Error;
use crate::manifest::{EnvValue, MANIFEST_FILE};

/// Threads for hashing, and tasks at once by default: the number of cores.
pub fn parallelism() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(4, |n| n.get()))
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub tasks: Vec<String>,
    /// Member names, paths or globs over them; empty for the default scope.
    pub filter: Vec<String>,
    pub force: bool,
    pub dry_run: bool,
    /// Keep running the tasks that do not depend on a failed one.
    pub keep_going: bool,
    pub concurrency: usize,
    /// Print task output (off with `--quiet`; it is captured either way).
    pub echo: bool,
    /// Names besides `VELO_*` that `${NAME}` in `env` may read (`expand_env` in `config.toml`).
    pub expand_env: Vec<String>,
    /// The most a cached result may unpack to (`VELO_MAX_UNPACKED_SIZE`, as for tool archives).
    pub max_unpacked_size: u64,
}

/// Everything known before the first task starts.
pub struct Plan {
    pub workspace: Workspace,
    pub graph: Graph,
    tasks: Vec<Prepared>,
    platform: String,
    tools: BTreeMap<String, String>,
    state: OutputState,
    max_unpacked_size: u64,
}

/// A task's fixed parts: checked globs, directory and environment.
struct Prepared {
    inputs: Globs,
    outputs: Globs,
    walk: Walk,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    project_env: BTreeMap<String, serde_json::Value>,
}

/// What happened to one task.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// `--dry-run`: what would happen.
    Planned {
        key: String,
        inputs: usize,
        cache: CacheStatus,
    },
    Cached {
        key: String,
        saved_ms: u64,
    },
    Ran {
        key: String,
        duration_ms: u64,
    },
    Failed {
        key: Option<String>,
        reason: String,
    },
    /// Not run because a task it depends on failed.
    Skipped {
        because: String,
    },
    /// Not started: the run stopped first (after a failure or Ctrl-C).
    NotRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    Hit,
    Miss,
    Disabled,
}

/// Progress reported while running, for the command line to print.
#[derive(Debug)]
pub enum Event<'a> {
    CacheHit {
        label: &'a str,
        key: &'a str,
        /// Downloaded from the remote cache in this run.
        remote: bool,
    },
    Running {
        label: &'a str,
        key: &'a str,
        cached: bool,
    },
    Failed {
        label: &'a str,
        reason: &'a str,
    },
    Warning(String),
    Interrupted,
    /// Results moved to or from the remote cache, for the summary.
    Transferred {
        downloaded: u64,
        downloaded_bytes: u64,
        uploaded: u64,
        uploaded_bytes: u64,
    },
}

pub type Reporter = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// The result of a run, in graph order.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<(String, Outcome)>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl Report {
    pub fn failed(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
            .map(|(label, _)| label.as_str())
            .collect()
    }
}

impl Plan {
    /// Pick the members in scope (from where `velo run` started, `here`) and build the graph.
    /// `lock` holds the workspace's tools, which go into every key.
    pub fn new(
        workspace: Workspace,
        here: usize,
        options: &RunOptions,
        lock: Option<&crate::lock::Lock>,
        platform: String,
        bin: Option<&Path>,
    ) -> Result<Self, Error> {
        let scope = scope(&workspace, here, &options.filter)?;
        let graph = Graph::build(&workspace, &scope, &options.tasks)?;
        let tools = locked_tools(lock, &platform);
        let current = crate::ops::env::current_env();
        let mut base = current.clone();
        base.extend(crate::ops::env::project_env(
            &workspace.root,
            &workspace.members[0].manifest,
            &current,
            bin,
            &options.expand_env,
        )?);
        // Members usually share their globs; each list is compiled once.
        let mut compiled = BTreeMap::new();
        let tasks = graph
            .nodes
            .iter()
            .map(|node| prepare(&workspace, node, &base, &options.expand_env, &mut compiled))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            state: OutputState::new(&workspace.root),
            workspace,
            graph,
            tasks,
            platform,
            tools,
            max_unpacked_size: options.max_unpacked_size,
        })
    }

    /// Run the graph (or, with `dry_run`, compute every key and look it up).
    pub async fn execute(
        self,
        options: &RunOptions,
        cache: TaskCache,
        remote: Option<Arc<remote::Remote>>,
        report: Reporter,
    ) -> Report {
        let start = Instant::now();
        let plan = Arc::new(self);
        let shared = Arc::new(Shared {
            cache,
            children: Arc::new(Children::default()),
            options: options.clone(),
            report,
            remote,
            predicted: Default::default(),
            wrote: Default::default(),
        });
        if let Some(remote) = &shared.remote {
            if !options.dry_run && !options.force {
                let missing = {
                    let plan = plan.clone();
                    let shared = shared.clone();
                    tokio::task::spawn_blocking(move || plan.predict(&shared))
                        .await
                        .unwrap_or_default()
                };
                remote.prefetch(missing, &shared.cache).await;
            }
        }
        let nodes = &plan.graph.nodes;
        let position: BTreeMap<usize, usize> = plan
            .graph
            .order
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, i))
            .collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (id, node) in nodes.iter().enumerate() {
            for &dependency in &node.dependencies {
                dependents[dependency].push(id);
            }
        }
        let mut waiting: Vec<usize> = nodes.iter().map(|n| n.dependencies.len()).collect();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; nodes.len()];
        // Ready tasks by their place in the order, so runs start tasks in the same order.
        let mut ready: BTreeSet<usize> = (0..nodes.len())
            .filter(|&n| waiting[n] == 0)
            .map(|n| position[&n])
            .collect();
        let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
        let concurrency = options.concurrency.max(1);
        let mut stopping = false;
        let mut interrupted = false;
        let mut signals = crate::signals::Signals::new();
        loop {
            while !stopping && running.len() < concurrency {
                let Some(next) = ready.pop_first() else { break };
                let id = plan.graph.order[next];
                let failed_dependency = nodes[id].dependencies.iter().find(|&&d| {
                    matches!(
                        outcomes[d],
                        Some(Outcome::Failed { .. } | Outcome::Skipped { .. })
                    )
                });
                if let Some(&dependency) = failed_dependency {
                    outcomes[id] = Some(Outcome::Skipped {
                        because: nodes[dependency].label.clone(),
                    });
                    release(id, &dependents, &mut waiting, &mut ready, &position);
                    continue;
                }
                let dependency_keys: BTreeMap<String, String> = nodes[id]
                    .dependencies
                    .iter()
                    .filter_map(|&d| {
                        Some((
                            nodes[d].label.clone(),
                            outcome_key(outcomes[d].as_ref()?)?.to_string(),
                        ))
                    })
                    .collect();
                let plan = plan.clone();
                let shared = shared.clone();
                running.spawn(async move {
                    let outcome = run_task(&plan, &shared, id, dependency_keys).await;
                    (id, outcome)
                });
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                joined = running.join_next() => {
                    let Some(joined) = joined else { continue };
                    let (id, outcome) = match joined {
                        Ok(done) => done,
                        Err(err) => {
                            // A panicking task is a bug; report it as that task's failure.
                            (usize::MAX, Outcome::Failed { key: None, reason: format!("internal error: {err}") })
                        }
                    };
                    if id == usize::MAX {
                        stopping = true;
                        continue;
                    }
                    if matches!(outcome, Outcome::Failed { .. }) && !options.keep_going {
                        stopping = true;
                    }
                    outcomes[id] = Some(outcome);
                    release(id, &dependents, &mut waiting, &mut ready, &position);
                }
                _ = signals.next() => {
                    if !interrupted {
                        (shared.report)(Event::Interrupted);
                    }
                    // A second Ctrl-C kills what the first one only asked to stop.
                    shared.children.interrupt(interrupted);
                    interrupted = true;
                    stopping = true;
                }
            }
        }
        if let Some(remote) = &shared.remote {
            remote.finish(interrupted).await;
            let transfers = &remote.transfers;
            let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
            (shared.report)(Event::Transferred {
                downloaded: load(&transfers.downloaded),
                downloaded_bytes: load(&transfers.downloaded_bytes),
                uploaded: load(&transfers.uploaded),
                uploaded_bytes: load(&transfers.uploaded_bytes),
            });
        }
        let outcomes = plan
            .graph
            .order
            .iter()
            .map(|&id| {
                (
                    nodes[id].label.clone(),
                    outcomes[id].clone().unwrap_or(Outcome::NotRun),
                )
            })
            .collect();
        Report {
            outcomes,
            interrupted,
            elapsed: start.elapsed(),
        }
    }
}

fn release(
    id: usize,
    dependents: &[Vec<usize>],
    waiting: &mut [usize],
    ready: &mut BTreeSet<usize>,
    position: &BTreeMap<usize, usize>,
) {
    for &dependent in &dependents[id] {
        waiting[dependent] -= 1;
        if waiting[dependent] == 0 {
            ready.insert(position[&dependent]);
        }
    }
}

fn outcome_key(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Planned { key, .. } | Outcome::Cached { key, .. } | Outcome::Ran { key, .. } => Some(key),
        _ => None,
    }
}

struct Shared {
    cache: TaskCache,
    children: Arc<Children>,
    options: RunOptions,
    report: Reporter,
    remote: Option<Arc<remote::Remote>>,
    /// Keys worked out before the run (for the remote cache), by task.
    predicted: std::sync::Mutex<Vec<Option<Prediction>>>,
    /// Whether any task has changed a file yet (run a command, restored outputs): until then
    /// the inputs are as they were when the keys were predicted.
    wrote: std::sync::atomic::AtomicBool,
}

/// A task's key as worked out before anything ran.
struct Prediction {
    inputs: InputsDigest,
    key: String,
    dependency_keys: BTreeMap<String, String>,
}

/// Key, then cache, then command, for one task.
async fn run_task(
    plan: &Arc<Plan>,
    shared: &Arc<Shared>,
    id: usize,
    dependency_keys: BTreeMap<String, String>,
) -> Outcome {
    let node = &plan.graph.nodes[id];
    let label = node.label.as_str();
    // Hashing, then the cache: one trip to a blocking thread, since a hit is all file reads.
    let checked = {
        let plan = plan.clone();
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || plan.check(&shared, id, &dependency_keys)).await
    };
    let Checked {
        key,
        inputs,
        restored,
    } = match checked {
        Ok(Ok(checked)) => checked,
        Ok(Err(reason)) => return Outcome::Failed { key: None, reason },
        Err(err) => {
            return Outcome::Failed {
                key: None,
                reason: format!("internal error: {err}"),
            }
        }
    };
    let cacheable = node.task.cache;
    if shared.options.dry_run {
        let cache = if !cacheable {
            CacheStatus::Disabled
        } else if shared.cache.contains(&key) {
            CacheStatus::Hit
        } else {
            CacheStatus::Miss
        };
        return Outcome::Planned {
            key,
            inputs: inputs.files,
            cache,
        };
    }
    let restored = match (&shared.remote, restored) {
        (Some(remote), Ok(None)) if cacheable && !shared.options.force => {
            if remote.fetch(&key, &shared.cache).await {
                let plan = plan.clone();
                let shared = shared.clone();
                let key = key.clone();
                tokio::task::spawn_blocking(move || plan.restore(&shared.cache, id, &key))
                    .await
                    .unwrap_or(Ok(None))
            } else {
                Ok(None)
            }
        }
        (_, restored) => restored,
    };
    let echo = Echo::new(label, shared.options.echo);
    match restored {
        Ok(Some(restored)) => {
            let remote = shared.remote.as_ref().is_some_and(|r| r.fetched(&key));
            (shared.report)(Event::CacheHit {
                label,
                key: &key,
                remote,
            });
            echo.replay(&restored.log);
            return Outcome::Cached {
                key,
                saved_ms: restored.meta.duration_ms,
            };
        }
        Ok(None) => {}
        Err(warning) => (shared.report)(Event::Warning(format!("{label}: {warning}; running the task"))),
    }
    run_command(plan, shared, id, key, echo).await
}

/// Run a task's command and store what it produced.
async fn run_command(plan: &Arc<Plan>, shared: &Arc<Shared>, id: usize, key: String, echo: Echo) -> Outcome {
    let node = &plan.graph.nodes[id];
    let label = node.label.as_str();
    let cacheable = node.task.cache;
    (shared.report)(Event::Running {
        label,
        key: &key,
        cached: cacheable,
    });
    let task = &plan.tasks[id];
    plan.state
        .forget(&plan.workspace.members[node.member].relative, &node.name);
    let started = Instant::now();
    let result = process::run(&node.task.command, &task.cwd, &task.env, echo, &shared.children).await;
    let duration = started.elapsed();
    let (status, log, undrained) = match result {
        Ok(done) => done,
        Err(err) => {
            let reason = format!("failed to start `sh` in `{}`: {err}", task.cwd.display());
            return failed(shared, label, key, reason);
        }
    };
    if undrained {
        (shared.report)(Event::Warning(format!(
            "{label}: the command left processes running that still write to its output; velo stopped reading it"
        )));
    }
    if shared.children.is_interrupted() {
        return Outcome::Failed {
            key: Some(key),
            reason: "was interrupted".to_string(),
        };
    }
    if !status.success() {
        return failed(shared, label, key, describe_exit(status));
    }
    if cacheable {
        let stored = {
            let plan = plan.clone();
            let shared = shared.clone();
            let key = key.clone();
            let duration_ms = duration.as_millis() as u64;
            tokio::task::spawn_blocking(move || plan.store(&shared.cache, id, &key, &log, duration_ms)).await
        };
        match stored {
            Ok(Ok((warnings, (artifact, written)))) => {
                for warning in warnings {
                    (shared.report)(Event::Warning(format!("{label}: {warning}")));
                }
                if let Some(remote) = &shared.remote {
                    remote.upload(key.clone(), artifact, written).await;
                }
            }
            Ok(Err(StoreFailure::Outputs(reason))) => return failed(shared, label, key, reason),
            Ok(Err(StoreFailure::Cache(warning))) => {
                (shared.report)(Event::Warning(format!(
                    "{label}: could not cache the result: {warning}"
                )));
            }
            Err(err) => (shared.report)(Event::Warning(format!("{label}: internal error: {err}"))),
        }
    }
    Outcome::Ran {
        key,
        duration_ms: duration.as_millis() as u64,
    }
}

/// Report that a task failed, and make that its outcome.
fn failed(shared: &Shared, label: &str, key: String, reason: String) -> Outcome {
    (shared.report)(Event::Failed {
        label,
        reason: &reason,
    });
    Outcome::Failed {
        key: Some(key),
        reason,
    }
}

/// A task's key, and its cached result if there was one to restore.
struct Checked {
    key: String,
    inputs: InputsDigest,
    /// `Err`: a warning about an entry that was there but unusable.
    restored: Result<Option<artifact::Restored>, String>,
}

enum StoreFailure {
    /// The outputs themselves are wrong (a symlink out of the project): the task fails.
    Outputs(String),
    /// The cache could not take them: a warning.
    Cache(String),
}

impl Plan {
    fn key(&self, id: usize, inputs: &InputsDigest, dependency_keys: &BTreeMap<String, String>) -> String {
        let node = &self.graph.nodes[id];
        let task = &self.tasks[id];
        let member = &self.workspace.members[node.member];
        KeyInput {
            format: key::KEY_FORMAT,
            platform: &self.platform,
            member: &member.relative,
            task: &node.name,
            command: &node.task.command,
            cwd: node.task.cwd.as_deref(),
            outputs: &node.task.outputs,
            inputs: inputs.clone(),
            env: node
                .task
                .env
                .iter()
                .map(|name| (name.as_str(), task.env.get(name).map(String::as_str)))
                .collect(),
            project_env: task
                .project_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect(),
            tools: &self.tools,
            dependencies: dependency_keys
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
        .digest()
    }

    /// The keys of the cacheable tasks the local cache lacks, as far as they can be known
    /// before anything runs (for the remote cache's one negotiation). A task whose inputs
    /// include what its dependencies write may get another key when it runs; it is then
    /// negotiated on its own.
    ///
    /// The predictions are kept: a task checked before any other has changed a file reuses its
    /// own instead of hashing its inputs again (on a full hit, every task).
    fn predict(&self, shared: &Shared) -> Vec<String> {
        let mut keys: Vec<Option<String>> = vec![None; self.graph.nodes.len()];
        let mut predicted: Vec<Option<Prediction>> = (0..self.graph.nodes.len()).map(|_| None).collect();
        let mut missing = Vec::new();
        for &id in &self.graph.order {
            let node = &self.graph.nodes[id];
            let dependency_keys: Option<BTreeMap<String, String>> = node
                .dependencies
                .iter()
                .map(|&d| Some((self.graph.nodes[d].label.clone(), keys[d].clone()?)))
                .collect();
            let Some(dependency_keys) = dependency_keys else {
                continue;
            };
            let task = &self.tasks[id];
            let dir = &self.workspace.members[node.member].dir;
            let Ok(inputs) = key::hash_inputs(dir, &task.inputs, &task.outputs, &task.walk) else {
                continue;
            };
            let key = self.key(id, &inputs, &dependency_keys);
            if node.task.cache && !shared.cache.contains(&key) {
                missing.push(key.clone());
            }
            keys[id] = Some(key.clone());
            predicted[id] = Some(Prediction {
                inputs,
                key,
                dependency_keys,
            });
        }
        *shared.predicted.lock().expect("not poisoned") = predicted;
        missing
    }

    /// The task's inputs and key, and its cached result restored when there is one (unless
    /// this is a dry run, `--force`, or the task is not cached).
    fn check(
        &self,
        shared: &Shared,
        id: usize,
        dependency_keys: &BTreeMap<String, String>,
    ) -> Result<Checked, String> {
        let node = &self.graph.nodes[id];
        let task = &self.tasks[id];
        let dir = &self.workspace.members[node.member].dir;
        let prediction = shared.predicted.lock().expect("not poisoned")[..]
            .get_mut(id)
            .and_then(Option::take);
        let (inputs, key) = match prediction {
            Some(p) if !shared.wrote.load(Ordering::SeqCst) && p.dependency_keys == *dependency_keys => {
                (p.inputs, p.key)
            }
            _ => {
                let inputs = key::hash_inputs(dir, &task.inputs, &task.outputs, &task.walk)
                    .map_err(|err| err.to_string())?;
                let key = self.key(id, &inputs, dependency_keys);
                (inputs, key)
            }
        };
        let options = &shared.options;
        let restored = if node.task.cache && !options.force && !options.dry_run {
            self.restore(&shared.cache, id, &key)
        } else {
            Ok(None)
        };
        // Anything but a hit whose outputs were already in place changes files (or is about to:
        // the command runs).
        if !matches!(&restored, Ok(Some(r)) if r.in_place) {
            shared.wrote.store(true, Ordering::SeqCst);
        }
        Ok(Checked {
            key,
            inputs,
            restored,
        })
    }

    /// Restore a cached result: `Ok(None)` on a miss, `Err` with a warning when an entry was
    /// there but could not be used.
    fn restore(&self, cache: &TaskCache, id: usize, key: &str) -> Result<Option<artifact::Restored>, String> {
        let artifact = match cache.lookup(key) {
            Lookup::Hit(artifact) => artifact,
            Lookup::Miss => return Ok(None),
            Lookup::Unreadable(reason) => {
                return Err(format!("the cached result could not be read ({reason})"));
            }
            Lookup::Corrupt(reason) => {
                return Err(format!(
                    "the cached result was corrupt ({reason}) and has been discarded"
                ))
            }
        };
        let node = &self.graph.nodes[id];
        let task = &self.tasks[id];
        let member = &self.workspace.members[node.member];
        let dir = &member.dir;
        let walk = output_walk(&task.walk);
        if self
            .state
            .unchanged(&member.relative, &node.name, key, &task.outputs.walk(dir, &walk))
        {
            // The outputs are already the ones this result holds.
            if let Ok((meta, log)) = artifact::read_log(&artifact) {
                if meta.key == key {
                    return Ok(Some(artifact::Restored {
                        meta,
                        log,
                        files: 0,
                        in_place: true,
                    }));
                }
            }
        }
        self.state.forget(&member.relative, &node.name);
        // Two tries: another `velo run` in this project may be restoring the same outputs, and
        // files changing underneath are no fault of the artifact.
        let mut tries = 0;
        loop {
            tries += 1;
            // Outputs from an earlier run that the cached result may not contain.
            for found in task.outputs.walk(dir, &walk) {
                if found.kind != Kind::Dir {
                    let _ = crate::fs::remove_any(&found.path);
                }
            }
            let limits = artifact::Limits {
                bytes: self.max_unpacked_size,
                entries: artifact::MAX_ENTRIES,
            };
            match artifact::restore(&artifact, key, dir, &self.workspace.root, &task.outputs, limits) {
                Ok(restored) => {
                    let restored_outputs = task.outputs.walk(dir, &walk);
                    self.state
                        .record(&member.relative, &node.name, key, &restored_outputs);
                    return Ok(Some(restored));
                }
                // Only an artifact that is bad in itself is discarded.
                Err(err) if err.is_bad_artifact() => {
                    cache.remove(key);
                    return Err(format!(
                        "the cached result could not be restored ({err}) and has been discarded"
                    ));
                }
                Err(_) if tries < 2 => continue,
                Err(err) => {
                    return Err(format!(
                        "the cached result could not be restored ({})",
                        crate::error::chain(&err)
                    ))
                }
            }
        }
    }

    /// Archive a successful task's outputs and log. Returns warnings, and the stored artifact.
    fn store(
        &self,
        cache: &TaskCache,
        id: usize,
        key: &str,
        log: &[u8],
        duration_ms: u64,
    ) -> Result<(Vec<String>, (PathBuf, artifact::Written)), StoreFailure> {
        let node = &self.graph.nodes[id];
        let task = &self.tasks[id];
        let dir = &self.workspace.members[node.member].dir;
        let outputs = task.outputs.walk(dir, &output_walk(&task.walk));
        let mut warnings = Vec::new();
        if !node.task.outputs.is_empty() && outputs.iter().all(|f| f.kind == Kind::Dir) {
            warnings.push(format!(
                "no files matched the outputs ({}); only the log was cached",
                node.task
                    .outputs
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let meta = ArtifactMeta {
            format: ARTIFACT_FORMAT.to_string(),
            key: key.to_string(),
            task: node.label.clone(),
            duration_ms,
            created: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        match cache.store(key, dir, &self.workspace.root, &outputs, log, &meta) {
            Ok(stored) => {
                let member = &self.workspace.members[node.member];
                self.state.record(&member.relative, &node.name, key, &outputs);
                Ok((warnings, stored))
            }
            Err(err @ artifact::ArtifactError::SymlinkEscapes { .. }) => {
                Err(StoreFailure::Outputs(err.to_string()))
            }
            Err(err) => Err(StoreFailure::Cache(crate::error::chain(&err))),
        }
    }
}

/// Outputs are found whether or not they are ignored (build output usually is).
fn output_walk(inputs: &Walk) -> Walk {
    Walk {
        gitignore: false,
        dirs: true,
        skip: inputs.skip.clone(),
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    "failed".to_string()
}

/// The members a run covers: those matching `--filter`, else the member `velo run` was started
/// in, else (at the root) all of them.
fn scope(workspace: &Workspace, here: usize, filter: &[String]) -> Result<Vec<usize>, Error> {
    if filter.is_empty() {
        if here != 0 || !workspace.is_workspace {
            return Ok(vec![here]);
        }
        return Ok((0..workspace.members.len()).collect());
    }
    let mut scope = BTreeSet::new();
    for pattern in filter {
        let trimmed = pattern.trim_start_matches("./").trim_end_matches('/');
        let glob = globset::Glob::new(trimmed)
            .map_err(|err| Error::usage(format!("invalid `--filter {pattern}`: {err}"), None))?
            .compile_matcher();
        let matched: Vec<usize> = workspace
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.name == trimmed
                    || m.relative == trimmed
                    || glob.is_match(&m.name)
                    || glob.is_match(&m.relative)
            })
            .map(|(index, _)| index)
            .collect();
        if matched.is_empty() {
            let names = workspace.members.iter().map(|m| m.name.as_str());
            let hint = crate::suggest::closest_or_all(trimmed, names, "members");
            return Err(Error::usage(
                format!("`--filter {pattern}` matches no workspace member"),
                Some(hint),
            ));
        }
        scope.extend(matched);
    }
    Ok(scope.into_iter().collect())
}

/// Key → `version sha256` of each locked tool for `platform`.
fn locked_tools(lock: Option<&crate::lock::Lock>, platform: &str) -> BTreeMap<String, String> {
    let Some(lock) = lock else {
        return BTreeMap::new();
    };
    lock.packages
        .iter()
        .filter_map(|(key, package)| {
            let artifact = package
                .artifacts
                .iter()
                .find(|(p, _)| p.to_string() == platform)?
                .1;
            Some((key.clone(), format!("{} {}", package.version, artifact.sha256)))
        })
        .collect()
}

fn prepare(
    workspace: &Workspace,
    node: &graph::Node,
    base: &BTreeMap<String, String>,
    expand_env: &[String],
    compiled: &mut BTreeMap<Vec<String>, Globs>,
) -> Result<Prepared, Error> {
    let member = &workspace.members[node.member];
    let manifest_path = member.dir.join(MANIFEST_FILE);
    let bad = |field: &str, err: glob::GlobError| {
        Error::usage(
            format!(
                "invalid `{field}` of task `{}` in `{}`: {err}",
                node.name,
                manifest_path.display()
            ),
            None,
        )
    };
    let mut compile = |patterns: &[String]| -> Result<Globs, glob::GlobError> {
        if let Some(globs) = compiled.get(patterns) {
            return Ok(globs.clone());
        }
        let globs = Globs::new(patterns)?;
        compiled.insert(patterns.to_vec(), globs.clone());
        Ok(globs)
    };
    let inputs = if node.task.inputs.is_empty() {
        compile(&[String::new()])
    } else {
        compile(&node.task.inputs)
    }
    .map_err(|err| bad("inputs", err))?;
    let outputs = compile(&node.task.outputs).map_err(|err| bad("outputs", err))?;
    let cwd = match &node.task.cwd {
        Some(cwd) => {
            let joined = crate::fs::normalize(&member.dir.join(cwd));
            if !joined.starts_with(crate::fs::normalize(&workspace.root)) {
                return Err(Error::usage(
                    format!(
                        "the `cwd` of task `{}` in `{}` is outside the project: `{cwd}`",
                        node.name,
                        manifest_path.display()
                    ),
                    None,
                ));
            }
            joined
        }
        None => member.dir.clone(),
    };
    let mut env = base.clone();
    let mut project_env: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut declare = |vars: &BTreeMap<String, EnvValue>, prefix: &str| {
        for (name, value) in vars {
            let value = match value {
                EnvValue::Value(text) => serde_json::Value::from(text.as_str()),
                EnvValue::Paths(paths) => serde_json::Value::from(paths.clone()),
            };
            project_env.insert(format!("{prefix}{name}"), value);
        }
    };
    declare(&workspace.members[0].manifest.env, "");
    if node.member != 0 {
        declare(&member.manifest.env, "member:");
        let layer = crate::ops::env::env_layer(&member.dir, &member.manifest.env, &env, None, expand_env)?;
        env.extend(layer);
    }
    Ok(Prepared {
        inputs,
        outputs,
        walk: Walk {
            gitignore: true,
            dirs: false,
            skip: workspace.nested_members(node.member),
        },
        cwd,
        env,
        project_env,
    })
}
