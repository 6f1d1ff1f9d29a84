//! Bottles: which tag each platform gets (deterministic, with the reason every other tag was
//! passed over), where its blob lives on the configured registry, and how large it is (from the
//! OCI image index's `sh.brew.bottle.*` annotations).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::HttpClient;
use crate::manifest::MacosVersion;
use crate::platform::Platform;

/// One entry of `bottle.stable.files`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct BottleFile {
    /// `:any`, `:any_skip_relocation`, or the Cellar path the bottle was built for.
    pub cellar: String,
    pub url: String,
    pub sha256: String,
}

/// The bottle tag chosen for one platform, and a verdict on every tag the record has.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Selection {
    pub chosen: Option<String>,
    #[serde(skip)]
    pub file: Option<BottleFile>,
    /// Tag → `chosen`, or why it was not.
    pub verdicts: BTreeMap<String, String>,
}

/// What a tag is built for: an architecture and, on macOS, a release.
enum TagTarget {
    Linux { arm: bool },
    Macos { arm: bool, release: MacosVersion },
    All,
}

fn target(tag: &str) -> Option<TagTarget> {
    match tag {
        "all" => return Some(TagTarget::All),
        "x86_64_linux" => return Some(TagTarget::Linux { arm: false }),
        "arm64_linux" | "aarch64_linux" => return Some(TagTarget::Linux { arm: true }),
        _ => {}
    }
    let (arm, codename) = match tag.strip_prefix("arm64_") {
        Some(codename) => (true, codename),
        None => (false, tag),
    };
    let release = MacosVersion::from_codename(codename)?;
    Some(TagTarget::Macos { arm, release })
}

/// Choose the bottle for `platform`: on Linux the architecture's tag, then `all`; on macOS the
/// newest tag for the architecture built for a release not newer than `min_macos` (it runs on
/// that release and later ones), then `all`.
pub fn select(
    files: &BTreeMap<String, BottleFile>,
    platform: Platform,
    min_macos: MacosVersion,
) -> Selection {
    let (linux, arm) = match platform {
        Platform::LinuxX86_64 => (true, false),
        Platform::LinuxAarch64 => (true, true),
        Platform::MacosX86_64 => (false, false),
        Platform::MacosAarch64 => (false, true),
        Platform::WindowsX86_64 | Platform::WindowsAarch64 => {
            return Selection {
                verdicts: files
                    .keys()
                    .map(|tag| (tag.clone(), "Homebrew has no bottles for Windows".to_string()))
                    .collect(),
                ..Selection::default()
            }
        }
    };
    let arch = if arm { "arm64" } else { "x86_64" };
    // Candidates ranked: a lower rank is better.
    let mut candidates: Vec<((u8, std::cmp::Reverse<MacosVersion>), &String)> = Vec::new();
    let mut verdicts = BTreeMap::new();
    for tag in files.keys() {
        let verdict = match target(tag) {
            None => Some("not a bottle tag velo knows".to_string()),
            Some(TagTarget::All) => {
                candidates.push(((1, std::cmp::Reverse(MacosVersion::new(0, 0))), tag));
                None
            }
            Some(TagTarget::Linux { .. }) if !linux => Some("a Linux bottle".to_string()),
            Some(TagTarget::Macos { .. }) if linux => Some("a macOS bottle".to_string()),
            Some(TagTarget::Linux { arm: a } | TagTarget::Macos { arm: a, .. }) if a != arm => {
                Some(format!("not for {arch}"))
            }
            Some(TagTarget::Linux { .. }) => {
                candidates.push(((0, std::cmp::Reverse(MacosVersion::new(0, 0))), tag));
                None
            }
            Some(TagTarget::Macos { release, .. }) if release > min_macos => Some(format!(
                "built for macOS {release}, newer than the project's oldest macOS {min_macos} (`min_macos`)"
            )),
            Some(TagTarget::Macos { release, .. }) => {
                candidates.push(((0, std::cmp::Reverse(release)), tag));
                None
            }
        };
        if let Some(verdict) = verdict {
            verdicts.insert(tag.clone(), verdict);
        }
    }
    candidates.sort();
    let chosen = candidates.first().map(|(_, tag)| (*tag).clone());
    for (_, tag) in &candidates {
        let verdict = match &chosen {
            Some(best) if best == *tag => "chosen".to_string(),
            Some(best) => format!("fits, but `{best}` comes first"),
            None => unreachable!("a candidate exists, so one is chosen"),
        };
        verdicts.insert((*tag).clone(), verdict);
    }
    Selection {
        file: chosen.as_ref().map(|tag| files[tag].clone()),
        chosen,
        verdicts,
    }
}

/// The repository path of a bottle URL (`openssl/3` in
/// `https://ghcr.io/v2/homebrew/core/openssl/3/blobs/sha256:…`) and its digest.
pub fn blob_parts(url: &str) -> Option<(&str, &str)> {
    let (before, digest) = url.rsplit_once("/blobs/sha256:")?;
    let repo = before
        .split_once("/v2/homebrew/core/")
        .map(|(_, repo)| repo)
        .or_else(|| before.rsplit_once('/').map(|(_, last)| last))?;
    let safe = |s: &str| {
        !s.is_empty()
            && s.split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
    };
    (safe(repo) && digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((repo, digest))
}

/// The blob URL on the configured registry (a mirror, or ghcr itself).
pub fn blob_url(base: &url::Url, repo: &str, sha256: &str) -> String {
    format!(
        "{}/{repo}/blobs/sha256:{sha256}",
        base.as_str().trim_end_matches('/')
    )
}

/// The image tag of a formula's bottles: the package version, `-REBUILD` when rebuilt.
pub fn image_tag(pkg_version: &str, rebuild: u32) -> String {
    match rebuild {
        0 => pkg_version.to_string(),
        rebuild => format!("{pkg_version}-{rebuild}"),
    }
}

#[derive(Deserialize)]
struct ImageIndex {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The sizes of a formula's bottles by sha256, from its OCI image index.
pub fn sizes_from_index(body: &[u8]) -> Result<BTreeMap<String, u64>, String> {
    let index: ImageIndex =
        serde_json::from_slice(body).map_err(|err| format!("the bottle image index is not valid: {err}"))?;
    Ok(index
        .manifests
        .into_iter()
        .filter_map(|entry| {
            let digest = entry
                .annotations
                .get("sh.brew.bottle.digest")?
                .to_ascii_lowercase();
            let size = entry.annotations.get("sh.brew.bottle.size")?.parse().ok()?;
            Some((digest, size))
        })
        .collect())
}

/// GET the image index `<base>/<repo>/manifests/<tag>` with ghcr's anonymous token.
pub async fn fetch_sizes(
    http: &HttpClient,
    base: &url::Url,
    repo: &str,
    tag: &str,
) -> Result<BTreeMap<String, u64>, String> {
    let url = format!("{}/{repo}/manifests/{tag}", base.as_str().trim_end_matches('/'));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = http
            .client()
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/vnd.oci.image.index.v1+json")
            .header(reqwest::header::AUTHORIZATION, "Bearer QQ==")
            .timeout(http.timeout())
            .send()
            .await;
        let retry = match response {
            Ok(response) if response.status().is_success() => {
                let body = crate::http::body_within(response, crate::http::MAX_METADATA)
                    .await
                    .map_err(|err| format!("failed to read `{url}`: {err}"))?
                    .ok_or_else(|| format!("`{url}` is too large"))?;
                return sizes_from_index(&body);
            }
            Ok(response) if response.status().is_server_error() || response.status().as_u16() == 429 => {
                format!("`{url}` answered {}", response.status())
            }
            Ok(response) => return Err(format!("`{url}` answered {}", response.status())),
            Err(err) => format!("failed to fetch `{url}`: {err}"),
        };
        if attempt > http.retries() {
            return Err(retry);
        }
        tokio::time::sleep(http.backoff(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(tags: &[&str]) -> BTreeMap<String, BottleFile> {
        tags.iter()
            .map(|tag| {
                let file = BottleFile {
                    cellar: ":any".to_string(),
                    url: format!(
                        "https://ghcr.io/v2/homebrew/core/x/blobs/sha256:{}",
                        "a".repeat(64)
                    ),
                    sha256: "a".repeat(64),
                };
                (tag.to_string(), file)
            })
            .collect()
    }

    #[test]
    fn macos_takes_the_newest_tag_not_newer_than_min_macos() {
        let files = files(&[
            "arm64_tahoe",
            "arm64_sequoia",
            "arm64_ventura",
            "sonoma",
            "x86_64_linux",
            "all",
        ]);
        let choice = select(&files, Platform::MacosAarch64, MacosVersion::DEFAULT);
        assert_eq!(choice.chosen.as_deref(), Some("arm64_ventura"));
        assert!(choice.verdicts["arm64_sequoia"].contains("newer than the project's oldest macOS 14"));
        assert_eq!(choice.verdicts["sonoma"], "not for arm64");
        assert_eq!(choice.verdicts["x86_64_linux"], "a Linux bottle");
        assert_eq!(choice.verdicts["all"], "fits, but `arm64_ventura` comes first");
        let later = select(&files, Platform::MacosAarch64, MacosVersion::new(15, 2));
        assert_eq!(later.chosen.as_deref(), Some("arm64_sequoia"));
        assert_eq!(
            select(&files, Platform::MacosX86_64, MacosVersion::DEFAULT)
                .chosen
                .as_deref(),
            Some("sonoma")
        );
        let old = select(&files, Platform::MacosX86_64, MacosVersion::new(13, 0));
        assert_eq!(old.chosen.as_deref(), Some("all"));
    }

    #[test]
    fn linux_takes_its_arch_then_all() {
        let files = files(&["x86_64_linux", "arm64_sonoma", "all"]);
        assert_eq!(
            select(&files, Platform::LinuxX86_64, MacosVersion::DEFAULT)
                .chosen
                .as_deref(),
            Some("x86_64_linux")
        );
        assert_eq!(
            select(&files, Platform::LinuxAarch64, MacosVersion::DEFAULT)
                .chosen
                .as_deref(),
            Some("all")
        );
        let none = select(
            &self::files(&["arm64_sonoma"]),
            Platform::LinuxAarch64,
            MacosVersion::DEFAULT,
        );
        assert_eq!(none.chosen, None);
    }

    #[test]
    fn blob_urls_are_split_and_rebased() {
        let digest = "0123456789abcdef".repeat(4);
        let url = format!("https://ghcr.io/v2/homebrew/core/openssl/3/blobs/sha256:{digest}");
        assert_eq!(blob_parts(&url), Some(("openssl/3", digest.as_str())));
        assert_eq!(
            blob_parts("https://ghcr.io/v2/homebrew/core/../blobs/sha256:00"),
            None
        );
        let base = url::Url::parse("http://127.0.0.1:9/v2/homebrew/core").unwrap();
        assert_eq!(
            blob_url(&base, "openssl/3", &digest),
            format!("http://127.0.0.1:9/v2/homebrew/core/openssl/3/blobs/sha256:{digest}")
        );
        assert_eq!(image_tag("3.3.2_1", 0), "3.3.2_1");
        assert_eq!(image_tag("2.12.3", 1), "2.12.3-1");
    }

    #[test]
    fn sizes_come_from_the_annotations() {
        let body = br#"{"schemaVersion": 2, "manifests": [
          {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:11", "size": 5581,
           "annotations": {"org.opencontainers.image.ref.name": "2.12.3.x86_64_linux", "sh.brew.bottle.digest": "AB", "sh.brew.bottle.size": "23222962"}},
          {"annotations": {"sh.brew.bottle.digest": "cd"}}]}"#;
        let sizes = sizes_from_index(body).unwrap();
        assert_eq!(sizes, BTreeMap::from([("ab".to_string(), 23222962)]));
    }
}
