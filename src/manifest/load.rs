//! Finding `velo.json` and turning serde's errors into messages that point at the problem.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Manifest;

pub const MANIFEST_FILE: &str = "velo.json";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no `{MANIFEST_FILE}` found in `{}` or any parent directory", start.display())]
    NotFound { start: PathBuf },
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<InvalidManifest>),
}

impl ManifestError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ManifestError::NotFound { .. } => Some("run `velo init` to create a project here".to_string()),
            ManifestError::Read { .. } => None,
            ManifestError::Invalid(invalid) => invalid.hint.clone(),
        }
    }
}

/// A manifest that is not valid JSON or does not have the expected shape.
#[derive(Debug)]
pub struct InvalidManifest {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The offending line of the file with a caret under the column.
    pub snippet: String,
}

impl fmt::Display for InvalidManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid `{}`: {}\n  --> {}:{}:{}\n{}",
            MANIFEST_FILE,
            self.message,
            self.path.display(),
            self.line,
            self.column,
            self.snippet
        )
    }
}

/// The nearest directory at or above `start` that holds a `velo.json`.
pub fn find_project_root(start: &Path) -> Result<PathBuf, ManifestError> {
    // The real path, so that a symlinked checkout, `-C ..` or the shell's `$PWD` all name the
    // project the same way.
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| crate::fs::normalize(start));
    start
        .ancestors()
        .find(|dir| dir.join(MANIFEST_FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or(ManifestError::NotFound { start })
}

pub(super) fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    if let Some(invalid) = not_an_object(text, path) {
        return Err(ManifestError::Invalid(Box::new(invalid)));
    }
    serde_json::from_str(text).map_err(|err| ManifestError::Invalid(Box::new(describe(&err, text, path))))
}

/// An empty file, or one whose top level is not `{ … }`.
fn not_an_object(text: &str, path: &Path) -> Option<InvalidManifest> {
    let (offset, first) = text
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .unwrap_or((text.len(), '{'));
    if first == '{' && offset < text.len() {
        return None;
    }
    let line = text[..offset].matches('\n').count() + 1;
    let column = text[..offset]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    let message = if offset == text.len() {
        "the file is empty"
    } else {
        "the top level must be an object"
    };
    Some(InvalidManifest {
        path: path.to_path_buf(),
        line,
        column,
        message: message.to_string(),
        hint: Some("the smallest valid manifest is `{}`; `velo init` writes a starter one".to_string()),
        snippet: snippet(text, line, column),
    })
}

fn describe(err: &serde_json::Error, text: &str, path: &Path) -> InvalidManifest {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let raw = full.strip_suffix(&suffix).unwrap_or(&full);
    let (line, mut column) = (err.line().max(1), err.column().max(1));

    let (message, hint) = if let Some((key, candidates)) = unknown_field(raw) {
        // serde reports the position after the key; point at its opening quote instead.
        if let Some(source_line) = text.lines().nth(line - 1) {
            let before: String = source_line.chars().take(column).collect();
            if let Some(start) = before.rfind(&format!("\"{key}\"")) {
                column = before[..start].chars().count() + 1;
            }
        }
        let hint = match crate::suggest::closest(&key, candidates.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "valid keys here are {}",
                candidates
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        (format!("unknown key `{key}`"), Some(hint))
    } else if err.is_eof() {
        (
            "unexpected end of file".to_string(),
            Some("check for a missing `}` or `]`".to_string()),
        )
    } else {
        column = start_of_string(text, line, column);
        let (message, hint) = split_suggestion(raw);
        let message = message
            .replace("missing field", "missing key")
            .replace("invalid type: ", "wrong type: ");
        let hint = hint.or_else(|| {
            message
                .starts_with("trailing comma")
                .then(|| "JSON does not allow a comma after the last item; remove it".to_string())
        });
        (message, hint)
    };

    InvalidManifest {
        path: path.to_path_buf(),
        line,
        column,
        message,
        hint,
        snippet: snippet(text, line, column),
    }
}

/// serde reports a bad string value at its closing quote; point at its first character instead.
fn start_of_string(text: &str, line: usize, column: usize) -> usize {
    let Some(source_line) = text.lines().nth(line - 1) else {
        return column;
    };
    let chars: Vec<char> = source_line.chars().collect();
    if column < 2 || chars.get(column - 1) != Some(&'"') {
        return column;
    }
    let mut i = column - 1;
    while i > 0 {
        i -= 1;
        if chars[i] == '"' && (i == 0 || chars[i - 1] != '\\') {
            return i + 2;
        }
    }
    column
}

/// Our own deserializers append their hint after `; ` in one of a few fixed phrasings; split
/// there (the last one, so a `; ` inside the user's own text stays in the message).
fn split_suggestion(message: &str) -> (String, Option<String>) {
    const HINTS: [&str; 4] = [
        "; did you mean",
        "; expected a Cargo-style",
        "; known sources",
        "; expected one of",
    ];
    let split = HINTS.iter().filter_map(|hint| message.rfind(hint)).max();
    match split {
        Some(at) => (message[..at].to_string(), Some(message[at + 2..].to_string())),
        None => (message.to_string(), None),
    }
}

/// Pick apart serde's "unknown field `x`, expected one of `a`, `b`" message.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let candidates = rest.split('`').skip(1).step_by(2).map(str::to_string).collect();
    Some((key.to_string(), candidates))
}

fn snippet(text: &str, line: usize, column: usize) -> String {
    let Some(source_line) = text.lines().nth(line - 1) else {
        return String::new();
    };
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let source_line = source_line.replace('\t', " ");
    let caret_pad: String = source_line
        .chars()
        .take(column.saturating_sub(1))
        .map(|_| ' ')
        .collect();
    format!("{gutter} |\n{number} | {source_line}\n{gutter} | {caret_pad}^")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_serde_unknown_field_messages() {
        let (key, candidates) =
            unknown_field("unknown field `dependancies`, expected one of `name`, `dependencies`").unwrap();
        assert_eq!(key, "dependancies");
        assert_eq!(candidates, ["name", "dependencies"]);
        let (key, candidates) = unknown_field("unknown field `x`, expected `a` or `b`").unwrap();
        assert_eq!(
            (key.as_str(), candidates),
            ("x", vec!["a".to_string(), "b".to_string()])
        );
    }

    /// serde's wording is what [`unknown_field`] reads; this fails loudly if it ever changes.
    #[test]
    fn serde_still_words_unknown_fields_the_same() {
        let err = Manifest::from_str("{\"dependancies\": {}}", Path::new("velo.json")).unwrap_err();
        let ManifestError::Invalid(invalid) = err else {
            panic!("expected an invalid manifest")
        };
        assert_eq!(invalid.message, "unknown key `dependancies`");
        assert_eq!(invalid.hint.as_deref(), Some("did you mean `dependencies`?"));
        assert_eq!((invalid.line, invalid.column), (1, 2));
    }
}
