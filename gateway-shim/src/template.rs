//! Path templates (`/shelves/{shelf}`, `/files/{path=**}`) and request-path normalisation.
//!
//! OpenAPI paths become `google.api.HttpRule` templates in API Gateway's service config, and ESPv2
//! matches them with Envoy routes (ESPv2 `src/go/util/httppattern/uri_template.go`,
//! `src/go/configgenerator/routegen/helpers/backend_route.go`). What this module imitates:
//!
//! - segments are literals, `*` / `{name}` / `{name=*}` (one non-empty segment) or `**` /
//!   `{name=**}` (the rest of the path); a `{name=a/*}` variable may span several segments;
//! - matching is **case-sensitive** (item 73) and a trailing `/` is optional (ESPv2's route regex
//!   ends in `\/?`, and exact paths get a second route with the slash);
//! - when several templates match, the most specific wins, segment by segment: a literal beats
//!   `*`, which beats `**` (the trie order of `httppattern.Sort`);
//! - the request path is normalised first, as ESPv2 runs Envoy with `normalize_path` and
//!   `merge_slashes` (item 73): `//` becomes `/`, and `.` and `..` segments are resolved.
//!
//! What it refuses: a variable sharing a segment with text (`/{name}.json`), custom verbs
//! (`/{name}:cancel`) and a `**` before the last segment. API Gateway's HttpRule grammar has no
//! partial segments either; the others are rare enough to reject at start with a clear error.

use std::fmt;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Single,
    /// `**`: any number of segments, only last.
    Double,
}

impl Segment {
    /// Rank for "most specific wins": lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Single => 1,
            Segment::Double => 2,
        }
    }
}

/// A `{name=...}` binding over segments `start..end` (`end` is `None` when it ends in `**`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub start: usize,
    pub end: Option<usize>,
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    origin: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
}

/// Why a template does not parse. The message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

impl PathTemplate {
    /// Parses `template`, which must start with `/`.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let Some(rest) = template.strip_prefix('/') else {
            return Err(TemplateError("must start with \"/\"".into()));
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        // Split on '/' outside braces.
        let mut parts = Vec::new();
        let mut depth = 0usize;
        let mut start = 0usize;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                '/' if depth == 0 => {
                    parts.push(&rest[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&rest[start..]);
        // "/" alone, and a trailing "/" (optional when matching), add no segment.
        if parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        for part in parts {
            if part.is_empty() {
                return Err(TemplateError("has an empty segment (\"//\")".into()));
            }
            if let Some(inner) = part.strip_prefix('{') {
                let Some(inner) = inner.strip_suffix('}') else {
                    return Err(TemplateError(format!(
                        "segment {part:?}: a variable must be a whole segment, like {{name}}"
                    )));
                };
                let (name, pattern) = match inner.split_once('=') {
                    Some((n, p)) => (n, p),
                    None => (inner, "*"),
                };
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    return Err(TemplateError(format!(
                        "variable {name:?}: expected a name of letters, digits, '_' or '.'"
                    )));
                }
                if variables.iter().any(|v: &Variable| v.name == name) {
                    return Err(TemplateError(format!("variable {name:?} appears twice")));
                }
                let first = segments.len();
                let mut open_ended = false;
                for sub in pattern.split('/') {
                    let seg = parse_plain(sub)?;
                    open_ended = seg == Segment::Double;
                    segments.push(seg);
                }
                variables.push(Variable {
                    name: name.to_owned(),
                    start: first,
                    end: (!open_ended).then_some(segments.len()),
                });
            } else {
                if part.contains('{') || part.contains('}') {
                    return Err(TemplateError(format!(
                        "segment {part:?}: a variable must be a whole segment, like {{name}}"
                    )));
                }
                segments.push(parse_plain(part)?);
            }
        }
        if let Some(pos) = segments.iter().position(|s| *s == Segment::Double)
            && pos + 1 != segments.len()
        {
            return Err(TemplateError("\"**\" may only be the last segment".into()));
        }
        Ok(Self {
            origin: template.to_owned(),
            segments,
            variables,
        })
    }

    /// The template as written in the spec.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn has_variables(&self) -> bool {
        !self.variables.is_empty()
    }

    /// The template as API Gateway's service config spells it: Google's OpenAPI conversion
    /// turns path-parameter names into snake_case (`{shelfId}` became `{shelf_id}` in ESPv2's
    /// `examples/testdata/route_match/service_config_generated.json`). ESPv2's 405 message quotes
    /// this form.
    pub fn service_config_form(&self) -> String {
        let mut out = String::with_capacity(self.origin.len() + 4);
        let mut in_name = false;
        for c in self.origin.chars() {
            match c {
                '{' => {
                    in_name = true;
                    out.push(c);
                }
                '=' | '}' => {
                    in_name = false;
                    out.push(c);
                }
                c if in_name && c.is_ascii_uppercase() => {
                    if !out.ends_with('{') && !out.ends_with('_') {
                        out.push('_');
                    }
                    out.push(c.to_ascii_lowercase());
                }
                c => out.push(c),
            }
        }
        out
    }

    /// Matches normalised path segments; on success, the variable bindings in template order
    /// (raw, still percent-encoded, as ESPv2 extracts them).
    pub fn matches(&self, path: &[&str]) -> Option<Vec<(String, String)>> {
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Literal(lit) => {
                    if path.get(i) != Some(&lit.as_str()) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Single => {
                    if path.get(i).is_none_or(|s| s.is_empty()) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Double => {
                    i = path.len();
                }
            }
        }
        if i != path.len() {
            return None;
        }
        let bindings = self
            .variables
            .iter()
            .map(|v| {
                let end = v.end.unwrap_or(path.len()).min(path.len());
                let start = v.start.min(end);
                (v.name.clone(), path[start..end].join("/"))
            })
            .collect();
        Some(bindings)
    }

    /// Orders two templates that both match a path: `Less` means `self` is more specific.
    pub fn specificity_cmp(&self, other: &Self) -> std::cmp::Ordering {
        let a = self.segments.iter().map(Segment::rank);
        let b = other.segments.iter().map(Segment::rank);
        a.cmp(b)
            .then_with(|| other.segments.len().cmp(&self.segments.len()))
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

fn parse_plain(part: &str) -> Result<Segment, TemplateError> {
    match part {
        "" => Err(TemplateError("has an empty segment".into())),
        "*" => Ok(Segment::Single),
        "**" => Ok(Segment::Double),
        p if p.contains('*') => Err(TemplateError(format!(
            "segment {p:?}: '*' must be a whole segment"
        ))),
        p if p.contains(':') && p.rsplit_once(':').is_some_and(|(a, _)| a.ends_with('}')) => Err(
            TemplateError(format!("segment {p:?}: custom verbs are not supported")),
        ),
        p if p.contains('?') || p.contains('#') => Err(TemplateError(format!(
            "segment {p:?}: a template has no query or fragment"
        ))),
        p => Ok(Segment::Literal(p.to_owned())),
    }
}

/// Normalises a request path as Envoy does with `normalize_path` and `merge_slashes`: repeated
/// slashes merged, `.` removed, `..` removing the segment before it (never above the root). A
/// trailing slash is kept. Percent-encoding is left alone.
pub fn normalize_path(path: &str) -> String {
    if is_normal(path) {
        // Almost every request: nothing to merge or remove.
        return path.to_owned();
    }
    merge_and_resolve(path)
}

/// [`normalize_path`]'s work: segment by segment.
fn merge_and_resolve(path: &str) -> String {
    let trailing = path.ends_with('/') && path.len() > 1;
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() || trailing {
        s.push('/');
    }
    s
}

/// Whether [`normalize_path`] would give `path` back unchanged: absolute, no empty, `.` or `..`
/// segment, except the empty one a trailing slash makes.
fn is_normal(path: &str) -> bool {
    // Split as bytes: a `char` pattern went through the char searcher on every request.
    let Some(rest) = path.as_bytes().strip_prefix(b"/") else {
        return false;
    };
    let mut segments = rest.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            b"" if last => return true,
            b"" | b"." | b".." => return false,
            _ => {}
        }
    }
    true
}

/// The segments of a normalised path, without the optional trailing slash.
pub fn segments(normalized: &str) -> Vec<&str> {
    let trimmed = normalized.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PathTemplate {
        PathTemplate::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn variables_bind_one_segment_or_the_rest() {
        let tpl = t("/files/{bucket}/{path=**}");
        let b = tpl.matches(&segments("/files/b1/a/b/c.txt"));
        assert_eq!(
            b,
            Some(vec![
                ("bucket".into(), "b1".into()),
                ("path".into(), "a/b/c.txt".into())
            ])
        );
        assert_eq!(t("/shelves/{id}").matches(&segments("/shelves")), None);
        assert_eq!(t("/shelves/{id}").matches(&segments("/shelves/1/x")), None);
    }

    #[test]
    fn matching_is_case_sensitive_and_the_trailing_slash_optional() {
        let tpl = t("/widgets");
        assert!(tpl.matches(&segments("/widgets")).is_some());
        assert!(tpl.matches(&segments("/widgets/")).is_some());
        assert!(tpl.matches(&segments("/Widgets")).is_none());
    }

    #[test]
    fn multi_segment_variables_bind_their_segments() {
        let tpl = t("/v1/{name=shelves/*}/books");
        assert_eq!(
            tpl.matches(&segments("/v1/shelves/7/books")),
            Some(vec![("name".into(), "shelves/7".into())])
        );
    }

    #[test]
    fn literals_beat_wildcards_which_beat_double_wildcards() {
        let lit = t("/a/b");
        let single = t("/a/{x}");
        let double = t("/a/**");
        assert!(lit.specificity_cmp(&single).is_lt());
        assert!(single.specificity_cmp(&double).is_lt());
        assert!(t("/a/b/**").specificity_cmp(&double).is_lt());
    }

    #[test]
    fn bad_templates_say_why() {
        for (bad, want) in [
            ("a/b", "must start"),
            ("/files/{name}.json", "whole segment"),
            ("/a/**/b", "last segment"),
            ("/a//b", "empty segment"),
            ("/{x}/{x}", "twice"),
            ("/v1/{name}:cancel", "whole segment"),
        ] {
            let err = PathTemplate::parse(bad)
                .err()
                .map(|e| e.0)
                .unwrap_or_default();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }

    #[test]
    fn service_config_form_snake_cases_parameter_names() {
        assert_eq!(
            t("/libraries/{library_id}/shelves/{shelfId}").service_config_form(),
            "/libraries/{library_id}/shelves/{shelf_id}"
        );
    }

    #[test]
    fn paths_are_normalised_like_envoy() {
        for (raw, want) in [
            ("/", "/"),
            ("//a///b", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/../../a", "/a"),
            ("/a/b/", "/a/b/"),
            ("", "/"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw}");
        }
    }

    #[test]
    fn the_shortcut_for_normal_paths_agrees_with_the_full_normalisation() {
        for path in [
            "",
            "/",
            "//",
            "/a",
            "/a/",
            "/a//",
            "/a/b",
            "/a//b",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/a/./b",
            "/a/../b",
            "/.a/..b/...",
            "/a.b/c..d/",
            "a/b",
            "/%2e/x",
            "///",
        ] {
            assert_eq!(is_normal(path), merge_and_resolve(path) == path, "{path:?}");
            assert_eq!(normalize_path(path), merge_and_resolve(path), "{path:?}");
        }
    }
}
