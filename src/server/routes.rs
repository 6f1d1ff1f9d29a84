//! velo's API: `/v1/negotiate`, `/v1/status`, the local driver's signed artifact URLs, and
//! `/healthz` and `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::metrics::Metrics;
use super::storage::{Put, Signed, Storage};
use super::{ApiError, Shared};
use crate::protocol::{
    Action, FirstWriteWins, NegotiateRequest, NegotiateResponse, ResponseItem, Scope, Status, StatusResponse,
};

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        // The negotiation body is read after its token is checked, up to `max_request_size`.
        .route("/v1/negotiate", post(negotiate))
        // Artifact bodies are streamed to storage, which bounds them as they arrive.
        .route(
            "/v1/artifacts/{hash}",
            get(download).put(upload).layer(DefaultBodyLimit::disable()),
        )
        .merge(super::turbo::router())
        .with_state(state)
}

/// The object a velo key is stored as.
pub fn object(key: &str) -> String {
    format!("v1/{}", key.to_ascii_lowercase())
}

async fn healthz(State(state): State<Shared>) -> Response {
    let mut body = serde_json::json!({
        "status": "ok",
        "storage": state.storage.kind(),
        "first_write_wins": state.first_write_wins,
    });
    if state.first_write_wins == FirstWriteWins::Checked {
        body["warning"] = super::UNENFORCED.into();
    }
    Json(body).into_response()
}

async fn metrics(State(state): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn status(State(state): State<Shared>, headers: HeaderMap) -> Result<Json<StatusResponse>, ApiError> {
    let scope = state.authorize(&headers, Scope::Read)?;
    Ok(Json(StatusResponse {
        scope,
        storage: state.storage.kind().to_string(),
        first_write_wins: state.first_write_wins,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }))
}

async fn negotiate(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<NegotiateResponse>, ApiError> {
    let started = Instant::now();
    let scope = state.authorize(&headers, Scope::Read)?;
    let body = ApiError::read_body(body, state.limits.max_request_size).await?;
    let request: NegotiateRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("the body is not a negotiation: {err}")))?;
    ApiError::check_count(
        request.items.len(),
        state.limits.max_items,
        "items in one negotiation",
    )?;
    for item in &request.items {
        ApiError::check_key(&item.hash, "key")?;
        if item.action == Action::Upload {
            if scope < Scope::ReadWrite {
                return Err(ApiError::forbidden());
            }
            if let Some(size) = item.size.filter(|&size| size > state.limits.max_artifact_size) {
                return Err(ApiError::too_large(format!(
                    "`{}` is {size} bytes; the server's limit is {} bytes",
                    item.hash, state.limits.max_artifact_size
                )));
            }
        }
    }
    let base = base_url(&state, &headers);
    // One look at storage per key, however many items name it (velo asks to download and to
    // upload each key it lacks).
    let unique: BTreeSet<String> = request.items.iter().map(|item| object(&item.hash)).collect();
    let sizes: BTreeMap<String, Option<u64>> = state
        .storage
        .head_many(unique.into_iter().collect())
        .await?
        .into_iter()
        .collect();
    let answers = request.items.into_iter().map(|item| {
        let object = object(&item.hash);
        let size = sizes[&object];
        let (status, signed) = match (item.action, size) {
            (Action::Download, Some(_)) => (Status::Found, Some(sign_get(&state, &base, &item.hash))),
            (Action::Download, None) => (Status::Missing, None),
            (Action::Upload, Some(_)) => (Status::Skipped, None),
            // Where storage cannot refuse a second write, this server hands out one upload URL
            // per key at a time, so its own clients cannot race.
            (Action::Upload, None) if !state.lease(&object) => (Status::Skipped, None),
            (Action::Upload, None) => (
                Status::UploadNeeded,
                Some(sign_put(&state, &base, &item.hash, item.size)),
            ),
        };
        (item, status, signed, size)
    });
    let mut items = Vec::with_capacity(answers.len());
    for (item, status, signed, size) in answers {
        let metrics = &state.metrics;
        match status {
            Status::Found => {
                Metrics::count(&metrics.hits, "velo", 1);
                if matches!(state.storage, Storage::S3(_)) {
                    metrics.add_bytes("download", "presigned", size.unwrap_or(0));
                }
            }
            Status::Missing => Metrics::count(&metrics.misses, "velo", 1),
            Status::UploadNeeded => {
                Metrics::count(&metrics.uploads, "velo", 1);
                if matches!(state.storage, Storage::S3(_)) {
                    metrics.add_bytes("upload", "presigned", item.size.unwrap_or(0));
                }
            }
            Status::Skipped => Metrics::count(&metrics.skipped, "velo", 1),
        }
        let (url, headers) = signed.map_or((None, BTreeMap::new()), |s| (Some(s.url), s.headers));
        items.push(ResponseItem {
            hash: item.hash,
            status,
            url,
            headers,
            size: size.filter(|_| status == Status::Found),
        });
    }
    state.metrics.negotiated_items.inc_by(items.len() as u64);
    state
        .metrics
        .negotiation_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(Json(NegotiateResponse { items }))
}

/// Where clients reach this server: `--public-url`, else the request's `Host`.
fn base_url(state: &Shared, headers: &HeaderMap) -> String {
    if let Some(url) = &state.limits.public_url {
        return url.as_str().trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn sign_get(state: &Shared, base: &str, key: &str) -> Signed {
    match &state.storage {
        Storage::S3(s3) => s3.presign_get(&object(key), false),
        Storage::Local(_) => local_url(state, base, "GET", key),
    }
}

/// An upload URL; with the object's size, S3 refuses a body of any other length.
fn sign_put(state: &Shared, base: &str, key: &str, size: Option<u64>) -> Signed {
    match &state.storage {
        Storage::S3(s3) => s3.presign_put(&object(key), size),
        Storage::Local(_) => local_url(state, base, "PUT", key),
    }
}

fn url_signature(secret: &[u8], method: &str, key: &str, expires: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{method}\n{}\n{expires}", object(key)).as_bytes());
    mac
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A URL to this server's own artifact route, signed like a presigned S3 URL: it names the
/// method, the key and an expiry time, so it needs no token and is useless for anything else.
fn local_url(state: &Shared, base: &str, method: &str, key: &str) -> Signed {
    let expires = unix_now() + state.limits.url_expiry.as_secs();
    let signature = hex::encode(
        url_signature(&state.limits.url_secret, method, key, expires)
            .finalize()
            .into_bytes(),
    );
    Signed {
        url: format!("{base}/v1/artifacts/{key}?expires={expires}&signature={signature}"),
        headers: BTreeMap::new(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct UrlSignature {
    expires: Option<u64>,
    signature: Option<String>,
}

fn check_url(state: &Shared, method: &str, key: &str, query: &UrlSignature) -> Result<(), ApiError> {
    ApiError::check_key(key, "key")?;
    if !matches!(state.storage, Storage::Local(_)) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "artifacts are served by object storage; ask /v1/negotiate for a URL",
        ));
    }
    let (Some(expires), Some(signature)) = (query.expires, &query.signature) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_signature",
            "this URL is not signed; ask /v1/negotiate for one",
        ));
    };
    let valid = hex::decode(signature).is_ok_and(|signature| {
        url_signature(&state.limits.url_secret, method, key, expires)
            .verify_slice(&signature)
            .is_ok()
    });
    if !valid {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_signature",
            "the URL's signature is not valid",
        ));
    }
    if expires < unix_now() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "expired",
            "the URL has expired; negotiate again",
        ));
    }
    Ok(())
}

async fn download(
    State(state): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<UrlSignature>,
) -> Result<Response, ApiError> {
    check_url(&state, "GET", &key, &query)?;
    stream_object(&state, &object(&key), "velo").await
}

/// Send an object from the local driver, or 404.
pub async fn stream_object(state: &Shared, object: &str, api: &'static str) -> Result<Response, ApiError> {
    let Storage::Local(local) = &state.storage else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such object",
        ));
    };
    let Some((file, length)) = local.open(object).await? else {
        // A miss, not an error.
        Metrics::count(&state.metrics.misses, api, 1);
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    state.metrics.add_bytes("download", "server", length);
    if api == "turbo" {
        Metrics::count(&state.metrics.hits, api, 1);
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        body,
    )
        .into_response())
}

async fn upload(
    State(state): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<UrlSignature>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_url(&state, "PUT", &key, &query)?;
    let put = store_body(&state, &object(&key), &headers, body, "velo").await?;
    Ok(match put {
        Put::Created(_) => (
            StatusCode::CREATED,
            Json(serde_json::json!({"status": "created"})),
        )
            .into_response(),
        Put::Existed => (StatusCode::OK, Json(serde_json::json!({"status": "skipped"}))).into_response(),
    })
}

/// Write a request body to storage, first write wins, within the artifact size limit.
pub async fn store_body(
    state: &Shared,
    object: &str,
    headers: &HeaderMap,
    body: Body,
    api: &'static str,
) -> Result<Put, ApiError> {
    let length = crate::http::content_length(headers);
    let Some(_lease) = state.lease_for_upload(object) else {
        // Another upload of this key is under way through this server.
        Metrics::count(&state.metrics.skipped, api, 1);
        return Ok(Put::Existed);
    };
    let put = state
        .storage
        .put(
            object,
            body.into_data_stream(),
            length,
            state.limits.max_artifact_size,
        )
        .await?;
    match put {
        Put::Created(bytes) => {
            state.metrics.add_bytes("upload", "server", bytes);
            if api == "turbo" {
                Metrics::count(&state.metrics.uploads, api, 1);
            }
        }
        Put::Existed => Metrics::count(&state.metrics.skipped, api, 1),
    }
    Ok(put)
}
