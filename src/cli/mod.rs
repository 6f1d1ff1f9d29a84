//! The command line: clap definitions (the doc comments are the help text), settings resolved
//! once from flags and environment, and dispatch to one file per command.

mod activate;
mod add;
mod cache;
mod direnv;
mod env;
mod exec;
mod hook_env;
mod info;
mod init;
mod list;
mod lock;
mod outdated;
mod printer;
mod progress;
mod remove;
mod run;
#[cfg(feature = "server")]
mod serve;
mod shell;
mod sync;
mod tree;
mod trust;
mod which;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use printer::Printer;

use crate::cache::Cache;
use crate::env_vars;
use crate::error::{Error, EXIT_FAILURE};
use crate::manifest::Project;
use crate::platform::Platform;
use crate::settings::{self, HttpSettings, Settings};

/// A declarative per-project environment manager with lockfiles.
#[derive(Debug, Parser)]
#[command(name = "velo", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, clap::Args)]
struct GlobalArgs {
    /// Run as if velo was started in DIR.
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    directory: Option<PathBuf>,

    /// Use only cached data; never touch the network.
    #[arg(long, global = true, env = env_vars::VELO_OFFLINE, hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    offline: bool,

    /// Where velo keeps its caches.
    #[arg(long, global = true, env = env_vars::VELO_CACHE_DIR, hide_env_values = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Print only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Print more about what velo is doing.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a `velo.json` in the current directory.
    Init(init::InitArgs),
    /// Add dependencies to `velo.json` and update the lock.
    Add(add::AddArgs),
    /// Remove dependencies from `velo.json` and update the lock.
    Remove(remove::RemoveArgs),
    /// Solve the dependencies in `velo.json` and write `velo.lock`.
    Lock(lock::LockArgs),
    /// Install the locked packages into the project's `.velo/`.
    Sync(sync::SyncArgs),
    /// Run a command with the project's tools and environment.
    Exec(exec::ExecArgs),
    /// Print the project's environment for a shell, or as JSON.
    Env(env::EnvArgs),
    /// Start your shell with the project's environment.
    Shell(shell::ShellArgs),
    /// Print the hook that activates projects as you `cd` (add it to your shell's rc file).
    Activate(activate::ActivateArgs),
    /// Print the direnv library that makes `use velo` work in `.envrc`.
    Direnv,
    /// Let the shell hook apply this project's env, PATH and auto_sync when you enter it.
    ///
    /// Until then, entering a project changes nothing. The trust is recorded in `trust.json`
    /// in velo's config directory with a digest of those parts of `velo.json`; a change to
    /// them asks again.
    Trust(trust::TrustArgs),
    /// Stop the shell hook from applying this project's environment.
    Untrust(trust::UntrustArgs),
    /// Compute an environment change for the shell hook (used by `velo activate`).
    #[command(hide = true)]
    HookEnv(hook_env::HookEnvArgs),
    /// Print the path of a command in the project's `.velo/bin`.
    Which(which::WhichArgs),
    /// List the installed packages and their commands.
    List(list::ListArgs),
    /// Show the locked dependency tree.
    Tree(tree::TreeArgs),
    /// Show dependencies that have newer versions.
    Outdated(outdated::OutdatedArgs),
    /// Show a forge package's release and the asset velo picks for each platform.
    Info(info::InfoArgs),
    /// Run tasks and what they depend on, replaying cached results.
    Run(run::RunArgs),
    /// Inspect and manage the cache.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Serve a remote build cache for `velo run` (and `turbo`) over local or S3 storage.
    #[cfg(feature = "server")]
    Serve(Box<serve::ServeArgs>),
}

/// A size argument: `500M`, `2G`, or bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    crate::ops::cache::parse_size(text)
        .ok_or_else(|| format!("`{text}` is not a size; write it like `500M` or `2G`"))
}

/// What every command gets: settings, the printer and where it was started.
#[derive(Clone)]
pub struct Context {
    pub settings: Settings,
    pub printer: Printer,
    pub cwd: PathBuf,
}

impl Context {
    pub fn project(&self) -> Result<Project, Error> {
        Ok(Project::discover(&self.cwd)?)
    }
}

/// Parse the command line, run the command, and turn the result into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer {
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
    };
    let context = match context(&cli.global, printer) {
        Ok(context) => context,
        Err(err) => {
            printer.error(&err);
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            printer.error(&Error::Internal(format!(
                "failed to start the async runtime: {err}"
            )));
            return ExitCode::from(EXIT_FAILURE as u8);
        }
    };
    let result = runtime.block_on(run(cli.command, &context));
    // Prefetches that are no longer needed must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(0));
    match result {
        Ok(code) => code,
        Err(err) => {
            printer.error(&err);
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

async fn run(command: Command, context: &Context) -> Result<ExitCode, Error> {
    match command {
        Command::Init(args) => init::run(args, context),
        Command::Add(args) => add::run(args, context).await,
        Command::Remove(args) => remove::run(args, context).await,
        Command::Lock(args) => lock::run(args, context).await,
        Command::Sync(args) => sync::run(args, context).await,
        Command::Exec(args) => exec::run(args, context).await,
        Command::Env(args) => env::run(args, context),
        Command::Shell(args) => shell::run(args, context).await,
        Command::Activate(args) => activate::run(args),
        Command::Direnv => direnv::run(),
        Command::HookEnv(args) => hook_env::run(args, context).await,
        Command::Trust(args) => trust::trust(args, context),
        Command::Untrust(args) => trust::untrust(args, context),
        Command::Which(args) => which::run(args, context),
        Command::List(args) => list::run(args, context),
        Command::Run(args) => run::run(args, context).await,
        Command::Cache(command) => cache::run(command, context).await,
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(*args, context).await,
        Command::Tree(args) => tree::run(args, context).await,
        Command::Outdated(args) => outdated::run(args, context).await,
        Command::Info(args) => info::run(args, context).await,
    }
}

fn context(global: &GlobalArgs, printer: Printer) -> Result<Context, Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let cwd = match &global.directory {
        Some(dir) => cwd.join(dir),
        None => cwd,
    };
    let cache_dir = global
        .cache_dir
        .clone()
        .or_else(settings::default_cache_dir)
        .ok_or_else(|| {
            Error::usage(
                "cannot find a cache directory for this user",
                Some(format!(
                    "set `{}` to a writable directory",
                    env_vars::VELO_CACHE_DIR
                )),
            )
        })?;
    let host = match std::env::var(env_vars::VELO_PLATFORM) {
        Ok(name) if !name.is_empty() => Some(
            name.parse::<Platform>()
                .map_err(|err| Error::usage(format!("invalid `{}`: {err}", env_vars::VELO_PLATFORM), None))?,
        ),
        _ => Platform::host(),
    };
    let mut http = HttpSettings::default();
    if let Some(secs) = env_number(env_vars::VELO_HTTP_TIMEOUT)? {
        http.timeout = Duration::from_secs(secs.max(1));
    }
    if let Some(retries) = env_number(env_vars::VELO_HTTP_RETRIES)? {
        http.retries = retries.min(20) as u32;
    }
    if let Some(millis) = env_number(env_vars::VELO_HTTP_RETRY_DELAY_MS)? {
        http.retry_delay = Duration::from_millis(millis);
    }
    let concurrent_downloads = env_number(env_vars::VELO_CONCURRENT_DOWNLOADS)?
        .map_or(settings::DEFAULT_CONCURRENT_DOWNLOADS, |n| {
            n.clamp(1, 64) as usize
        });
    let max_unpacked_size =
        env_number(env_vars::VELO_MAX_UNPACKED_SIZE)?.unwrap_or(settings::DEFAULT_MAX_UNPACKED_SIZE);
    let config_dir = std::env::var_os(env_vars::VELO_CONFIG_DIR)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(settings::default_config_dir);
    let config = match &config_dir {
        Some(dir) => crate::config::Config::load(&cwd.join(dir)).unwrap_or_else(|err| {
            printer.warn(format!("{err}; using the defaults"));
            crate::config::Config::defaults_in(&cwd.join(dir))
        }),
        None => crate::config::Config::default(),
    };
    let settings = Settings {
        config,
        cache: Cache::new(cwd.join(cache_dir)),
        offline: global.offline,
        host,
        http,
        concurrent_downloads,
        max_unpacked_size,
        homebrew: with_bottle_url_from_env(settings::HomebrewSettings::default())?,
    };
    Ok(Context {
        settings,
        printer,
        cwd,
    })
}

fn env_number(name: &str) -> Result<Option<u64>, Error> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::usage(format!("`{name}` must be a whole number, not `{value}`"), None)),
        _ => Ok(None),
    }
}

/// `VELO_HOMEBREW_BOTTLE_URL` over the default bottle base (the Homebrew settings helper
/// resolves the rest: `HOMEBREW_BOTTLE_DOMAIN`, `config.toml`).
fn with_bottle_url_from_env(
    mut homebrew: settings::HomebrewSettings,
) -> Result<settings::HomebrewSettings, Error> {
    const NAME: &str = "VELO_HOMEBREW_BOTTLE_URL";
    if let Ok(value) = std::env::var(NAME) {
        if !value.trim().is_empty() {
            homebrew.bottle_url = url::Url::parse(value.trim().trim_end_matches('/'))
                .map_err(|_| Error::usage(format!("`{NAME}` must be a URL, not `{value}`"), None))?;
        }
    }
    Ok(homebrew)
}
