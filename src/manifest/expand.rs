//! `${NAME}` in manifest values. A repository chooses where such a value goes (the remote
//! cache's URL and token are sent over the network), so only variables the user opted into
//! expand: every `VELO_*` name but velo's own secrets ([`SECRETS`]), and the names listed in
//! `expand_env` in `config.toml`. A reference to any other name is an error naming it, never a
//! silent empty string.

use std::collections::BTreeMap;

/// `VELO_*` names holding secrets, which expand only when `expand_env` lists them: a repository
/// that wrote `${VELO_CACHE_SIGNING_KEY}` into its cache URL would have the key sent to its
/// server and printed. (`cache.remote.token` may still name `VELO_CACHE_TOKEN`, which goes to the
/// same place as the token anyway: see `run::remote`.)
pub const SECRETS: [&str; 3] = [
    crate::env_vars::VELO_CACHE_TOKEN,
    crate::env_vars::VELO_CACHE_SIGNING_KEY,
    crate::env_vars::VELO_SERVER_URL_SECRET,
];

/// The variables `${NAME}` may read, and their values.
#[derive(Debug, Clone, Copy)]
pub struct Expansion<'a> {
    pub vars: &'a BTreeMap<String, String>,
    /// Names besides `VELO_*` the user allowed (`expand_env` in `config.toml`).
    pub allowed: &'a [String],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpandError {
    #[error(
        "`{field}` in `velo.json` refers to `${{{name}}}`, which velo does not expand unless you allow it"
    )]
    NotAllowed { field: String, name: String },
}

impl ExpandError {
    pub fn hint(&self) -> String {
        match self {
            ExpandError::NotAllowed { name, .. } => format!(
                "if you mean to send `{name}` where this project says, add `expand_env = [\"{name}\"]` to `config.toml` in velo's config directory"
            ),
        }
    }
}

impl From<ExpandError> for crate::error::Error {
    fn from(err: ExpandError) -> Self {
        let hint = Some(err.hint());
        crate::error::Error::usage(err.to_string(), hint)
    }
}

impl Expansion<'_> {
    /// Whether `${name}` may expand.
    pub fn allows(&self, name: &str) -> bool {
        (name.starts_with("VELO_") && !SECRETS.contains(&name))
            || self.allowed.iter().any(|allowed| allowed == name)
    }

    /// `text` with every `${NAME}` replaced by the variable's value (empty when unset); `field`
    /// names the manifest field in the error. An unclosed `${` stays as written.
    pub fn expand(&self, text: &str, field: &str) -> Result<String, ExpandError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else { break };
            out.push_str(&rest[..start]);
            let name = &rest[start + 2..start + end];
            if !self.allows(name) {
                return Err(ExpandError::NotAllowed {
                    field: field.to_string(),
                    name: name.to_string(),
                });
            }
            out.push_str(self.vars.get(name).map_or("", String::as_str));
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_opted_in_names_expand() {
        let vars: BTreeMap<String, String> = [
            ("VELO_PROFILE", "t"),
            ("CI_JOB_TOKEN", "ci"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let allowed = ["CI_JOB_TOKEN".to_string()];
        let expansion = Expansion {
            vars: &vars,
            allowed: &allowed,
        };
        assert_eq!(
            expansion.expand("a ${VELO_PROFILE} ${CI_JOB_TOKEN} ${VELO_UNSET} ${x", "f"),
            Ok("a t ci  ${x".to_string())
        );
        let err = expansion
            .expand("https://x/${AWS_SECRET_ACCESS_KEY}", "cache.remote.url")
            .unwrap_err();
        assert_eq!(
            err,
            ExpandError::NotAllowed {
                field: "cache.remote.url".into(),
                name: "AWS_SECRET_ACCESS_KEY".into()
            }
        );
        assert!(err.hint().contains("expand_env = [\"AWS_SECRET_ACCESS_KEY\"]"));
    }

    /// velo's own secrets are `VELO_*` names, but a repository's URL never gets them unless the
    /// user lists them.
    #[test]
    fn velo_secrets_expand_only_when_listed() {
        let vars: BTreeMap<String, String> = SECRETS
            .map(|name| (name.to_string(), "secret".to_string()))
            .into();
        for name in SECRETS {
            let text = format!("http://x/${{{name}}}");
            let none = Expansion {
                vars: &vars,
                allowed: &[],
            };
            assert!(
                matches!(none.expand(&text, "cache.remote.url"), Err(ExpandError::NotAllowed { name: n, .. }) if n == name),
                "{name}"
            );
            let listed = [name.to_string()];
            let opted = Expansion {
                vars: &vars,
                allowed: &listed,
            };
            assert_eq!(
                opted.expand(&text, "cache.remote.url").unwrap(),
                "http://x/secret"
            );
        }
    }
}
