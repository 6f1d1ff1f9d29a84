//! `velo serve`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::Context;
use crate::env_vars;
use crate::error::Error;
use crate::server::auth::Tokens;
use crate::server::listen::ConnectionLimits;
use crate::server::storage::S3Config;
use crate::server::{Config, Limits, Retention, StorageConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free one (the log says which).
    #[arg(long, env = env_vars::VELO_SERVER_LISTEN, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,

    /// Where objects live: `file:///path` (a local directory, the default under the cache
    /// directory) or `s3://bucket` (with `--s3-endpoint`, `--s3-region` and the `AWS_*`
    /// credentials).
    #[arg(long, env = env_vars::VELO_SERVER_STORAGE, value_name = "URL")]
    storage: Option<String>,

    /// The tokens file: one token a line, `read SECRET` or `write SECRET`.
    #[arg(long, env = env_vars::VELO_SERVER_TOKENS_FILE, value_name = "PATH")]
    tokens_file: Option<PathBuf>,

    /// The URL clients reach this server at, used in the local driver's artifact URLs
    /// [default: from each request's Host header].
    #[arg(long, env = env_vars::VELO_SERVER_PUBLIC_URL, value_name = "URL")]
    public_url: Option<url::Url>,

    /// The secret that signs the local driver's artifact URLs; give every instance behind a
    /// load balancer the same one [default: random per process].
    #[arg(long, env = env_vars::VELO_SERVER_URL_SECRET, hide_env_values = true, value_name = "SECRET")]
    url_secret: Option<String>,

    /// How long signed and presigned URLs stay valid, in seconds.
    #[arg(long, env = env_vars::VELO_SERVER_URL_EXPIRY, default_value_t = 900, value_name = "SECONDS")]
    url_expiry: u64,

    /// The S3 endpoint, e.g. `http://127.0.0.1:3900`; else `AWS_ENDPOINT_URL`, else AWS.
    #[arg(long, env = env_vars::VELO_SERVER_S3_ENDPOINT, value_name = "URL")]
    s3_endpoint: Option<url::Url>,

    /// The S3 region; else `AWS_REGION`, else `us-east-1`.
    #[arg(long, env = env_vars::VELO_SERVER_S3_REGION, value_name = "REGION")]
    s3_region: Option<String>,

    /// Address the bucket as `bucket.host` (AWS) instead of `host/bucket` (path style, which
    /// Garage, MinIO and Ceph want).
    #[arg(long, env = env_vars::VELO_SERVER_S3_VIRTUAL_HOST, value_parser = clap::builder::FalseyValueParser::new())]
    s3_virtual_host: bool,

    /// The S3 access key id; else `AWS_ACCESS_KEY_ID`.
    #[arg(long, value_name = "ID")]
    s3_access_key_id: Option<String>,

    /// The S3 secret access key; else `AWS_SECRET_ACCESS_KEY`.
    #[arg(long, value_name = "SECRET")]
    s3_secret_access_key: Option<String>,

    /// The largest artifact accepted: `500M`, `2G`, or bytes.
    #[arg(long, env = env_vars::VELO_SERVER_MAX_ARTIFACT_SIZE, default_value = "2G", value_parser = super::parse_size, value_name = "SIZE")]
    max_artifact_size: u64,

    /// The largest negotiation body accepted.
    #[arg(long, env = env_vars::VELO_SERVER_MAX_REQUEST_SIZE, default_value = "1M", value_parser = super::parse_size, value_name = "SIZE")]
    max_request_size: u64,

    /// Local driver: remove objects not used for this long (`30d`, `12h`, `90m`, seconds).
    #[arg(long, env = env_vars::VELO_SERVER_MAX_AGE, value_parser = parse_duration, value_name = "AGE")]
    max_age: Option<Duration>,

    /// Local driver: past this total size, remove the least recently used objects.
    #[arg(long, env = env_vars::VELO_SERVER_MAX_SIZE, value_parser = super::parse_size, value_name = "SIZE")]
    max_size: Option<u64>,

    /// Close a connection whose request headers have not all arrived after this long
    /// (`10s`, `1m`, seconds); idle keep-alive connections too.
    #[arg(long, env = env_vars::VELO_SERVER_HEADER_READ_TIMEOUT, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    header_read_timeout: Duration,

    /// Close a connection that moved bytes (either way) slower than 1 KiB/s on average, with this
    /// long as slack (a stalled upload, a body sent a byte now and then, a client that stopped
    /// reading).
    #[arg(long, env = env_vars::VELO_SERVER_IDLE_TIMEOUT, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    idle_timeout: Duration,

    /// Serve at most this many connections at once; more wait until one closes.
    #[arg(long, env = env_vars::VELO_SERVER_MAX_CONNECTIONS, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_connections: u32,

    /// Log lines as `text` or `json`.
    #[arg(long, env = env_vars::VELO_SERVER_LOG_FORMAT, default_value = "text", value_enum)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it like `30d`, `12h` or `90m`"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration; write it like `30d`, `12h` or `90m`"
            ))
        }
    };
    Ok(Duration::from_secs(number * seconds))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub async fn run(args: ServeArgs, context: &Context) -> Result<ExitCode, Error> {
    let Some(tokens_file) = args.tokens_file else {
        return Err(Error::usage(
            "`velo serve` needs a tokens file",
            Some(format!(
                "write lines like `write <secret>` (CI) and `read <secret>` (laptops) to a file and pass `--tokens-file PATH` or set `{}`",
                env_vars::VELO_SERVER_TOKENS_FILE
            )),
        ));
    };
    let tokens = Tokens::load(&tokens_file).map_err(|err| Error::usage(crate::error::chain(&err), None))?;
    let storage = match args.storage.as_deref() {
        None => StorageConfig::Local(context.settings.cache.root().join("serve-v1")),
        Some(url) => storage(
            url,
            S3Settings {
                endpoint: args.s3_endpoint,
                region: args.s3_region,
                virtual_host: args.s3_virtual_host,
                access_key_id: args.s3_access_key_id,
                secret_access_key: args.s3_secret_access_key,
                expiry: Duration::from_secs(args.url_expiry),
            },
        )?,
    };
    let url_secret = match args.url_secret {
        Some(secret) => secret.into_bytes(),
        None => (0..32).map(|_| fastrand::u8(..)).collect(),
    };
    crate::server::serve(Config {
        listen: args.listen,
        storage,
        tokens,
        limits: Limits {
            public_url: args.public_url,
            url_secret,
            url_expiry: Duration::from_secs(args.url_expiry),
            max_artifact_size: args.max_artifact_size,
            max_request_size: usize::try_from(args.max_request_size).unwrap_or(usize::MAX),
            max_items: 10_000,
        },
        retention: Retention {
            max_age: args.max_age,
            max_size: args.max_size,
        },
        connections: ConnectionLimits {
            header_read_timeout: args.header_read_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections as usize,
        },
        json_logs: args.log_format == LogFormat::Json,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

struct S3Settings {
    endpoint: Option<url::Url>,
    region: Option<String>,
    virtual_host: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    expiry: Duration,
}

fn storage(url: &str, s3: S3Settings) -> Result<StorageConfig, Error> {
    let invalid = || {
        Error::usage(
            format!("`--storage {url}` is not a storage URL"),
            Some("use `file:///absolute/path` or `s3://bucket`".to_string()),
        )
    };
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    match parsed.scheme() {
        "file" => {
            let path = parsed.to_file_path().map_err(|()| invalid())?;
            Ok(StorageConfig::Local(path))
        }
        "s3" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(invalid)?
                .to_string();
            let endpoint = match s3
                .endpoint
                .or_else(|| env(env_vars::AWS_ENDPOINT_URL)?.parse().ok())
            {
                Some(endpoint) => endpoint,
                None => "https://s3.amazonaws.com".parse().expect("a valid URL"),
            };
            let missing = |what: &str, flag: &str, var: &str| {
                Error::usage(
                    format!("S3 storage needs {what}"),
                    Some(format!("pass `{flag}` or set `{var}`")),
                )
            };
            let access_key_id = s3
                .access_key_id
                .or_else(|| env(env_vars::AWS_ACCESS_KEY_ID))
                .ok_or_else(|| {
                    missing(
                        "an access key id",
                        "--s3-access-key-id",
                        env_vars::AWS_ACCESS_KEY_ID,
                    )
                })?;
            let secret_access_key = s3
                .secret_access_key
                .or_else(|| env(env_vars::AWS_SECRET_ACCESS_KEY))
                .ok_or_else(|| {
                    missing(
                        "a secret access key",
                        "--s3-secret-access-key",
                        env_vars::AWS_SECRET_ACCESS_KEY,
                    )
                })?;
            Ok(StorageConfig::S3(Box::new(S3Config {
                endpoint,
                bucket,
                region: s3
                    .region
                    .or_else(|| env(env_vars::AWS_REGION))
                    .unwrap_or_else(|| "us-east-1".to_string()),
                virtual_host: s3.virtual_host,
                access_key_id,
                secret_access_key,
                session_token: env(env_vars::AWS_SESSION_TOKEN),
                expiry: s3.expiry,
            })))
        }
        _ => Err(invalid()),
    }
}
