//! The OpenAPI 2.0 document as API Gateway takes it: a serde model of the parts the gateway acts
//! on, with Google's `x-google-*` extensions, and nothing else.
//!
//! Why a hand-written model (crates.md section 4): the OpenAPI crates either handle v3 only or drop
//! extensions. This one is a wire type kept at the edge (style.md section 2): [`crate::api_config`]
//! turns it into the validated [`crate::RouteTable`] and the code after that never sees it.
//!
//! What it keeps: `swagger`, `host`, `basePath`, `schemes`, `x-google-backend` (top level and per
//! operation; items 60-62), `securityDefinitions` (OAuth2 schemes with `x-google-issuer`,
//! `x-google-jwks_uri`, `x-google-audiences`, `x-google-jwt-locations`, and API keys; items
//! 68-71), `security` (top level and per operation), `x-google-endpoints` (`allowCors`),
//! `x-google-allow`, and per path the seven operations. Every other field is **kept, not
//! rejected**, in the `extra` maps (`definitions`, `responses`, vendor extensions...), so a spec
//! that API Gateway accepts is never refused for a field the shim does not use.
//!
//! Parsing goes YAML → JSON value (serde-saphyr, which also reads JSON) → this model through
//! `serde_path_to_error`, so a wrong type is reported with the path of the offending field, e.g.
//! `paths./smoothie.get.x-google-backend.deadline: invalid type: string "soon", expected f64`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// Unknown fields, kept as they were.
pub type Extra = BTreeMap<String, Value>;

/// A whole OpenAPI 2.0 document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// Must be `"2.0"`: API Gateway takes OpenAPI 2.0 only.
    pub swagger: Value,
    #[serde(default)]
    pub info: Option<Value>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub base_path: Option<String>,
    #[serde(default)]
    pub schemes: Option<Vec<String>>,
    #[serde(default, rename = "x-google-backend")]
    pub backend: Option<BackendExt>,
    #[serde(default)]
    pub security_definitions: BTreeMap<String, SecurityScheme>,
    #[serde(default)]
    pub security: Option<Vec<SecurityRequirement>>,
    #[serde(default)]
    pub paths: BTreeMap<String, PathItem>,
    #[serde(default, rename = "x-google-endpoints")]
    pub endpoints: Option<Vec<EndpointExt>>,
    /// `configured` (the default: unknown paths get 404) or `all` (item 73).
    #[serde(default, rename = "x-google-allow")]
    pub allow: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `x-google-backend` (items 60-62). Every field is optional here; [`crate::api_config`] checks
/// which combinations are valid and fills in the defaults, which differ by level.
#[derive(Debug, Clone, Deserialize)]
pub struct BackendExt {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub jwt_audience: Option<String>,
    #[serde(default)]
    pub disable_auth: Option<bool>,
    #[serde(default)]
    pub path_translation: Option<PathTranslationExt>,
    /// Seconds, a float.
    #[serde(default)]
    pub deadline: Option<f64>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The spellings `path_translation` accepts (item 61).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PathTranslationExt {
    #[serde(rename = "APPEND_PATH_TO_ADDRESS")]
    AppendPathToAddress,
    #[serde(rename = "CONSTANT_ADDRESS")]
    ConstantAddress,
}

/// One entry of `securityDefinitions`.
#[derive(Debug, Clone, Deserialize)]
pub struct SecurityScheme {
    /// `oauth2` for JWT providers, `apiKey` for API keys.
    #[serde(rename = "type")]
    pub kind: String,
    /// apiKey: the parameter or header name.
    #[serde(default)]
    pub name: Option<String>,
    /// apiKey: `query` or `header`.
    #[serde(default, rename = "in")]
    pub location: Option<String>,
    #[serde(default, rename = "x-google-issuer")]
    pub issuer: Option<String>,
    #[serde(default, rename = "x-google-jwks_uri")]
    pub jwks_uri: Option<String>,
    /// A comma-separated list (item 68).
    #[serde(default, rename = "x-google-audiences")]
    pub audiences: Option<String>,
    #[serde(default, rename = "x-google-jwt-locations")]
    pub jwt_locations: Option<Vec<JwtLocationExt>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `x-google-jwt-locations` (item 70): a header (with an optional value prefix) or
/// a query parameter.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtLocationExt {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub value_prefix: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{scheme name: [scopes]}`; a list of them is OR, the names within one are AND.
pub type SecurityRequirement = BTreeMap<String, Vec<String>>;

/// One entry of `x-google-endpoints`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointExt {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub allow_cors: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The operations of one path.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PathItem {
    #[serde(default)]
    pub get: Option<Operation>,
    #[serde(default)]
    pub put: Option<Operation>,
    #[serde(default)]
    pub post: Option<Operation>,
    #[serde(default)]
    pub delete: Option<Operation>,
    #[serde(default)]
    pub options: Option<Operation>,
    #[serde(default)]
    pub head: Option<Operation>,
    #[serde(default)]
    pub patch: Option<Operation>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl PathItem {
    /// `(method, operation)` in a fixed order, with the method as OpenAPI spells it.
    pub fn operations(&self) -> impl Iterator<Item = (&'static str, &Operation)> {
        [
            ("get", &self.get),
            ("put", &self.put),
            ("post", &self.post),
            ("delete", &self.delete),
            ("options", &self.options),
            ("head", &self.head),
            ("patch", &self.patch),
        ]
        .into_iter()
        .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    }
}

/// One operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default)]
    pub operation_id: Option<String>,
    /// `None` inherits the top level; `Some([])` turns authentication off for this operation.
    #[serde(default)]
    pub security: Option<Vec<SecurityRequirement>>,
    #[serde(default, rename = "x-google-backend")]
    pub backend: Option<BackendExt>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why a document could not be read into the model.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{source_name}: not YAML or JSON: {message}")]
    Syntax {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {path}: {message}")]
    Shape {
        source_name: String,
        /// Dotted path of the offending field, e.g. `paths./a.get.x-google-backend.deadline`.
        path: String,
        message: String,
    },
}

impl Document {
    /// Reads YAML (or JSON) text. `source_name` names the file in errors.
    pub fn from_text(text: &str, source_name: &str) -> Result<Self, ParseError> {
        let value: Value = serde_saphyr::from_str(text).map_err(|e| ParseError::Syntax {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ParseError::Shape {
                source_name: source_name.to_owned(),
                path,
                message: e.into_inner().to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_type_is_reported_with_the_field_path() {
        let text = r#"
swagger: "2.0"
paths:
  /a:
    get:
      x-google-backend:
        address: https://x.example
        deadline: soon
"#;
        let err = Document::from_text(text, "openapi.yaml").err();
        let Some(ParseError::Shape { path, .. }) = err else {
            panic!("expected a shape error, got {err:?}");
        };
        assert_eq!(path, "paths./a.get.x-google-backend.deadline");
    }

    #[test]
    fn unknown_fields_are_kept() -> Result<(), ParseError> {
        let text = r#"
swagger: "2.0"
definitions: {shelf: {type: object}}
x-vendor: 1
paths:
  /a:
    x-path-thing: yes
    get:
      responses: {200: {description: ok}}
      x-google-backend: {address: "https://x.example", x-new-field: 3}
"#;
        let doc = Document::from_text(text, "t")?;
        assert!(doc.extra.contains_key("definitions"));
        assert!(doc.extra.contains_key("x-vendor"));
        let item = &doc.paths["/a"];
        assert!(item.extra.contains_key("x-path-thing"));
        let op = item.get.as_ref().expect("get");
        assert!(op.extra.contains_key("responses"));
        assert!(
            op.backend
                .as_ref()
                .expect("backend")
                .extra
                .contains_key("x-new-field")
        );
        Ok(())
    }

    #[test]
    fn an_unknown_path_translation_is_reported_with_its_path() {
        let text =
            "swagger: '2.0'\nx-google-backend: {address: 'https://x', path_translation: APPEND}\n";
        let err = Document::from_text(text, "t").err();
        let Some(ParseError::Shape { path, message, .. }) = err else {
            panic!("expected a shape error, got {err:?}");
        };
        assert_eq!(path, "x-google-backend.path_translation");
        assert!(message.contains("APPEND_PATH_TO_ADDRESS"), "{message}");
    }
}
