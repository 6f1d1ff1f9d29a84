//! Bearer tokens: `--tokens-file` holds one a line, `read SECRET` or `write SECRET`.
//!
//! Only the blake3 hashes of the secrets are kept. A presented token is hashed and compared with
//! every entry (blake3's `Hash` compares in constant time, and the loop never stops early), so
//! neither the comparison nor the number of entries checked says how close a guess was.

use std::path::Path;

use crate::protocol::Scope;

#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("cannot read the tokens file `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` line {line}: expected `read SECRET` or `write SECRET`")]
    Syntax { path: String, line: usize },
    #[error("`{path}` line {line}: a token must be at least 16 characters")]
    Short { path: String, line: usize },
    #[error("`{path}` holds no tokens")]
    Empty { path: String },
}

pub struct Tokens {
    entries: Vec<(blake3::Hash, Scope)>,
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Self, TokensError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, TokensError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = || TokensError::Syntax {
                path: path.to_string(),
                line: index + 1,
            };
            let (scope, secret) = line.split_once(char::is_whitespace).ok_or_else(syntax)?;
            let scope = match scope {
                "read" => Scope::Read,
                "write" | "read-write" => Scope::ReadWrite,
                _ => return Err(syntax()),
            };
            let secret = secret.trim();
            if secret.contains(char::is_whitespace) {
                return Err(syntax());
            }
            if secret.len() < 16 {
                return Err(TokensError::Short {
                    path: path.to_string(),
                    line: index + 1,
                });
            }
            entries.push((blake3::hash(secret.as_bytes()), scope));
        }
        if entries.is_empty() {
            return Err(TokensError::Empty {
                path: path.to_string(),
            });
        }
        Ok(Self { entries })
    }

    /// The scope of the token in an `Authorization: Bearer …` header value, if it is one of ours.
    pub fn scope(&self, authorization: Option<&str>) -> Option<Scope> {
        let presented = authorization?.strip_prefix("Bearer ")?.trim();
        let presented = blake3::hash(presented.as_bytes());
        let mut found = None;
        for (hash, scope) in &self.entries {
            if *hash == presented {
                found = found.max(Some(*scope));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let tokens = Tokens::parse(
            "# CI writes, laptops read\nwrite ci-0123456789abcdef\nread  laptop-0123456789abcdef\n",
            "tokens",
        )
        .unwrap();
        assert_eq!(
            tokens.scope(Some("Bearer ci-0123456789abcdef")),
            Some(Scope::ReadWrite)
        );
        assert_eq!(
            tokens.scope(Some("Bearer laptop-0123456789abcdef")),
            Some(Scope::Read)
        );
        assert_eq!(tokens.scope(Some("Bearer laptop-0123456789abcdeX")), None);
        assert_eq!(tokens.scope(Some("laptop-0123456789abcdef")), None);
        assert_eq!(tokens.scope(None), None);
    }

    #[test]
    fn bad_files() {
        assert!(matches!(
            Tokens::parse("admin 0123456789abcdef", "t"),
            Err(TokensError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            Tokens::parse("\nread short", "t"),
            Err(TokensError::Short { line: 2, .. })
        ));
        assert!(matches!(
            Tokens::parse("# nothing\n", "t"),
            Err(TokensError::Empty { .. })
        ));
    }
}
