//! Variations of the shipped configuration, for scenarios that need a fortress configured
//! differently ("a fortress where fortress.yaml sets iap.allowHttpOptions to true").
//!
//! The fixtures are never changed on disk. A variation is the fixture's text, parsed, with one
//! value set at a dotted path, written back out as JSON (JSON is YAML, so blueprint and the
//! gateway read it as they read the fixture). Each edited document is validated by its usual
//! loader, so a typo in a scenario is an error naming the field, not a silently ignored key.

use serde_json::Value;

/// An edit could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{document}: not YAML: {reason}")]
    Parse { document: String, reason: String },
    #[error("{document}: cannot set {path:?}: {reason}")]
    Path {
        document: String,
        path: String,
        reason: String,
    },
}

/// One `path = value` change.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// Dotted keys, array indexes as numbers: `iap.programmaticClients`,
    /// `paths./coffee.get.x-google-backend.deadline`, `services.1.ingress`.
    pub path: String,
    pub value: Value,
}

impl Edit {
    /// `value` is read as JSON when it is JSON (`true`, `0.5`, `["a"]`, `{"k":1}`), else taken as
    /// a string.
    pub fn new(path: &str, value: &str) -> Self {
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        Self {
            path: path.into(),
            value,
        }
    }
}

/// `text` (YAML) with every edit applied, as JSON text.
pub fn apply(document: &str, text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut doc: Value = serde_saphyr::from_str(text).map_err(|e| EditError::Parse {
        document: document.into(),
        reason: e.to_string(),
    })?;
    for edit in edits {
        set(&mut doc, &edit.path, edit.value.clone()).map_err(|reason| EditError::Path {
            document: document.into(),
            path: edit.path.clone(),
            reason,
        })?;
    }
    Ok(doc.to_string())
}

fn set(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let keys: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = keys.split_last() else {
        return Err("empty path".into());
    };
    let mut node = doc;
    for key in parents {
        node = match node {
            Value::Object(map) => map
                .entry((*key).to_string())
                .or_insert_with(|| Value::Object(Default::default())),
            Value::Array(items) => {
                let i: usize = key
                    .parse()
                    .map_err(|_| format!("{key:?} is not an index into a list"))?;
                let len = items.len();
                items
                    .get_mut(i)
                    .ok_or_else(|| format!("index {i} is past the list's {len} items"))?
            }
            other => {
                return Err(format!(
                    "{key:?} is inside a {}, not a mapping",
                    kind(other)
                ));
            }
        };
    }
    match node {
        Value::Object(map) => {
            map.insert((*last).to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("{last:?} is not an index into a list"))?;
            let len = items.len();
            let slot = items
                .get_mut(i)
                .ok_or_else(|| format!("index {i} is past the list's {len} items"))?;
            *slot = value;
            Ok(())
        }
        other => Err(format!(
            "{last:?} is inside a {}, not a mapping",
            kind(other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_when_they_parse_and_strings_otherwise() {
        assert_eq!(Edit::new("a", "true").value, Value::Bool(true));
        assert_eq!(Edit::new("a", "0.5").value, serde_json::json!(0.5));
        assert_eq!(
            Edit::new("a", "internal").value,
            Value::String("internal".into())
        );
        assert_eq!(Edit::new("a", r#"["x"]"#).value, serde_json::json!(["x"]));
    }

    #[test]
    fn edits_set_nested_keys_and_list_items_and_create_missing_mappings() {
        let text = "a:\n  b: 1\nlist:\n  - name: x\n    on: false\n";
        let out = apply(
            "t.yaml",
            text,
            &[
                Edit::new("a.b", "2"),
                Edit::new("list.0.on", "true"),
                Edit::new("new.deep", "\"v\""),
            ],
        )
        .expect("applies");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["a"]["b"], 2);
        assert_eq!(v["list"][0]["on"], true);
        assert_eq!(v["new"]["deep"], "v");
    }

    #[test]
    fn a_path_through_a_scalar_is_an_error_naming_it() {
        let err = apply("t.yaml", "a: 1\n", &[Edit::new("a.b", "2")]).expect_err("refused");
        assert!(
            err.to_string().contains("\"b\" is inside a number"),
            "{err}"
        );
    }
}
