//! The Turborepo remote cache API, so `turbo` can use `velo serve` as it is
//! (`TURBO_API=http://… TURBO_TOKEN=… TURBO_TEAM=…`).
//!
//! What turbo 2.11 needs, and what it gets: artifacts (zstd-compressed tar, opaque here) are
//! stored as `turbo/<team>/<hash>`; a miss is a 404; a second PUT of a key that exists is
//! answered 202 and keeps the first (turbo re-uploads after a hit it could not verify); with
//! object storage a GET is a 302 to a presigned URL (turbo follows it and drops its token), while
//! a PUT is carried to storage by the server (turbo does not follow a 307 on PUT).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::metrics::Metrics;
use super::routes::{store_body, stream_object};
use super::storage::Storage;
use super::{ApiError, Shared};
use crate::protocol::Scope;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/v8/artifacts/status", get(status))
        .route(
            "/v8/artifacts/{hash}",
            get(download)
                .head(exists)
                .put(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        // The query body is read after its token is checked, up to `max_request_size`.
        .route("/v8/artifacts", post(query))
        .route("/v8/artifacts/events", post(events))
}

/// An [`ApiError`] answered in the shape `turbo` parses.
pub struct TurboError(ApiError);

impl From<ApiError> for TurboError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<super::storage::StorageError> for TurboError {
    fn from(err: super::storage::StorageError) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for TurboError {
    fn into_response(self) -> Response {
        self.0.into_turbo_response()
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Team {
    team_id: Option<String>,
    slug: Option<String>,
}

impl Team {
    /// The prefix a team's artifacts live under: its id or slug when it is a plain name.
    fn prefix(&self) -> Result<String, ApiError> {
        let Some(name) = self.team_id.as_deref().or(self.slug.as_deref()) else {
            return Ok("turbo/default".to_string());
        };
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(ApiError::bad_request(
                "a team is 1 to 64 letters, digits, `-` or `_`",
            ));
        }
        Ok(format!("turbo/{name}"))
    }

    fn object(&self, hash: &str) -> Result<String, ApiError> {
        ApiError::check_key(hash, "hash")?;
        Ok(format!("{}/{}", self.prefix()?, hash.to_ascii_lowercase()))
    }
}

async fn status(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, TurboError> {
    state.authorize(&headers, Scope::Read)?;
    Ok(Json(serde_json::json!({"status": "enabled"})).into_response())
}

async fn exists(
    State(state): State<Shared>,
    Path(hash): Path<String>,
    Query(team): Query<Team>,
    headers: HeaderMap,
) -> Result<Response, TurboError> {
    state.authorize(&headers, Scope::Read)?;
    let object = team.object(&hash)?;
    match state.storage.head(&object).await? {
        Some(size) => Ok(([(header::CONTENT_LENGTH, size.to_string())], StatusCode::OK).into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn download(
    State(state): State<Shared>,
    Path(hash): Path<String>,
    Query(team): Query<Team>,
    headers: HeaderMap,
) -> Result<Response, TurboError> {
    state.authorize(&headers, Scope::Read)?;
    let object = team.object(&hash)?;
    let Storage::S3(s3) = &state.storage else {
        return Ok(stream_object(&state, &object, "turbo").await?);
    };
    match state.storage.head(&object).await? {
        Some(size) => {
            Metrics::count(&state.metrics.hits, "turbo", 1);
            state.metrics.add_bytes("download", "presigned", size);
            let signed = s3.presign_get(&object, true);
            Ok((StatusCode::FOUND, [(header::LOCATION, signed.url)]).into_response())
        }
        None => {
            Metrics::count(&state.metrics.misses, "turbo", 1);
            Ok(StatusCode::NOT_FOUND.into_response())
        }
    }
}

async fn upload(
    State(state): State<Shared>,
    Path(hash): Path<String>,
    Query(team): Query<Team>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, TurboError> {
    state.authorize(&headers, Scope::ReadWrite)?;
    let object = team.object(&hash)?;
    store_body(&state, &object, &headers, body, "turbo").await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"urls": [object]}))).into_response())
}

#[derive(Debug, serde::Deserialize)]
struct HashesQuery {
    hashes: Vec<String>,
}

/// `POST /v8/artifacts`: which of these hashes exist, with their sizes.
async fn query(
    State(state): State<Shared>,
    Query(team): Query<Team>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, TurboError> {
    state.authorize(&headers, Scope::Read)?;
    let body = ApiError::read_body(body, state.limits.max_request_size).await?;
    let request: HashesQuery = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("expected {{\"hashes\": [...]}}: {err}")))?;
    ApiError::check_count(
        request.hashes.len(),
        state.limits.max_items,
        "hashes in one query",
    )?;
    let objects = request
        .hashes
        .iter()
        .map(|hash| team.object(hash))
        .collect::<Result<Vec<_>, _>>()?;
    let sizes = state.storage.head_many(objects).await?;
    let found: BTreeMap<String, Option<serde_json::Value>> = request
        .hashes
        .into_iter()
        .zip(sizes)
        .map(|(hash, (_, size))| {
            let artifact =
                size.map(|size| serde_json::json!({"size": size, "taskDurationMs": 0, "tag": null}));
            (hash, artifact)
        })
        .collect();
    Ok(Json(found).into_response())
}

/// Cache usage events: accepted and dropped.
async fn events(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, TurboError> {
    state.authorize(&headers, Scope::Read)?;
    Ok(StatusCode::OK.into_response())
}
