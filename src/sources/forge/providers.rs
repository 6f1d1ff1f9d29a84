//! The three forge APIs: where a repository's releases are, how to authenticate, how to read a
//! page of releases and find the next one.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, LINK};
use serde::Deserialize;
use url::Url;

use super::ForgeError;
use crate::env_vars;
use crate::manifest::{PackageKey, PackageSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
    Gitea,
}

/// A repository on a forge, ready to be asked for its releases.
#[derive(Clone)]
pub struct ForgeRepo {
    pub kind: Kind,
    /// The key as written in `velo.json` (`github:BurntSushi/ripgrep`); the lock's `source`.
    pub key: String,
    /// The repository's name, the default command name.
    pub name: String,
    api: Url,
    /// `owner/repo`, or a GitLab project path.
    path: String,
    token: Option<String>,
    /// The variable a token for this forge is read from, for hints.
    pub token_var: &'static str,
}

impl std::fmt::Debug for ForgeRepo {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeRepo")
            .field("key", &self.key)
            .field("api", &self.api.as_str())
            .finish()
    }
}

/// A release: its tag and assets.
#[derive(Debug, Clone)]
pub struct Release {
    pub tag: String,
    pub draft: bool,
    pub prerelease: bool,
    pub assets: Vec<ReleaseAsset>,
}

impl Release {
    /// The assets as asset selection sees them.
    pub fn asset_infos(&self) -> Vec<super::assets::AssetInfo> {
        self.assets
            .iter()
            .map(|a| super::assets::AssetInfo {
                name: a.name.clone(),
                size: a.size,
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct ReleaseAsset {
    pub name: String,
    /// Where to download it from.
    pub url: String,
    pub size: Option<u64>,
    /// The API's sha256 digest, when it gives one.
    pub sha256: Option<String>,
}

fn env_url(var: &str, default: &str) -> Result<Url, ForgeError> {
    let text = std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    let mut url = Url::parse(&text).map_err(|err| ForgeError::BadApiUrl {
        url: text.clone(),
        reason: err.to_string(),
    })?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

fn token(vars: &[&str]) -> Option<String> {
    vars.iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
}

impl ForgeRepo {
    pub fn from_key(key: &PackageKey) -> Result<Self, ForgeError> {
        let display = key.to_string();
        let (kind, api, path, token, token_var) = match &key.source {
            PackageSource::GitHub { owner, repo } => (
                Kind::GitHub,
                env_url(env_vars::VELO_GITHUB_API_URL, "https://api.github.com/")?,
                format!("{owner}/{repo}"),
                token(&[env_vars::GITHUB_TOKEN, env_vars::GH_TOKEN]),
                env_vars::GITHUB_TOKEN,
            ),
            PackageSource::GitLab { project } => (
                Kind::GitLab,
                env_url(env_vars::VELO_GITLAB_API_URL, "https://gitlab.com/api/v4/")?,
                project.clone(),
                token(&[env_vars::GITLAB_TOKEN]),
                env_vars::GITLAB_TOKEN,
            ),
            PackageSource::Gitea { host, owner, repo } => {
                // A Gitea token belongs to one instance: it is sent only to the one the user
                // configured with `VELO_GITEA_API_URL`, never to a host a manifest names.
                let configured = std::env::var(env_vars::VELO_GITEA_API_URL)
                    .ok()
                    .filter(|v| !v.is_empty());
                let token = configured.as_ref().and_then(|_| token(&[env_vars::GITEA_TOKEN]));
                (
                    Kind::Gitea,
                    env_url(env_vars::VELO_GITEA_API_URL, &format!("https://{host}/api/v1/"))?,
                    format!("{owner}/{repo}"),
                    token,
                    env_vars::GITEA_TOKEN,
                )
            }
            PackageSource::Codeberg { owner, repo } => (
                Kind::Gitea,
                env_url(env_vars::VELO_CODEBERG_API_URL, "https://codeberg.org/api/v1/")?,
                format!("{owner}/{repo}"),
                token(&[env_vars::CODEBERG_TOKEN]),
                env_vars::CODEBERG_TOKEN,
            ),
            _ => return Err(ForgeError::NotAForge { key: display }),
        };
        Ok(Self {
            kind,
            key: display,
            name: key.name.clone(),
            api,
            path,
            token,
            token_var,
        })
    }

    /// The first page of releases.
    pub fn releases_url(&self) -> Url {
        let relative = match self.kind {
            Kind::GitHub => format!("repos/{}/releases?per_page=100", self.path),
            Kind::GitLab => {
                let encoded: String = url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect();
                format!("projects/{encoded}/releases?per_page=100")
            }
            Kind::Gitea => format!("repos/{}/releases?limit=50&page=1", self.path),
        };
        self.api
            .join(&relative)
            .expect("a releases path joins onto an API URL")
    }

    /// Headers for every API request: the media type, and the token if there is one.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.kind == Kind::GitHub {
            headers.insert(ACCEPT, HeaderValue::from_static("application/vnd.github+json"));
            headers.insert(
                HeaderName::from_static("x-github-api-version"),
                HeaderValue::from_static("2022-11-28"),
            );
        }
        if let Some(token) = &self.token {
            let (name, value) = match self.kind {
                Kind::GitHub => (AUTHORIZATION, format!("Bearer {token}")),
                Kind::GitLab => (HeaderName::from_static("private-token"), token.clone()),
                Kind::Gitea => (AUTHORIZATION, format!("token {token}")),
            };
            if let Ok(mut value) = HeaderValue::from_str(&value) {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        headers
    }

    /// Headers for downloading a release file: only the token (on the forge's own host).
    pub fn headers_for_download(&self) -> HeaderMap {
        let mut headers = self.headers();
        headers.remove(ACCEPT);
        headers.remove("x-github-api-version");
        headers
    }

    /// Whether `url` is on this forge's API host, so the token may be sent there.
    pub fn same_host(&self, url: &Url) -> bool {
        url.host_str() == self.api.host_str()
            && url.port_or_known_default() == self.api.port_or_known_default()
    }

    /// Read one page of releases.
    pub fn parse_page(&self, body: &[u8]) -> Result<Vec<Release>, String> {
        match self.kind {
            Kind::GitHub | Kind::Gitea => {
                let page: Vec<GitHubRelease> = serde_json::from_slice(body).map_err(|err| err.to_string())?;
                Ok(page.into_iter().map(GitHubRelease::into_release).collect())
            }
            Kind::GitLab => {
                let page: Vec<GitLabRelease> = serde_json::from_slice(body).map_err(|err| err.to_string())?;
                Ok(page.into_iter().map(GitLabRelease::into_release).collect())
            }
        }
    }

    /// The next page: the `Link: <…>; rel="next"` header, else (GitLab) `X-Next-Page`, else
    /// (Gitea, which may omit links) the next page number while pages come back full.
    pub fn next_page(&self, current: &Url, headers: &HeaderMap, items: usize) -> Option<Url> {
        if let Some(next) = headers
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
        {
            return current.join(&next).ok();
        }
        let set_page = |page: u64| {
            let mut url = current.clone();
            let pairs: Vec<(String, String)> = current
                .query_pairs()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(pairs)
                .append_pair("page", &page.to_string());
            url
        };
        match self.kind {
            Kind::GitLab => {
                let next = headers
                    .get("x-next-page")?
                    .to_str()
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()?;
                Some(set_page(next))
            }
            Kind::Gitea if items >= 50 => {
                let page = current
                    .query_pairs()
                    .find(|(k, _)| k == "page")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(1);
                Some(set_page(page + 1))
            }
            _ => None,
        }
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// GitHub's and Gitea's release shape (Gitea mirrors GitHub's).
#[derive(Deserialize)]
struct GitHubRelease {
    tag_name: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    assets: Vec<GitHubAsset>,
}

#[derive(Deserialize)]
struct GitHubAsset {
    name: String,
    #[serde(default)]
    size: Option<u64>,
    browser_download_url: String,
    /// `sha256:<hex>` on GitHub since 2025.
    #[serde(default)]
    digest: Option<String>,
}

impl GitHubRelease {
    fn into_release(self) -> Release {
        let assets = self
            .assets
            .into_iter()
            .map(|asset| ReleaseAsset {
                sha256: asset
                    .digest
                    .as_deref()
                    .and_then(|d| d.strip_prefix("sha256:"))
                    .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(str::to_ascii_lowercase),
                name: asset.name,
                url: asset.browser_download_url,
                size: asset.size,
            })
            .collect();
        Release {
            tag: self.tag_name,
            draft: self.draft,
            prerelease: self.prerelease,
            assets,
        }
    }
}

#[derive(Deserialize)]
struct GitLabRelease {
    tag_name: String,
    #[serde(default)]
    upcoming_release: bool,
    #[serde(default)]
    assets: GitLabAssets,
}

#[derive(Deserialize, Default)]
struct GitLabAssets {
    #[serde(default)]
    links: Vec<GitLabLink>,
}

#[derive(Deserialize)]
struct GitLabLink {
    name: String,
    url: String,
    #[serde(default)]
    direct_asset_url: Option<String>,
}

impl GitLabRelease {
    fn into_release(self) -> Release {
        let assets = self
            .assets
            .links
            .into_iter()
            .map(|link| ReleaseAsset {
                name: link.name,
                url: link.direct_asset_url.unwrap_or(link.url),
                size: None,
                sha256: None,
            })
            .collect();
        Release {
            tag: self.tag_name,
            draft: false,
            prerelease: self.upcoming_release,
            assets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let header = r#"<https://api.github.com/repositories/1/releases?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/releases?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_link(header).unwrap(),
            "https://api.github.com/repositories/1/releases?per_page=100&page=2"
        );
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
    }

    #[test]
    fn github_digests() {
        let body = format!(
            r#"[{{"tag_name":"v1.0.0","draft":false,"prerelease":false,"assets":[{{"name":"a.tar.gz","size":3,"browser_download_url":"https://x/a.tar.gz","digest":"sha256:{}"}}]}}]"#,
            "AB".repeat(32)
        );
        let repo = ForgeRepo::from_key(&"github:o/r".parse().unwrap()).unwrap();
        let releases = repo.parse_page(body.as_bytes()).unwrap();
        assert_eq!(
            releases[0].assets[0].sha256.as_deref(),
            Some("ab".repeat(32).as_str())
        );
    }
}
