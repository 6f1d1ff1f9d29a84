//! Editing `velo.json` in place for `velo add` and `velo remove`.
//!
//! Works on a concrete syntax tree so that the user's key order, indentation and spacing survive;
//! only the touched entries change.

use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::ParseOptions;

/// A `velo.json` being edited.
pub struct ManifestEditor {
    root: CstRootNode,
}

#[derive(Debug, thiserror::Error)]
#[error("`velo.json` cannot be edited: {0}")]
pub struct EditError(String);

impl ManifestEditor {
    pub fn parse(text: &str) -> Result<Self, EditError> {
        let options = ParseOptions {
            allow_comments: false,
            allow_loose_object_property_names: false,
            allow_trailing_commas: false,
        };
        let root = CstRootNode::parse(text, &options).map_err(|err| EditError(err.to_string()))?;
        if root.value().is_some() && root.object_value().is_none() {
            return Err(EditError("its top level is not an object".to_string()));
        }
        Ok(Self { root })
    }

    fn dependencies(&self) -> Result<CstObject, EditError> {
        let top = self.root.object_value_or_set();
        match top.get("dependencies") {
            Some(prop) => prop
                .object_value()
                .ok_or_else(|| EditError("`dependencies` is not an object".to_string())),
            None => Ok(top.object_value_or_set("dependencies")),
        }
    }

    /// Set the requirement of `key`, adding the dependency at the end when it is new.
    /// The long form (`{"version": …}`) keeps its other fields.
    pub fn set_dependency(&mut self, key: &str, requirement: &str) -> Result<(), EditError> {
        let dependencies = self.dependencies()?;
        match dependencies.get(key) {
            Some(prop) => match prop.object_value() {
                Some(detail) => match detail.get("version") {
                    Some(version) => version.set_value(CstInputValue::from(requirement)),
                    None => {
                        detail.append("version", CstInputValue::from(requirement));
                    }
                },
                None => prop.set_value(CstInputValue::from(requirement)),
            },
            None => {
                dependencies.ensure_multiline();
                dependencies.append(key, CstInputValue::from(requirement));
            }
        }
        Ok(())
    }

    /// Set `field` of dependency `key` (which must exist), turning `"key": "req"` into
    /// `"key": {"version": "req", field: value}` when needed.
    pub fn set_dependency_field(
        &mut self,
        key: &str,
        field: &str,
        value: CstInputValue,
    ) -> Result<(), EditError> {
        let dependencies = self.dependencies()?;
        let prop = dependencies
            .get(key)
            .ok_or_else(|| EditError(format!("`{key}` is not a dependency")))?;
        if let Some(detail) = prop.object_value() {
            match detail.get(field) {
                Some(existing) => existing.set_value(value),
                None => {
                    detail.append(field, value);
                }
            }
            return Ok(());
        }
        let requirement = prop
            .value()
            .and_then(|v| v.as_string_lit())
            .and_then(|s| s.decoded_value().ok())
            .unwrap_or_else(|| "*".to_string());
        prop.set_value(CstInputValue::Object(vec![
            ("version".to_string(), CstInputValue::from(requirement)),
            (field.to_string(), value),
        ]));
        Ok(())
    }

    /// Remove `key` from `dependencies`; false when it was not there.
    pub fn remove_dependency(&mut self, key: &str) -> Result<bool, EditError> {
        let Some(prop) = self.dependencies()?.get(key) else {
            return Ok(false);
        };
        prop.remove();
        Ok(true)
    }

    pub fn to_text(&self) -> String {
        let mut text = self.root.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"{
    "name": "demo",
    "dependencies": {
        "jq": "^1.6",
        "fd": { "source": "github:sharkdp/fd", "version": "9" }
    },
    "env": {}
}
"#;

    #[test]
    fn adds_at_the_end_keeping_format() {
        let mut editor = ManifestEditor::parse(ORIGINAL).unwrap();
        editor.set_dependency("ripgrep", "^14").unwrap();
        let text = editor.to_text();
        assert!(text.contains("        \"fd\": { \"source\": \"github:sharkdp/fd\", \"version\": \"9\" },\n        \"ripgrep\": \"^14\"\n"), "{text}");
        assert!(text.starts_with("{\n    \"name\": \"demo\",\n"));
    }

    #[test]
    fn updates_both_forms_in_place() {
        let mut editor = ManifestEditor::parse(ORIGINAL).unwrap();
        editor.set_dependency("jq", "^1.7").unwrap();
        editor.set_dependency("fd", "^10").unwrap();
        let text = editor.to_text();
        assert!(text.contains("\"jq\": \"^1.7\","), "{text}");
        assert!(text.contains("\"version\": \"^10\" }"), "{text}");
    }

    #[test]
    fn removes_and_creates() {
        let mut editor = ManifestEditor::parse(ORIGINAL).unwrap();
        assert!(editor.remove_dependency("fd").unwrap());
        assert!(!editor.remove_dependency("fd").unwrap());
        let text = editor.to_text();
        assert!(!text.contains("fd"), "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap();

        let mut editor = ManifestEditor::parse("{\"name\": \"x\"}").unwrap();
        editor.set_dependency("jq", "*").unwrap();
        let value: serde_json::Value = serde_json::from_str(&editor.to_text()).unwrap();
        assert_eq!(value["dependencies"]["jq"], "*");
    }
}
