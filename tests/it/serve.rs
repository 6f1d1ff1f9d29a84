//! `velo serve`, over HTTP: the real binary on a loopback port, over a local directory and over
//! a bucket in a real moto server (`moto[server]`), driven the way `velo run` and `turbo` drive
//! it. Scenarios that make sense for both drivers run once per driver
//! (`serve::<scenario>::local` and `serve::<scenario>::s3`).
//!
//! moto does not check signatures or expiry and answers a refused `If-None-Match: *` PUT with
//! 403, so with S3 the tests check what the server signs and what the bucket holds, and leave
//! expiry to the local driver, where the server itself checks its URLs.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::SinkExt;
use serde_json::{json, Value};

use crate::common::assert_contains;
use crate::common::serve::{
    authorized, client, get_from, http, key, metric, put_to, put_url, run_to_exit, send_json, Cache, Driver,
    Server, READ_TOKEN, WRITE_TOKEN,
};

/// A token that is in no tokens file.
const WRONG_TOKEN: &str = "guessed-token-5555555555555555";

/// `mod NAME { local, s3 }`: run the scenario `NAME(driver)` once per driver.
macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::Driver;

                #[tokio::test(flavor = "multi_thread")]
                async fn local() {
                    super::$name(Driver::Local).await;
                }

                #[tokio::test(flavor = "multi_thread")]
                async fn s3() {
                    if !crate::common::serve::s3_available() {
                        return;
                    }
                    super::$name(Driver::S3).await;
                }
            }
        )*
    };
}

both_drivers!(
    negotiate_round_trip,
    upload_race,
    auth,
    bad_keys,
    size_limits,
    turbo,
    health_and_metrics,
);

fn kind(driver: Driver) -> &'static str {
    match driver {
        Driver::Local => "local",
        Driver::S3 => "s3",
    }
}

/// The status a successful PUT to a negotiated URL gets: the local driver says it created the
/// object, S3 just says OK.
fn created(driver: Driver) -> u16 {
    match driver {
        Driver::Local => 201,
        Driver::S3 => 200,
    }
}

/// The headers a negotiated URL needs: none for the local driver; for S3 the ones signed into
/// the presigned URL.
fn expected_headers(driver: Driver, action: &str) -> Value {
    match (driver, action) {
        (Driver::Local, _) => Value::Null,
        (Driver::S3, "upload") => json!({"if-none-match": "*", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
        (Driver::S3, _) => json!({"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
    }
}

/// Where a negotiated URL must point: the server's own artifact route, or the object in the
/// bucket.
fn expected_url_prefix(cache: &Cache, server: &Server, object: &str) -> String {
    match &cache.store {
        crate::common::serve::Store::Local { .. } => {
            format!(
                "{}/v1/artifacts/{}?",
                server.url(),
                object.trim_start_matches("v1/")
            )
        }
        crate::common::serve::Store::S3 { bucket, endpoint } => format!("{endpoint}/{bucket}/{object}?"),
    }
}

/// The objects storage holds, as (name, bytes): `v1/<key>` and `turbo/<team>/<hash>`, whatever
/// the driver's layout (the local driver fans keys out by their first two digits).
fn stored(cache: &Cache) -> Vec<(String, Vec<u8>)> {
    match cache.driver() {
        Driver::Local => cache
            .objects()
            .into_iter()
            .map(|(path, bytes)| {
                let mut parts: Vec<&str> = path.split('/').collect();
                let name = parts.pop().unwrap();
                let fan = parts.pop().unwrap();
                assert_eq!(
                    fan,
                    &name[..name.len().min(2)],
                    "{path} is not fanned out by its first digits"
                );
                (format!("{}/{name}", parts.join("/")), bytes)
            })
            .collect(),
        Driver::S3 => cache
            .s3_keys("")
            .into_iter()
            .map(|key| {
                let bytes = cache.s3_object(&key).unwrap();
                (key, bytes)
            })
            .collect(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Binary content that is not valid UTF-8, so nothing along the way may treat it as text.
fn artifact(label: &str, len: usize) -> Vec<u8> {
    let seed = blake3::hash(label.as_bytes());
    let mut reader = blake3::Hasher::new().update(seed.as_bytes()).finalize_xof();
    let mut bytes = vec![0; len];
    reader.fill(&mut bytes);
    bytes
}

// 1. Negotiation: a miss, an upload URL, the PUT, then a hit whose URL serves the same bytes
//    and an upload that is skipped.
async fn negotiate_round_trip(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let hash = key("round trip");
    let body = artifact("round trip", 70_000);

    let item = server.negotiate_one(READ_TOKEN, &hash, "download", None).await;
    assert_eq!(item, json!({"hash": hash, "status": "missing"}));

    let item = server
        .negotiate_one(WRITE_TOKEN, &hash, "upload", Some(body.len() as u64))
        .await;
    assert_eq!(item["hash"], hash.as_str());
    assert_eq!(item["status"], "upload_needed");
    let mut headers = expected_headers(driver, "upload");
    if driver == Driver::S3 {
        // The declared size is signed in: the bucket refuses any other length.
        headers["content-length"] = json!(body.len().to_string());
    }
    assert_eq!(item["headers"], headers);
    assert_eq!(item.get("size"), None, "{item}");
    let url = item["url"].as_str().unwrap();
    let prefix = expected_url_prefix(&cache, &server, &format!("v1/{hash}"));
    assert!(url.starts_with(&prefix), "{url} should start with {prefix}");

    let (status, response) = put_to(&item, body.clone()).await;
    assert_eq!(status, created(driver), "{response}");
    if driver == Driver::Local {
        assert_eq!(
            serde_json::from_str::<Value>(&response).unwrap(),
            json!({"status": "created"})
        );
    }
    assert_eq!(stored(&cache), vec![(format!("v1/{hash}"), body.clone())]);

    let item = server.negotiate_one(READ_TOKEN, &hash, "download", None).await;
    assert_eq!(item["status"], "found", "{item}");
    assert_eq!(item["size"], body.len());
    assert_eq!(item["headers"], expected_headers(driver, "download"));
    assert!(item["url"].as_str().unwrap().starts_with(&prefix), "{item}");
    let (status, bytes) = get_from(&item).await;
    assert_eq!(status, 200);
    assert!(bytes == body, "the download differs from the upload");

    let item = server
        .negotiate_one(WRITE_TOKEN, &hash, "upload", Some(body.len() as u64))
        .await;
    assert_eq!(item, json!({"hash": hash, "status": "skipped"}));

    // One negotiation for several keys answers each, in order.
    let other = key("round trip, other");
    let (status, answer) = server
        .negotiate(
            Some(WRITE_TOKEN),
            &json!({"items": [
                {"hash": other, "action": "download"},
                {"hash": hash, "action": "download"},
                {"hash": hash, "action": "upload", "size": 1},
                {"hash": other, "action": "upload", "size": 1},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let statuses: Vec<&str> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["missing", "found", "skipped", "upload_needed"]);
    let hashes: Vec<&str> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes, [other.as_str(), &hash, &hash, &other]);
}

// 2. Fifty clients race to upload one key, each with its own body: one object results, and
//    every client is told it is done.
async fn upload_race(driver: Driver) {
    const RACERS: usize = 50;
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let hash = key("race");
    let bodies: Vec<Vec<u8>> = (0..RACERS)
        .map(|i| format!("racer {i:02}\n").repeat(3000).into_bytes())
        .collect();
    // Everyone negotiates before anyone uploads, so all of them get a URL and race for real.
    let barrier = tokio::sync::Barrier::new(RACERS);
    let results = futures::future::join_all((0..RACERS).map(|i| {
        let (server, hash, bodies, barrier) = (&server, &hash, &bodies, &barrier);
        async move {
            let item = server
                .negotiate_one(WRITE_TOKEN, hash, "upload", Some(bodies[i].len() as u64))
                .await;
            barrier.wait().await;
            assert_eq!(item["status"], "upload_needed", "racer {i}: {item}");
            put_to(&item, bodies[i].clone()).await
        }
    }))
    .await;

    let objects = stored(&cache);
    assert_eq!(
        objects.len(),
        1,
        "one object: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let (name, content) = &objects[0];
    assert_eq!(name, &format!("v1/{hash}"));
    let winner = bodies.iter().position(|body| body == content).unwrap_or_else(|| {
        panic!(
            "the stored object is none of the bodies: {:?}…",
            text(&content[..40])
        )
    });

    match driver {
        Driver::Local => {
            let statuses: Vec<u16> = results.iter().map(|(status, _)| *status).collect();
            let created: Vec<usize> = (0..RACERS).filter(|&i| statuses[i] == 201).collect();
            assert_eq!(
                created.len(),
                1,
                "exactly one upload creates the object: {statuses:?}"
            );
            assert_eq!(
                created[0], winner,
                "the stored body is the one whose PUT was answered 201"
            );
            for (i, (status, response)) in results.iter().enumerate() {
                let response: Value = serde_json::from_str(response).unwrap();
                if i == winner {
                    assert_eq!(response, json!({"status": "created"}));
                } else {
                    assert_eq!(
                        (*status, response),
                        (200, json!({"status": "skipped"})),
                        "racer {i}"
                    );
                }
            }
            assert_eq!(
                cache.temp_files(),
                Vec::<String>::new(),
                "no temporary upload is left behind"
            );
        }
        Driver::S3 => {
            let mut succeeded = Vec::new();
            for (i, (status, response)) in results.iter().enumerate() {
                match status {
                    200 => succeeded.push(i),
                    // If-None-Match: * refused (moto says 403; S3 says 412, or 409 while
                    // another conditional write is in progress).
                    403 | 409 | 412 => {}
                    other => panic!("racer {i}: PUT returned {other}: {response}"),
                }
            }
            assert!(!succeeded.is_empty(), "no PUT succeeded");
            if let [only] = succeeded[..] {
                assert_eq!(only, winner, "the stored body is the one whose PUT succeeded");
            }
        }
    }

    // Afterwards everyone sees the key as there, with the stored bytes.
    let item = server.negotiate_one(READ_TOKEN, &hash, "download", None).await;
    assert_eq!(item["status"], "found");
    assert_eq!(item["size"], content.len());
    let (status, bytes) = get_from(&item).await;
    assert_eq!(status, 200);
    assert!(&bytes == content);
    let item = server.negotiate_one(WRITE_TOKEN, &hash, "upload", Some(1)).await;
    assert_eq!(item["status"], "skipped");
}

// 3. Tokens: who may do what, and no secret ever reaches the log.
async fn auth(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let hash = key("auth");
    let download = json!({"items": [{"hash": hash, "action": "download"}]});
    let upload = json!({"items": [{"hash": hash, "action": "upload", "size": 5}]});
    let unauthorized = json!({"error": "a valid token is required: send `Authorization: Bearer <token>`"});
    let forbidden = json!({"error": "this token may only read"});

    assert_eq!(
        server.negotiate(None, &download).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        server.negotiate(Some(WRONG_TOKEN), &download).await,
        (401, unauthorized.clone())
    );
    // The token without the `Bearer ` scheme is not accepted either.
    let bare = client()
        .post(format!("{}/v1/negotiate", server.url()))
        .header("authorization", WRITE_TOKEN)
        .body(serde_json::to_vec(&download).unwrap());
    assert_eq!(send_json(bare).await, (401, unauthorized.clone()));

    let (status, body) = server.negotiate(Some(READ_TOKEN), &download).await;
    assert_eq!(
        (status, body),
        (200, json!({"items": [{"hash": hash, "status": "missing"}]}))
    );
    assert_eq!(
        server.negotiate(Some(READ_TOKEN), &upload).await,
        (403, forbidden.clone())
    );
    let mixed = json!({"items": [{"hash": hash, "action": "download"}, {"hash": hash, "action": "upload"}]});
    assert_eq!(
        server.negotiate(Some(READ_TOKEN), &mixed).await,
        (403, forbidden.clone())
    );

    let (status, body) = server.negotiate(Some(WRITE_TOKEN), &upload).await;
    assert_eq!(status, 200, "{body}");
    let item = &body["items"][0];
    assert_eq!(item["status"], "upload_needed");
    // The URL itself is the permission: the PUT carries no token.
    let (status, response) = put_to(item, b"hello".to_vec()).await;
    assert_eq!(status, created(driver), "{response}");
    let (status, body) = server.negotiate(Some(WRITE_TOKEN), &download).await;
    assert_eq!(
        (status, body["items"][0]["status"].clone()),
        (200, json!("found"))
    );

    let (status, body) = server.get_json("/v1/status", None).await;
    assert_eq!((status, body), (401, unauthorized.clone()));
    let (status, body) = server.get_json("/v1/status", Some(WRONG_TOKEN)).await;
    assert_eq!((status, body), (401, unauthorized.clone()));
    let version = env!("CARGO_PKG_VERSION");
    let (status, body) = server.get_json("/v1/status", Some(READ_TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"scope": "read", "storage": kind(driver), "first_write_wins": "atomic", "version": version})
        )
    );
    let (status, body) = server.get_json("/v1/status", Some(WRITE_TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"scope": "read-write", "storage": kind(driver), "first_write_wins": "atomic", "version": version})
        )
    );
    let (status, _) = server.get_json("/v8/artifacts/status", None).await;
    assert_eq!(status, 401);
    let (status, _) = server.get_json("/v8/artifacts/status", Some(WRONG_TOKEN)).await;
    assert_eq!(status, 401);

    // A last request with a path of its own: once it is logged, everything before it is too.
    let (status, _) = server.get_json("/v1/end-of-auth-test", Some(WRONG_TOKEN)).await;
    assert_eq!(status, 404);
    server.wait_for_log("/v1/end-of-auth-test", Duration::from_secs(10));
    let logs = server.logs();
    for secret in [
        WRITE_TOKEN,
        READ_TOKEN,
        WRONG_TOKEN,
        "guessed-token",
        "ci-write",
        "laptop-read",
    ] {
        assert!(!logs.contains(secret), "the log holds `{secret}`:\n{logs}");
    }
    // The log does record the refusals, by kind.
    let refused = logs
        .lines()
        .filter(|l| l.contains("status=401") && l.contains("unauthorized"))
        .count();
    assert_eq!(refused, 7, "{logs}");
    let forbidden = logs
        .lines()
        .filter(|l| l.contains("status=403") && l.contains("forbidden"))
        .count();
    assert_eq!(forbidden, 2, "{logs}");
    // Nor do the signatures in URLs: the log names paths, never queries.
    assert!(!logs.contains("signature="), "{logs}");
    assert!(!logs.contains("X-Amz-Signature"), "{logs}");
}

// 4. Keys that are not 1 to 128 hex digits are refused before storage sees them; nothing lands
//    outside the storage directory (or bucket) whatever the path says.
async fn bad_keys(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let before = cache.all_files();
    let too_long = "a".repeat(129);
    for bad in [
        "../../etc/passwd",
        "abc/def",
        "xyz",
        "",
        "..",
        "ab cd",
        "%2e%2e",
        too_long.as_str(),
    ] {
        for item in [
            json!({"hash": bad, "action": "download"}),
            json!({"hash": bad, "action": "upload", "size": 4}),
        ] {
            // A valid key in the same negotiation does not get an answer either.
            let body = json!({"items": [{"hash": key("fine"), "action": "upload", "size": 4}, item]});
            let (status, answer) = server.negotiate(Some(WRITE_TOKEN), &body).await;
            assert_eq!(status, 400, "{item}: {answer}");
            let message = answer["error"].as_str().unwrap();
            assert!(
                message.ends_with("is not a key: keys are 1 to 128 hex digits"),
                "{message}"
            );
        }
    }
    // Not JSON, or not a negotiation.
    for body in [
        json!({"items": [{"hash": "ab", "action": "delete"}]}),
        json!({"items": [], "extra": 1}),
        json!([]),
    ] {
        let (status, answer) = server.negotiate(Some(WRITE_TOKEN), &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }

    // 128 digits is a key, and storage takes it.
    let longest = "0123456789abcdef".repeat(8);
    assert_eq!(longest.len(), 128);
    assert_eq!(server.download(&longest).await, None);
    server.upload(&longest, b"long").await;
    assert_eq!(server.download(&longest).await, Some(b"long".to_vec()));
    // Upper-case digits name the same object.
    assert_eq!(
        server.download(&longest.to_ascii_uppercase()).await,
        Some(b"long".to_vec())
    );

    // The artifact routes check the key before the signature (and before storage).
    let addr = server.addr();
    let signed = "?expires=99999999999&signature=00";
    for target in [
        "/v1/artifacts/..%2F..%2Fx",
        "/v1/artifacts/..%2f..%2f..%2fescaped",
        "/v1/artifacts/%2e%2e",
        "/v1/artifacts/abc%2Fdef",
        "/v1/artifacts/xyz",
        "/v1/artifacts/..",
    ]
    .into_iter()
    .map(String::from)
    .chain([format!("/v1/artifacts/{too_long}")])
    {
        for method in ["PUT", "GET"] {
            let response = http(addr, method, &format!("{target}{signed}"), &[], b"evil");
            assert_eq!(response.status, 400, "{method} {target}: {}", response.text());
            let error: Value = serde_json::from_slice(&response.body).unwrap();
            assert!(
                error["error"].as_str().unwrap().contains("is not a key"),
                "{error}"
            );
        }
    }
    // Unencoded `..` never reaches a handler: the router has no such route.
    for target in [
        "/v1/artifacts/../../x",
        "/v1/artifacts/../../../../tmp/x",
        "/v8/artifacts/../../x",
    ] {
        let response = http(
            addr,
            "PUT",
            &format!("{target}{signed}"),
            &[("Authorization", &format!("Bearer {WRITE_TOKEN}"))],
            b"evil",
        );
        assert_eq!(response.status, 404, "PUT {target}: {}", response.text());
    }
    // The Turborepo routes: the hash and the team.
    let bearer = format!("Bearer {WRITE_TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    for target in [
        "/v8/artifacts/..%2F..%2Fx".to_string(),
        "/v8/artifacts/%2e%2e".to_string(),
        "/v8/artifacts/xyz".to_string(),
        format!("/v8/artifacts/{too_long}"),
        format!("/v8/artifacts/{}?teamId=..%2F..%2Fx", key("t")),
        format!("/v8/artifacts/{}?teamId=../x", key("t")),
        format!("/v8/artifacts/{}?teamId=a/b", key("t")),
        format!("/v8/artifacts/{}?teamId=.tmp", key("t")),
        format!("/v8/artifacts/{}?teamId=", key("t")),
        format!("/v8/artifacts/{}?slug=..", key("t")),
    ] {
        for method in ["PUT", "GET", "HEAD"] {
            let response = http(
                addr,
                method,
                &target,
                &auth,
                if method == "PUT" { b"evil" } else { b"" },
            );
            assert_eq!(response.status, 400, "{method} {target}: {}", response.text());
        }
    }

    // Storage holds the one object, and nothing else appeared anywhere.
    assert_eq!(stored(&cache), vec![(format!("v1/{longest}"), b"long".to_vec())]);
    let after = cache.all_files();
    let new: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    match driver {
        Driver::Local => {
            assert_eq!(new.len(), 1, "{new:?}");
            assert!(new[0].starts_with("storage/v1/01/"), "{new:?}");
        }
        Driver::S3 => assert_eq!(new, Vec::<&String>::new()),
    }
    assert_eq!(after.iter().filter(|f| f.starts_with("storage/.tmp/")).count(), 0);
}

// 5. Size limits: the negotiation body, the declared artifact size, the bytes actually sent.
async fn size_limits(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&["--max-request-size", "1K", "--max-artifact-size", "1K"]);

    // A negotiation body over 1 KiB.
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"hash": key(&format!("item {i}")), "action": "download"}))
        .collect();
    let big = json!({"items": items});
    assert!(serde_json::to_vec(&big).unwrap().len() > 1024);
    let (status, _) = server.negotiate(Some(READ_TOKEN), &big).await;
    assert_eq!(status, 413);
    let small = json!({"items": items[..5]});
    assert!(serde_json::to_vec(&small).unwrap().len() < 1024);
    let (status, body) = server.negotiate(Some(READ_TOKEN), &small).await;
    assert_eq!(status, 200, "{body}");

    // An upload declared larger than the artifact limit is refused at negotiation.
    let hash = key("too large");
    let (status, body) = server
        .negotiate(
            Some(WRITE_TOKEN),
            &json!({"items": [{"hash": hash, "action": "upload", "size": 2048}]}),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(
        body["error"],
        format!("`{hash}` is 2048 bytes; the server's limit is 1024 bytes").as_str()
    );
    // Exactly the limit is fine.
    let item = server
        .negotiate_one(WRITE_TOKEN, &hash, "upload", Some(1024))
        .await;
    assert_eq!(item["status"], "upload_needed");

    if driver == Driver::Local {
        // The local driver carries the bytes, and counts them whatever was declared: with a
        // Content-Length…
        let (status, response) = put_to(&item, vec![7; 2048]).await;
        assert_eq!(status, 413, "{response}");
        assert_eq!(
            serde_json::from_str::<Value>(&response).unwrap(),
            json!({"error": "the artifact is larger than the server's limit of 1024 bytes"})
        );
        // …and streamed without one.
        let (status, response) = put_stream(item["url"].as_str().unwrap(), vec![vec![7; 600]; 4]).await;
        assert_eq!(status, 413, "{response}");
        assert_eq!(stored(&cache), vec![]);
        assert_eq!(
            cache.temp_files(),
            Vec::<String>::new(),
            "the refused upload left a temporary file"
        );
        // The URL still works for a body within the limit.
        let (status, response) = put_to(&item, vec![7; 1024]).await;
        assert_eq!(status, 201, "{response}");
        assert_eq!(stored(&cache), vec![(format!("v1/{hash}"), vec![7; 1024])]);
    }

    // The Turborepo API carries the bytes with either driver.
    let turbo_hash = key("turbo too large");
    let url = format!("{}/v8/artifacts/{turbo_hash}", server.url());
    // Errors on the Turborepo routes come in the shape Vercel's API uses.
    let too_large = json!({"error": {"code": "too_large", "message": "the artifact is larger than the server's limit of 1024 bytes"}});
    let request = authorized(client().put(&url), Some(WRITE_TOKEN)).body(vec![1; 2048]);
    let (status, body) = send_json(request).await;
    assert_eq!((status, body), (413, too_large.clone()));
    let stream = futures::stream::iter((0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1; 700]))));
    let request = authorized(client().put(&url), Some(WRITE_TOKEN)).body(reqwest::Body::wrap_stream(stream));
    let (status, body) = send_json(request).await;
    match driver {
        // The local driver counts the bytes as they arrive.
        Driver::Local => assert_eq!((status, body), (413, too_large)),
        // S3 needs the length up front (it is signed into the request); a body without one is
        // refused rather than held in memory.
        Driver::S3 => assert_eq!(
            (status, body),
            (
                411,
                json!({"error": {"code": "length_required", "message": "uploads to object storage need a Content-Length"}})
            )
        ),
    }
    let turbo_objects = |cache: &Cache| {
        stored(cache)
            .into_iter()
            .filter(|(name, _)| name.starts_with("turbo/"))
            .count()
    };
    assert_eq!(turbo_objects(&cache), 0);
    if driver == Driver::Local {
        assert_eq!(cache.temp_files(), Vec::<String>::new());
    }
    let request = authorized(client().put(&url), Some(WRITE_TOKEN)).body(vec![1; 1024]);
    let (status, _) = send_json(request).await;
    assert_eq!(status, 202);
    assert_eq!(turbo_objects(&cache), 1);
}

/// PUT `chunks` to `url` as a streamed body (chunked, no Content-Length).
async fn put_stream(url: &str, chunks: Vec<Vec<u8>>) -> (u16, String) {
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    let response = client()
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

// 6. The local driver's signed URLs: they expire, and they are good for one method and one key.
#[tokio::test(flavor = "multi_thread")]
async fn local_signed_urls_expire() {
    let cache = Cache::local();
    let server = cache.start(&["--url-expiry", "1"]);
    let hash = key("expiry");
    let item = server.negotiate_one(WRITE_TOKEN, &hash, "upload", Some(5)).await;
    assert_eq!(item["status"], "upload_needed");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, response) = put_to(&item, b"stale".to_vec()).await;
    assert_eq!(status, 403, "{response}");
    assert_eq!(
        serde_json::from_str::<Value>(&response).unwrap(),
        json!({"error": "the URL has expired; negotiate again"})
    );
    assert_eq!(stored(&cache), vec![]);
    assert_eq!(cache.temp_files(), Vec::<String>::new());
    assert_eq!(server.download(&hash).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn local_signed_urls_are_bound_to_method_and_key() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let hash = key("signed");
    let other = key("signed, other");
    let item = server.negotiate_one(WRITE_TOKEN, &hash, "upload", Some(4)).await;
    let put = item["url"].as_str().unwrap().to_string();
    let parsed = url::Url::parse(&put).unwrap();
    let query: std::collections::BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query.keys().collect::<Vec<_>>(), ["expires", "signature"]);
    let expires: u64 = query["expires"].parse().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 890..=now + 901).contains(&expires),
        "default expiry is 900 s: {expires} vs {now}"
    );
    let signature = &query["signature"];
    let base = format!("{}/v1/artifacts/{hash}", server.url());

    let flipped = {
        let mut chars: Vec<char> = signature.chars().collect();
        chars[10] = if chars[10] == '0' { '1' } else { '0' };
        chars.into_iter().collect::<String>()
    };
    let bad_signature = json!({"error": "the URL's signature is not valid"});
    let refusals = [
        (
            format!("{base}?expires={expires}&signature={flipped}"),
            "PUT",
            bad_signature.clone(),
        ),
        (
            format!("{base}?expires={}&signature={signature}", expires + 1000),
            "PUT",
            bad_signature.clone(),
        ),
        (
            format!("{base}?expires={expires}&signature=not-hex"),
            "PUT",
            bad_signature.clone(),
        ),
        (
            format!(
                "{}/v1/artifacts/{other}?expires={expires}&signature={signature}",
                server.url()
            ),
            "PUT",
            bad_signature.clone(),
        ),
        (put.clone(), "GET", bad_signature.clone()),
        (
            base.clone(),
            "PUT",
            json!({"error": "this URL is not signed; ask /v1/negotiate for one"}),
        ),
        (
            format!("{base}?expires={expires}"),
            "PUT",
            json!({"error": "this URL is not signed; ask /v1/negotiate for one"}),
        ),
    ];
    for (url, method, error) in &refusals {
        let request = match *method {
            "PUT" => client().put(url).body(b"evil".to_vec()),
            _ => client().get(url),
        };
        // A token does not stand in for the signature.
        let (status, body) = send_json(authorized(request, Some(WRITE_TOKEN))).await;
        assert_eq!((status, &body), (403, error), "{method} {url}");
    }
    assert_eq!(stored(&cache), vec![]);

    let (status, response) = put_url(&put, &item, b"good".to_vec()).await;
    assert_eq!(status, 201, "{response}");
    let found = server.negotiate_one(READ_TOKEN, &hash, "download", None).await;
    let get = found["url"].as_str().unwrap();
    // A download URL does not upload, not even over the object it names.
    let (status, response) = put_url(get, &found, b"evil".to_vec()).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&response).unwrap()),
        (403, bad_signature)
    );
    let (status, bytes) = get_from(&found).await;
    assert_eq!((status, bytes), (200, b"good".to_vec()));
    // A second PUT with the genuine upload URL keeps the first body.
    let (status, response) = put_url(&put, &item, b"late".to_vec()).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&response).unwrap()),
        (200, json!({"status": "skipped"}))
    );
    assert_eq!(stored(&cache), vec![(format!("v1/{hash}"), b"good".to_vec())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_presigned_urls() {
    if !crate::common::serve::s3_available() {
        return;
    }
    let cache = Cache::s3();
    let server = cache.start(&["--url-expiry", "123"]);
    let hash = key("presigned");
    let query = |url: &str| -> std::collections::BTreeMap<String, String> {
        url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
    };
    let signed_headers = |query: &std::collections::BTreeMap<String, String>| -> BTreeSet<String> {
        query["X-Amz-SignedHeaders"]
            .split(';')
            .map(String::from)
            .collect()
    };

    let item = server.negotiate_one(WRITE_TOKEN, &hash, "upload", Some(5)).await;
    let put = query(item["url"].as_str().unwrap());
    assert_eq!(put["X-Amz-Expires"], "123");
    assert_eq!(put["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert!(
        put["X-Amz-Credential"].starts_with("velo-test-key-id/"),
        "{put:?}"
    );
    let headers = signed_headers(&put);
    assert!(headers.contains("if-none-match"), "{headers:?}");
    assert!(headers.contains("host"), "{headers:?}");
    assert_eq!(item["headers"]["if-none-match"], "*");
    // The secret key is used to sign, never shown.
    assert!(!item.to_string().contains("velo-test-secret-key"));

    let (status, response) = put_to(&item, b"first".to_vec()).await;
    assert_eq!(status, 200, "{response}");
    // The same URL again: the bucket refuses to replace the object.
    let (status, response) = put_to(&item, b"again".to_vec()).await;
    assert!(matches!(status, 403 | 409 | 412), "{status} {response}");
    assert_eq!(cache.s3_object(&format!("v1/{hash}")), Some(b"first".to_vec()));

    let found = server.negotiate_one(READ_TOKEN, &hash, "download", None).await;
    let get = query(found["url"].as_str().unwrap());
    assert_eq!(get["X-Amz-Expires"], "123");
    assert!(!signed_headers(&get).contains("if-none-match"), "{get:?}");

    // turbo follows the 302 with nothing but the URL: no extra signed header.
    let url = format!("{}/v8/artifacts/{hash}", server.url());
    let request = authorized(client().put(&url), Some(WRITE_TOKEN)).body(b"turbo".to_vec());
    assert_eq!(send_json(request).await.0, 202);
    let response = authorized(client().get(&url), Some(READ_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let redirect = query(&location);
    assert_eq!(redirect["X-Amz-Expires"], "123");
    assert_eq!(redirect["X-Amz-SignedHeaders"], "host");
    let logs = server.logs();
    assert!(!logs.contains("velo-test-secret-key"), "{logs}");
}

// 7. The Turborepo remote cache API.
async fn turbo(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let base = format!("{}/v8/artifacts", server.url());
    let hash = key("turbo");
    let url = format!("{base}/{hash}");
    let first = artifact("turbo first", 5000);
    let second = artifact("turbo second", 6000);
    let third = artifact("turbo third", 100);

    let (status, body) = server.get_json("/v8/artifacts/status", Some(READ_TOKEN)).await;
    assert_eq!((status, body), (200, json!({"status": "enabled"})));

    let head = |url: String, token: Option<&'static str>| async move {
        authorized(client().head(&url), token).send().await.unwrap()
    };
    let get = |url: String, token: Option<&'static str>| async move {
        authorized(client().get(&url), token).send().await.unwrap()
    };
    let put = |url: String, token: Option<&'static str>, body: Vec<u8>| async move {
        let request = authorized(client().put(&url), token)
            .header("content-type", "application/octet-stream")
            .body(body);
        send_json(request).await
    };
    // What a GET of an existing artifact yields: the bytes, or a redirect to them.
    let fetch = |url: String, token: Option<&'static str>| {
        let endpoint = match &cache.store {
            crate::common::serve::Store::S3 { bucket, endpoint } => format!("{endpoint}/{bucket}/"),
            crate::common::serve::Store::Local { .. } => String::new(),
        };
        async move {
            let response = authorized(client().get(&url), token).send().await.unwrap();
            match driver {
                Driver::Local => {
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap().to_vec()
                }
                Driver::S3 => {
                    assert_eq!(response.status(), 302);
                    let location = response.headers()["location"].to_str().unwrap().to_string();
                    assert!(location.starts_with(&endpoint), "{location}");
                    // Followed the way turbo does: no token, no extra header.
                    let followed = client().get(&location).send().await.unwrap();
                    assert_eq!(followed.status(), 200);
                    followed.bytes().await.unwrap().to_vec()
                }
            }
        }
    };

    assert_eq!(head(url.clone(), Some(READ_TOKEN)).await.status(), 404);
    assert_eq!(get(url.clone(), Some(READ_TOKEN)).await.status(), 404);

    let (status, body) = put(url.clone(), Some(WRITE_TOKEN), first.clone()).await;
    assert_eq!(
        (status, body),
        (202, json!({"urls": [format!("turbo/default/{hash}")]}))
    );
    // A second upload of the hash is accepted, and the first stays.
    let (status, _) = put(url.clone(), Some(WRITE_TOKEN), second.clone()).await;
    assert_eq!(status, 202);
    let response = head(url.clone(), Some(READ_TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        first.len().to_string().as_str()
    );
    assert!(fetch(url.clone(), Some(READ_TOKEN)).await == first);

    // Tokens.
    assert_eq!(put(url.clone(), Some(READ_TOKEN), third.clone()).await.0, 403);
    assert_eq!(put(url.clone(), None, third.clone()).await.0, 401);
    assert_eq!(put(url.clone(), Some(WRONG_TOKEN), third.clone()).await.0, 401);
    assert_eq!(get(url.clone(), None).await.status(), 401);
    assert_eq!(head(url.clone(), None).await.status(), 401);
    assert_eq!(server.get_json("/v8/artifacts/status", None).await.0, 401);

    // Teams are namespaces.
    let team_url = format!("{url}?teamId=team-a");
    assert_eq!(get(team_url.clone(), Some(READ_TOKEN)).await.status(), 404);
    let (status, body) = put(team_url.clone(), Some(WRITE_TOKEN), third.clone()).await;
    assert_eq!(
        (status, body),
        (202, json!({"urls": [format!("turbo/team-a/{hash}")]}))
    );
    assert!(fetch(team_url.clone(), Some(READ_TOKEN)).await == third);
    assert!(fetch(format!("{url}?slug=team-a"), Some(READ_TOKEN)).await == third);
    assert!(fetch(url.clone(), Some(READ_TOKEN)).await == first);
    for team in ["../x", "..", "a%2Fb", "team%00", "x".repeat(65).as_str()] {
        let bad = format!("{url}?teamId={team}");
        assert_eq!(get(bad.clone(), Some(READ_TOKEN)).await.status(), 400, "{team}");
        assert_eq!(head(bad.clone(), Some(READ_TOKEN)).await.status(), 400, "{team}");
        let (status, body) = put(bad, Some(WRITE_TOKEN), third.clone()).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({"error": {"code": "bad_request", "message": "a team is 1 to 64 letters, digits, `-` or `_`"}})
            ),
            "{team}"
        );
    }

    // `POST /v8/artifacts`: which hashes exist.
    let missing = key("turbo missing");
    let request = authorized(client().post(&base), Some(READ_TOKEN))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"hashes": [hash, missing]})).unwrap());
    let (status, body) = send_json(request).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({hash.clone(): {"size": first.len(), "taskDurationMs": 0, "tag": null}, missing.clone(): null})
        )
    );
    let request = authorized(client().post(format!("{base}/events")), Some(READ_TOKEN))
        .header("content-type", "application/json")
        .body("[]");
    assert_eq!(send_json(request).await.0, 200);

    assert_eq!(
        stored(&cache),
        vec![
            (format!("turbo/default/{hash}"), first),
            (format!("turbo/team-a/{hash}"), third),
        ]
    );
}

// 8. `/healthz` and `/metrics`.
async fn health_and_metrics(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let (status, body) = server.get_json("/healthz", None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ok", "storage": kind(driver), "first_write_wins": "atomic"})
        )
    );

    let metrics = server.metrics().await;
    assert_eq!(
        metric(&metrics, r#"velo_cache_errors_total{kind="unauthorized"}"#),
        None,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "velo_cache_negotiation_duration_seconds_count"),
        Some(0.0),
        "{metrics}"
    );

    let (a, b) = (key("metrics a"), key("metrics b"));
    let body = artifact("metrics", 3000);
    // Two misses.
    let (status, _) = server
        .negotiate(
            Some(READ_TOKEN),
            &json!({"items": [{"hash": a, "action": "download"}, {"hash": b, "action": "download"}]}),
        )
        .await;
    assert_eq!(status, 200);
    // One upload, then the same key skipped.
    server.upload(&a, &body).await;
    let item = server
        .negotiate_one(WRITE_TOKEN, &a, "upload", Some(body.len() as u64))
        .await;
    assert_eq!(item["status"], "skipped");
    // One hit, downloaded.
    assert!(server.download(&a).await.unwrap() == body);
    // Two refused tokens and one read token trying to upload.
    let download = json!({"items": [{"hash": a, "action": "download"}]});
    assert_eq!(server.negotiate(None, &download).await.0, 401);
    assert_eq!(server.negotiate(Some(WRONG_TOKEN), &download).await.0, 401);
    let upload = json!({"items": [{"hash": b, "action": "upload"}]});
    assert_eq!(server.negotiate(Some(READ_TOKEN), &upload).await.0, 403);

    let metrics = server.metrics().await;
    let size = body.len() as f64;
    let carrier = match driver {
        Driver::Local => "server",
        Driver::S3 => "presigned",
    };
    for (sample, value) in [
        (r#"velo_cache_hits_total{api="velo"}"#.to_string(), 1.0),
        (r#"velo_cache_misses_total{api="velo"}"#.to_string(), 2.0),
        (r#"velo_cache_uploads_total{api="velo"}"#.to_string(), 1.0),
        (r#"velo_cache_upload_skipped_total{api="velo"}"#.to_string(), 1.0),
        (
            format!(r#"velo_cache_artifact_bytes_total{{direction="upload",carrier="{carrier}"}}"#),
            size,
        ),
        (
            format!(r#"velo_cache_artifact_bytes_total{{direction="download",carrier="{carrier}"}}"#),
            size,
        ),
        ("velo_cache_negotiated_items_total".to_string(), 5.0),
        ("velo_cache_negotiation_duration_seconds_count".to_string(), 4.0),
        (
            r#"velo_cache_negotiation_duration_seconds_bucket{le="+Inf"}"#.to_string(),
            4.0,
        ),
        (r#"velo_cache_errors_total{kind="unauthorized"}"#.to_string(), 2.0),
        (r#"velo_cache_errors_total{kind="forbidden"}"#.to_string(), 1.0),
    ] {
        assert_eq!(metric(&metrics, &sample), Some(value), "{sample} in\n{metrics}");
    }
    // The histogram has buckets, and they are cumulative.
    let buckets: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("velo_cache_negotiation_duration_seconds_bucket{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(buckets.len() > 10, "{metrics}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{metrics}");
    // Nothing was counted for the Turborepo API, and nothing under the other carrier.
    let other = if carrier == "server" {
        "presigned"
    } else {
        "server"
    };
    assert!(!metrics.contains(r#"api="turbo""#), "{metrics}");
    assert!(!metrics.contains(&format!(r#"carrier="{other}""#)), "{metrics}");
}

// 9. SIGTERM: the request in flight finishes, then the server exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_upload_in_flight() {
    let cache = Cache::local();
    let mut server = cache.start(&[]);
    let addr = server.addr();
    let hash = key("slow upload");
    let item = server.negotiate_one(WRITE_TOKEN, &hash, "upload", None).await;
    let url = item["url"].as_str().unwrap().to_string();
    let (mut sender, receiver) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let upload = tokio::spawn(async move {
        let response = client()
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(receiver))
            .send()
            .await
            .expect("the upload is answered");
        (response.status().as_u16(), response.text().await.unwrap())
    });
    let chunks: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 10_000]).collect();
    sender.send(Ok(Bytes::from(chunks[0].clone()))).await.unwrap();
    // The server is writing the upload once its temporary file exists.
    let deadline = Instant::now() + Duration::from_secs(20);
    while cache.temp_files().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the upload never started:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.sigterm();
    server.wait_for_log("shutting down", Duration::from_secs(10));
    // New connections are refused while the upload is still going.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!upload.is_finished(), "the upload ended before its body did");
    for chunk in &chunks[1..] {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sender.send(Ok(Bytes::from(chunk.clone()))).await.unwrap();
    }
    drop(sender);
    let (status, response) = tokio::time::timeout(Duration::from_secs(30), upload)
        .await
        .expect("the upload is answered after SIGTERM")
        .unwrap();
    assert_eq!(status, 201, "{response}\n{}", server.logs());

    let exit = server.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| {
        panic!("velo serve did not exit after SIGTERM:\n{}", server.logs());
    });
    assert_eq!(exit.code(), Some(0), "{exit}\n{}", server.logs());
    assert_contains(&server.logs(), "stopped");
    assert!(
        TcpStream::connect(addr).is_err(),
        "a connection was accepted after exit"
    );
    assert_eq!(stored(&cache), vec![(format!("v1/{hash}"), chunks.concat())]);
    assert_eq!(cache.temp_files(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_right_after_startup_exits_cleanly() {
    let cache = Cache::local();
    let mut server = cache.start(&[]);
    server.sigterm();
    let exit = server.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| {
        panic!("velo serve did not exit after SIGTERM:\n{}", server.logs());
    });
    assert_eq!(exit.code(), Some(0), "{exit}\n{}", server.logs());
}

// 10. Local retention: at startup (then every ten minutes), the least recently used objects go
//     first until the rest fit; objects not used for `--max-age` go too.
#[tokio::test(flavor = "multi_thread")]
async fn local_retention_removes_least_recently_used_first() {
    let cache = Cache::local();
    let names = ["a", "b", "c", "d"];
    let keys: Vec<String> = names.iter().map(|n| key(&format!("retention {n}"))).collect();
    let body = |i: usize| vec![b'a' + i as u8; 1000];
    {
        let server = cache.start(&[]);
        for (i, k) in keys.iter().enumerate() {
            server.upload(k, &body(i)).await;
        }
    }
    let path = |k: &str| cache.dir().join("v1").join(&k[..2]).join(k);
    let now = SystemTime::now();
    let set_used = |k: &str, ago: u64| {
        let file = std::fs::File::options().write(true).open(path(k)).unwrap();
        file.set_modified(now - Duration::from_secs(ago)).unwrap();
    };
    // Used longest ago first: b, d, a, c.
    set_used(&keys[1], 4000);
    set_used(&keys[3], 3000);
    set_used(&keys[0], 2000);
    set_used(&keys[2], 1000);
    // An upload abandoned two hours ago, and one in progress.
    let tmp = cache.dir().join(".tmp");
    fs_err::write(tmp.join("abandoned"), "x").unwrap();
    std::fs::File::options()
        .write(true)
        .open(tmp.join("abandoned"))
        .unwrap()
        .set_modified(now - Duration::from_secs(7200))
        .unwrap();
    fs_err::write(tmp.join("in-progress"), "x").unwrap();
    // A file that is not velo's, old and large, beside the objects: never touched.
    fs_err::write(cache.dir().join("notes.txt"), vec![b'n'; 5000]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(cache.dir().join("notes.txt"))
        .unwrap()
        .set_modified(now - Duration::from_secs(99_999))
        .unwrap();

    // Downloading b makes it the most recently used.
    {
        let server = cache.start(&[]);
        assert_eq!(server.download(&keys[1]).await, Some(body(1)));
    }
    let used = std::fs::metadata(path(&keys[1])).unwrap().modified().unwrap();
    assert!(
        used > now - Duration::from_secs(60),
        "a download marks the object used"
    );

    // 4000 bytes stored, 2500 allowed: d and a (the two used longest ago) go.
    let server = cache.start(&["--max-size", "2500"]);
    let line = server.wait_for_log("retention removed objects", Duration::from_secs(20));
    assert_contains(&line, "removed=2");
    assert_contains(&line, "freed_bytes=2000");
    let mut left: Vec<String> = cache
        .objects()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name != "notes.txt")
        .collect();
    left.sort();
    let mut expected = vec![
        format!("v1/{}/{}", &keys[1][..2], keys[1]),
        format!("v1/{}/{}", &keys[2][..2], keys[2]),
    ];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(cache.temp_files(), [".tmp/in-progress"]);
    assert_eq!(server.download(&keys[0]).await, None);
    assert_eq!(server.download(&keys[3]).await, None);
    assert_eq!(server.download(&keys[1]).await, Some(body(1)));
    drop(server);

    // c was last used 1000 s ago; with --max-age 10m it goes, b (just downloaded) stays.
    let server = cache.start(&["--max-age", "10m"]);
    let line = server.wait_for_log("retention removed objects", Duration::from_secs(20));
    assert_contains(&line, "removed=1");
    assert_contains(&line, "freed_bytes=1000");
    assert_eq!(server.download(&keys[2]).await, None);
    assert_eq!(server.download(&keys[1]).await, Some(body(1)));
    assert_eq!(fs_err::read(cache.dir().join("notes.txt")).unwrap().len(), 5000);
}

// 11. Startup errors.
#[test]
fn startup_without_tokens_file() {
    let cache = Cache::local();
    let mut command = cache.command();
    command.args(["--listen", "127.0.0.1:0", "--storage", &cache.storage_url()]);
    let output = run_to_exit(command, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_contains(&stderr, "`velo serve` needs a tokens file");
    assert_contains(&stderr, "--tokens-file PATH");
    assert_contains(&stderr, "VELO_SERVER_TOKENS_FILE");
}

#[test]
fn startup_with_a_bad_tokens_file() {
    let cache = Cache::local();
    for (contents, problem) in [
        (
            "# tokens\nwrite ok-token-0123456789abcdef\nadmin other-secret-0123456789\n",
            "line 3: expected `read SECRET` or `write SECRET`",
        ),
        (
            "read short-secret\n",
            "line 1: a token must be at least 16 characters",
        ),
        (
            "write two words-0123456789abcdef\n",
            "line 1: expected `read SECRET` or `write SECRET`",
        ),
        ("# nothing\n\n", "holds no tokens"),
    ] {
        fs_err::write(cache.tokens_file(), contents).unwrap();
        let output = run_to_exit(cache.serve_command(&[]), Duration::from_secs(20));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{contents}: {stderr}");
        let path = cache.tokens_file().display().to_string();
        assert!(
            stderr.contains(&format!("`{path}` {problem}")),
            "{contents}: {stderr}"
        );
        for secret in ["other-secret", "ok-token", "short-secret"] {
            assert!(!stderr.contains(secret), "the error shows a secret: {stderr}");
        }
    }
    fs_err::remove_file(cache.tokens_file()).unwrap();
    let output = run_to_exit(cache.serve_command(&[]), Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_contains(&stderr, "cannot read the tokens file");
}

/// Run `velo serve --listen 127.0.0.1:0 --tokens-file … ARGS` with `env` until it exits: its
/// exit code and stderr.
fn serve_until_exit(cache: &Cache, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = cache.command();
    command
        .args(["--listen", "127.0.0.1:0", "--tokens-file"])
        .arg(cache.tokens_file())
        .args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = run_to_exit(command, Duration::from_secs(30));
    (output.status.code(), text(&output.stderr))
}

#[test]
fn startup_with_bad_storage() {
    let cache = Cache::local();
    let s3 = [
        "--storage",
        "s3://velo-bucket",
        "--s3-endpoint",
        "http://127.0.0.1:9",
    ];
    // S3 without credentials (the harness removes every AWS_* variable), then without a secret.
    let (code, stderr) = serve_until_exit(&cache, &s3, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_contains(&stderr, "S3 storage needs an access key id");
    assert_contains(&stderr, "--s3-access-key-id");
    assert_contains(&stderr, "AWS_ACCESS_KEY_ID");
    let (code, stderr) = serve_until_exit(&cache, &s3, &[("AWS_ACCESS_KEY_ID", "velo-test-key-id")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_contains(&stderr, "S3 storage needs a secret access key");

    // Not a storage URL.
    for url in ["ftp://host/x", "relative/path", "s3://"] {
        let (code, stderr) = serve_until_exit(&cache, &["--storage", url], &[]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert_contains(&stderr, format!("`--storage {url}` is not a storage URL"));
    }
}

#[test]
fn startup_with_an_s3_endpoint_that_does_not_listen() {
    let cache = Cache::local();
    let port = crate::common::serve::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (code, stderr) = serve_until_exit(
        &cache,
        &["--storage", "s3://velo-nowhere", "--s3-endpoint", &endpoint],
        &[
            ("AWS_ACCESS_KEY_ID", "velo-test-key-id"),
            ("AWS_SECRET_ACCESS_KEY", "velo-test-secret-key"),
        ],
    );
    assert_ne!(code, Some(0), "{stderr}");
    assert!(code.is_some(), "killed by a signal: {stderr}");
    assert_contains(
        &stderr,
        "cannot use bucket `velo-nowhere`: cannot reach the bucket",
    );
    assert_contains(&stderr, "check the endpoint, the bucket name and the credentials");
    // Nor a presigned URL: the message names what failed, not the signature.
    for secret in ["velo-test-secret-key", "X-Amz-Signature", "X-Amz-Credential"] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
    assert_contains(&stderr, "Connection refused");
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn startup_with_a_bucket_that_does_not_exist() {
    if !crate::common::serve::s3_available() {
        return;
    }
    let cache = Cache::s3();
    let crate::common::serve::Store::S3 { endpoint, .. } = &cache.store else {
        unreachable!()
    };
    let mut command = cache.command();
    command
        .args(["--listen", "127.0.0.1:0", "--tokens-file"])
        .arg(cache.tokens_file())
        .args(["--storage", "s3://velo-no-such-bucket", "--s3-endpoint", endpoint]);
    let output = run_to_exit(command, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_contains(
        &stderr,
        "cannot use bucket `velo-no-such-bucket`: a test write to the bucket returned 404",
    );
}

// 11. Slow clients: 300 connections trickling their request headers one byte at a time, against
//     a cap of 64, do not keep a legitimate request from being answered, and a connection whose
//     headers never complete is closed by the server.
#[tokio::test(flavor = "multi_thread")]
async fn slow_header_clients_neither_starve_others_nor_stay_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let cache = Cache::local();
    let server = cache.start(&["--header-read-timeout", "1s", "--max-connections", "64"]);
    let addr = server.addr();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.push(tokio::spawn(async move {
            // One header byte at a time, never the blank line that ends the headers.
            for byte in request.iter().cycle().take(200) {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
    }

    let response = client()
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("the legitimate request failed: {err}\n{}", server.logs()));
    assert_eq!(response.status().as_u16(), 200);

    // A connection that sends a header byte now and then, and reads: the server ends it.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut received))
        .await
        .expect("the server never closed the slow connection");
    // End of stream, or a reset: either way, closed by the server.
    if let Err(err) = read {
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    server.wait_for_log("connection limit reached", Duration::from_secs(30));
    server.wait_for_log(
        "did not send its request headers in time",
        Duration::from_secs(30),
    );
    for task in slow {
        task.abort();
    }
}

// 11b. Slow clients that fill every slot, with a header timeout far longer than a client waits:
//      a real request still gets in, because the connection that has waited longest for its
//      headers is closed to make room for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_house_of_slow_clients_makes_room_for_a_real_request() {
    use tokio::io::AsyncWriteExt;

    let cache = Cache::local();
    let server = cache.start(&["--header-read-timeout", "600s", "--max-connections", "8"]);
    let mut slow = Vec::new();
    for _ in 0..16 {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(b"G").await.unwrap();
        slow.push(stream);
    }
    // Without room being made, this would wait for a slot until the 600 s header timeout.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("the real request was kept out: {err}\n{}", server.logs()));
    assert_eq!(response.status().as_u16(), 200);
    server.wait_for_log(
        "closed the connection that had waited longest for its request headers",
        Duration::from_secs(30),
    );
    drop(slow);
}

// 12. A client that sends its headers and then stops sending the body it promised is
//     disconnected after the idle timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_request_body_is_disconnected_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let cache = Cache::local();
    let server = cache.start(&["--idle-timeout", "1s"]);
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /v1/negotiate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {WRITE_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"items\": ["
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut received))
        .await
        .expect("the server never closed the stalled connection");
    if let Err(err) = read {
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
    // Whatever it answered, it was not a success.
    assert!(
        !String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

// 13. A body sent a byte now and then: without a token the server answers 401 before reading it
//     (a `Bytes` extractor read the negotiation body first, so tokenless clients trickling it
//     held every connection slot); with one, the server closes the connection though bytes keep
//     arriving, since they come slower than the minimum rate.
#[tokio::test(flavor = "multi_thread")]
async fn a_trickled_request_body_does_not_hold_a_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let cache = Cache::local();
    let server = cache.start(&["--idle-timeout", "1s"]);
    let heads = [
        "POST /v1/negotiate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            .to_string(),
        "POST /v8/artifacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            .to_string(),
    ];
    for head in heads {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut received = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(60), stream.read_exact(&mut received))
            .await
            .expect("the server waited for a body it would refuse")
            .unwrap();
        assert_eq!(&received, b"HTTP/1.1 401", "{head}");
    }

    let hash = "ab".repeat(16);
    let head = format!(
        "PUT /v8/artifacts/{hash} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {WRITE_TOKEN}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
    );
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    // 300 bytes of the 1000 promised, one every 200 ms: the body never completes.
    let trickle = tokio::spawn(async move {
        for _ in 0..300 {
            if write.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        write
    });
    let mut received = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(55), read.read_to_end(&mut received))
        .await
        .expect("the server kept a connection that sends a byte now and then");
    if let Err(err) = closed {
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
    assert!(
        !String::from_utf8_lossy(&received).contains(" 200 "),
        "{}",
        String::from_utf8_lossy(&received)
    );
    trickle.abort();
}
