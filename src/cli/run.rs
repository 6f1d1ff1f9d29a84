//! `velo run`.

use std::process::ExitCode;
use std::sync::Arc;

use super::progress::human_bytes;
use super::sync::{ensure_synced, SyncMode};
use super::Context;
use crate::error::Error;
use crate::lock::Lock;
use crate::manifest::Project;
use crate::ops::lock::Upgrade;
use crate::run::cache::TaskCache;
use crate::run::remote::Remote;
use crate::run::workspace::Workspace;
use crate::run::{CacheStatus, Event, Outcome, Plan, Report, RunOptions};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The tasks to run, in every workspace member that has them (or only in the member you
    /// are in).
    #[arg(required = true, value_name = "TASK")]
    tasks: Vec<String>,

    /// Run only in these workspace members: a name, a path from the root, or a glob over
    /// either. Repeatable. The tasks they depend on still run.
    #[arg(short = 'F', long, value_name = "MEMBER")]
    filter: Vec<String>,

    /// Run every task even when a cached result exists, and cache the new results.
    #[arg(long)]
    force: bool,

    /// Print each task's key, input count and cache status without running anything.
    #[arg(
        long,
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "text",
        value_enum
    )]
    dry_run: Option<DryRun>,

    /// After a task fails, keep running the tasks that do not depend on it.
    #[arg(long = "continue")]
    keep_going: bool,

    /// How many tasks may run at once [default: the number of cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DryRun {
    Text,
    Json,
}

/// The exit code of a run stopped by Ctrl-C, as a shell reports it.
const INTERRUPTED: u8 = 130;

pub async fn run(args: RunArgs, context: &Context) -> Result<ExitCode, Error> {
    let printer = context.printer;
    let options = RunOptions {
        tasks: args.tasks,
        filter: args.filter,
        force: args.force,
        dry_run: args.dry_run.is_some(),
        keep_going: args.keep_going,
        concurrency: args.concurrency.map_or_else(crate::run::parallelism, usize::from),
        echo: !printer.quiet,
        expand_env: context.settings.config.expand_env.clone(),
        max_unpacked_size: context.settings.max_unpacked_size,
    };
    let (workspace, here) = Workspace::discover(&context.cwd)?;
    let root = Project {
        root: workspace.root.clone(),
        manifest: workspace.members[0].manifest.clone(),
    };
    let lock = if root.manifest.dependencies.is_empty() {
        Lock::read(&root.lock_path())?
    } else if args.dry_run.is_some() {
        // The tools a real run would sync, without installing anything.
        Some(
            crate::ops::lock::lock(&root, &root.manifest, &context.settings, &Upgrade::None)
                .await?
                .lock,
        )
    } else {
        // The tools the tasks run with must match the lock they are keyed by.
        let at_root = Context {
            cwd: workspace.root.clone(),
            ..context.clone()
        };
        // Syncing writes `velo.lock` and `.velo`, never a `velo.json`: the workspace stands.
        ensure_synced(&at_root, SyncMode::Update, false).await?;
        Lock::read(&root.lock_path())?
    };
    let platform = match context.settings.host {
        Some(host) => host.to_string(),
        None => format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
    };
    let bin = crate::ops::sync::bin_dir(&workspace.root, &context.settings.cache);
    let plan = Plan::new(workspace, here, &options, lock.as_ref(), platform, bin.as_deref())?;
    let cache = TaskCache::new(&context.settings.cache)
        .map_err(|source| Error::Io {
            path: context
                .settings
                .cache
                .root()
                .join(crate::run::cache::TASKS_BUCKET),
            source,
        })?
        .replacing(options.force);
    let dry_run_rows = args.dry_run.map(|_| dry_run_rows(&plan));
    let reporter: crate::run::Reporter = Arc::new(move |event| report(&printer, event));
    let remote = remote(&plan, context, &reporter)?;
    let report = plan.execute(&options, cache, remote, reporter).await;
    if let (Some(format), Some(rows)) = (args.dry_run, dry_run_rows) {
        return print_dry_run(format, rows, &report);
    }
    summarize(context, &report)
}

/// The remote cache, when `velo.json` or `VELO_CACHE_URL` names one (never offline).
fn remote(
    plan: &Plan,
    context: &Context,
    reporter: &crate::run::Reporter,
) -> Result<Option<Arc<Remote>>, Error> {
    if context.settings.offline {
        return Ok(None);
    }
    let workspace = &plan.workspace;
    let project = (workspace.root.as_path(), &workspace.members[0].manifest);
    let config = super::cache::remote_config(context, Some(project))?;
    Ok(config.map(|config| Arc::new(Remote::new(config, reporter.clone()))))
}

fn report(printer: &super::Printer, event: Event<'_>) {
    match event {
        Event::CacheHit { label, key, remote } => {
            let hit = if remote { "remote cache hit" } else { "cache hit" };
            printer.status(
                "Replaying",
                format!("{label} ({hit}, {})", crate::run::key::short(key)),
            );
        }
        Event::Running { label, key, cached } => {
            let why = if cached { "cache miss" } else { "cache disabled" };
            printer.status(
                "Running",
                format!("{label} ({why}, {})", crate::run::key::short(key)),
            );
        }
        Event::Failed { label, reason } => printer.failure(format!("task `{label}` {reason}")),
        Event::Warning(message) => printer.warn(message),
        Event::Interrupted => printer.warn("interrupted: stopping the running tasks"),
        Event::Transferred {
            downloaded,
            downloaded_bytes,
            uploaded,
            uploaded_bytes,
        } => {
            let results = |n: u64| if n == 1 { "result" } else { "results" };
            if downloaded > 0 {
                printer.status(
                    "Downloaded",
                    format!(
                        "{downloaded} {} from the remote cache ({})",
                        results(downloaded),
                        human_bytes(downloaded_bytes)
                    ),
                );
            }
            if uploaded > 0 {
                printer.status(
                    "Uploaded",
                    format!(
                        "{uploaded} {} to the remote cache ({})",
                        results(uploaded),
                        human_bytes(uploaded_bytes)
                    ),
                );
            }
        }
    }
}

fn summarize(context: &Context, report: &Report) -> Result<ExitCode, Error> {
    let printer = context.printer;
    let count = |f: fn(&Outcome) -> bool| report.outcomes.iter().filter(|(_, o)| f(o)).count();
    let cached = count(|o| matches!(o, Outcome::Cached { .. }));
    let ran = count(|o| matches!(o, Outcome::Ran { .. }));
    let total = report.outcomes.len();
    let tasks = if total == 1 { "task" } else { "tasks" };
    let elapsed = report.elapsed.as_secs_f64();
    if report.interrupted {
        printer.failure(format!(
            "interrupted after {elapsed:.2}s ({ran} ran, {cached} cached of {total} {tasks})"
        ));
        return Ok(ExitCode::from(INTERRUPTED));
    }
    let failed = report.failed();
    if failed.is_empty() {
        printer.status(
            "Finished",
            format!("{total} {tasks} in {elapsed:.2}s ({cached} cached, {ran} ran)"),
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (label, outcome) in &report.outcomes {
        match outcome {
            Outcome::Skipped { because } => {
                printer.detail(format!("  skipped {label}: it depends on {because}"))
            }
            Outcome::NotRun => printer.detail(format!("  not run: {label}")),
            _ => {}
        }
    }
    let names = failed
        .iter()
        .map(|l| format!("`{l}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let plural = if failed.len() == 1 { "task" } else { "tasks" };
    printer.failure(format!(
        "{} {plural} failed: {names} ({cached} cached, {ran} ran, {total} in all)",
        failed.len()
    ));
    Ok(ExitCode::from(crate::error::EXIT_FAILURE as u8))
}

#[derive(serde::Serialize)]
struct DryRunRow {
    task: String,
    member: String,
    dir: String,
    name: String,
    command: String,
    key: String,
    inputs: usize,
    cache: CacheStatus,
    depends_on: Vec<String>,
    outputs: Vec<String>,
}

fn dry_run_rows(plan: &Plan) -> Vec<DryRunRow> {
    plan.graph
        .order
        .iter()
        .map(|&id| {
            let node = &plan.graph.nodes[id];
            let member = &plan.workspace.members[node.member];
            DryRunRow {
                task: node.label.clone(),
                member: member.name.clone(),
                dir: member.relative.clone(),
                name: node.name.clone(),
                command: node.task.command.clone(),
                key: String::new(),
                inputs: 0,
                cache: CacheStatus::Miss,
                depends_on: node
                    .dependencies
                    .iter()
                    .map(|&d| plan.graph.nodes[d].label.clone())
                    .collect(),
                outputs: node.task.outputs.clone(),
            }
        })
        .collect()
}

fn print_dry_run(format: DryRun, mut rows: Vec<DryRunRow>, report: &Report) -> Result<ExitCode, Error> {
    for (row, (_, outcome)) in rows.iter_mut().zip(&report.outcomes) {
        match outcome {
            Outcome::Planned { key, inputs, cache } => {
                row.key = key.clone();
                row.inputs = *inputs;
                row.cache = *cache;
            }
            Outcome::Failed { reason, .. } => {
                return Err(Error::Internal(format!(
                    "cannot compute the key of `{}`: {reason}",
                    row.task
                )));
            }
            _ => {}
        }
    }
    let mut out = String::new();
    match format {
        DryRun::Json => {
            out =
                serde_json::to_string_pretty(&serde_json::json!({ "tasks": rows })).expect("rows serialize");
            out.push('\n');
        }
        DryRun::Text => {
            let width = rows.iter().map(|r| r.task.len()).max().unwrap_or(4).max(4);
            out.push_str(&format!(
                "{:width$}  {:64}  {:>6}  CACHE\n",
                "TASK", "KEY", "INPUTS"
            ));
            for row in &rows {
                let cache = match row.cache {
                    CacheStatus::Hit => "hit",
                    CacheStatus::Miss => "miss",
                    CacheStatus::Disabled => "disabled",
                };
                out.push_str(&format!(
                    "{:width$}  {:64}  {:>6}  {cache}\n",
                    row.task, row.key, row.inputs
                ));
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}
