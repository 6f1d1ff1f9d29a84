//! Package keys: the names used in `velo.json`'s `dependencies` and in `velo.lock`.
//!
//! `jq` (a bare name), `index:jq`, `github:BurntSushi/ripgrep`, `gitlab:group/sub/project`,
//! `gitea:codeberg.org/owner/repo`, `codeberg:owner/repo`, `brew:wget`, `brew:owner/tap/name`.

use std::fmt;
use std::str::FromStr;

/// Where a package comes from, as its key says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PackageSource {
    /// A bare name: the project's `registry` if it has one, else Homebrew core.
    Default,
    /// `index:NAME`: the project's velo index.
    Index,
    GitHub {
        owner: String,
        repo: String,
    },
    GitLab {
        project: String,
    },
    Gitea {
        host: String,
        owner: String,
        repo: String,
    },
    Codeberg {
        owner: String,
        repo: String,
    },
    Brew {
        tap: Option<String>,
    },
}

/// A parsed package key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageKey {
    pub source: PackageSource,
    /// The package's short name: the index or Homebrew name, or the repository name for a forge.
    pub name: String,
}

const PREFIXES: [&str; 6] = ["index", "github", "gitlab", "gitea", "codeberg", "brew"];

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid package key `{key}`: {reason}")]
pub struct PackageKeyError {
    pub key: String,
    pub reason: String,
}

/// Whether `name` is a valid package name in an index or Homebrew: `jq`, `openssl@3`, `gtk+3`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._+@-".contains(c))
}

fn is_valid_path_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

impl PackageKey {
    /// The package's key in the solver and in `velo.lock` when `manifest_key` names it in
    /// `velo.json`: an index package goes by its index name (so `index:jq` and a transitive
    /// `jq` are one package), anything else by the manifest key.
    pub fn lock_key(&self, manifest_key: &str) -> String {
        match self.source {
            PackageSource::Default | PackageSource::Index => self.name.clone(),
            _ => manifest_key.to_string(),
        }
    }
}

/// The longest package key: its Cellar directory name (at most twice as long, see
/// `install::dir_name`) must fit in a file name, which is 255 bytes almost everywhere.
pub const MAX_KEY_LEN: usize = 120;

impl FromStr for PackageKey {
    type Err = PackageKeyError;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| PackageKeyError {
            key: key.to_string(),
            reason,
        };
        if key.len() > MAX_KEY_LEN {
            return Err(error(format!("a package key is at most {MAX_KEY_LEN} bytes")));
        }
        let Some((prefix, rest)) = key.split_once(':') else {
            if !is_valid_name(key) {
                return Err(error(
                    "a package name uses lowercase letters, digits and `._+@-`, and starts with a letter or digit"
                        .to_string(),
                ));
            }
            return Ok(PackageKey {
                source: PackageSource::Default,
                name: key.to_string(),
            });
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if !segments.iter().all(|s| is_valid_path_segment(s)) {
            return Err(error(format!("`{rest}` is not a valid path after `{prefix}:`")));
        }
        let owned = |i: usize| segments[i].to_string();
        let wrong_shape = |shape: &str| error(format!("expected `{prefix}:{shape}`"));
        let (source, name) = match (prefix, segments.len()) {
            ("index", 1) => {
                if !is_valid_name(rest) {
                    return Err(error(format!("`{rest}` is not a valid package name")));
                }
                (PackageSource::Index, rest.to_string())
            }
            ("index", _) => return Err(wrong_shape("NAME")),
            ("github", 2) => (
                PackageSource::GitHub {
                    owner: owned(0),
                    repo: owned(1),
                },
                owned(1),
            ),
            ("github", _) => return Err(wrong_shape("OWNER/REPO")),
            ("codeberg", 2) => (
                PackageSource::Codeberg {
                    owner: owned(0),
                    repo: owned(1),
                },
                owned(1),
            ),
            ("codeberg", _) => return Err(wrong_shape("OWNER/REPO")),
            ("gitlab", n) if n >= 2 => (
                PackageSource::GitLab {
                    project: rest.to_string(),
                },
                segments[n - 1].to_string(),
            ),
            ("gitlab", _) => return Err(wrong_shape("GROUP/PROJECT")),
            ("gitea", 3) => (
                PackageSource::Gitea {
                    host: owned(0),
                    owner: owned(1),
                    repo: owned(2),
                },
                owned(2),
            ),
            ("gitea", _) => return Err(wrong_shape("HOST/OWNER/REPO")),
            ("brew", 1) if is_valid_name(rest) => (PackageSource::Brew { tap: None }, rest.to_string()),
            ("brew", 3) if is_valid_name(segments[2]) => (
                PackageSource::Brew {
                    tap: Some(format!("{}/{}", segments[0], segments[1])),
                },
                owned(2),
            ),
            ("brew", _) => return Err(wrong_shape("NAME` or `brew:OWNER/TAP/NAME")),
            (other, _) => {
                let hint = crate::suggest::closest(other, PREFIXES)
                    .map(|p| format!("; did you mean `{p}:`?"))
                    .unwrap_or_else(|| {
                        format!(
                            "; known sources are {}",
                            PREFIXES.map(|p| format!("`{p}:`")).join(", ")
                        )
                    });
                return Err(error(format!("unknown source `{other}:`{hint}")));
            }
        };
        Ok(PackageKey { source, name })
    }
}

impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            PackageSource::Default => write!(f, "{}", self.name),
            PackageSource::Index => write!(f, "index:{}", self.name),
            PackageSource::GitHub { owner, repo } => write!(f, "github:{owner}/{repo}"),
            PackageSource::GitLab { project } => write!(f, "gitlab:{project}"),
            PackageSource::Gitea { host, owner, repo } => write!(f, "gitea:{host}/{owner}/{repo}"),
            PackageSource::Codeberg { owner, repo } => write!(f, "codeberg:{owner}/{repo}"),
            PackageSource::Brew { tap: None } => write!(f, "brew:{}", self.name),
            PackageSource::Brew { tap: Some(tap) } => write!(f, "brew:{tap}/{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for key in [
            "jq",
            "openssl@3",
            "index:jq",
            "github:BurntSushi/ripgrep",
            "gitlab:group/sub/project",
            "gitea:codeberg.org/owner/repo",
            "codeberg:owner/repo",
            "brew:wget",
            "brew:owner/tap/name",
        ] {
            assert_eq!(key.parse::<PackageKey>().unwrap().to_string(), key);
        }
    }

    #[test]
    fn bad_keys() {
        for (key, reason) in [
            ("Jq", "lowercase"),
            ("a b", "lowercase"),
            ("github:x", "OWNER/REPO"),
            ("githb:a/b", "did you mean `github:`"),
            ("github:a/../b", "not a valid path"),
            ("index:a/b", "NAME"),
        ] {
            let err = key.parse::<PackageKey>().unwrap_err().to_string();
            assert!(err.contains(reason), "{key}: {err}");
        }
    }
}
