//! The crate's errors: one enum at the edge, [`BlueprintError`], and the pieces it is made of.
//!
//! Every message follows one shape, so a user can fix a topology without reading code:
//! `FILE:LINE:COLUMN: FIELD: expected WHAT, found "VALUE"`. Callers that react to a failure
//! match on [`BlueprintError`] and [`ProblemKind`] variants, never on the text.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

/// Longest input echoed back in a message; longer values are cut and marked with `…`.
const MAX_ECHOED_CHARS: usize = 120;

/// A value that does not have the shape its type requires.
///
/// Returned by every `parse` constructor of the crate's newtypes, and wrapped in
/// [`ProblemKind::Invalid`] when the value came from a topology file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found:?}")]
pub struct InvalidValue {
    expected: Cow<'static, str>,
    found: String,
}

impl InvalidValue {
    /// `expected` describes the accepted shape in words; `found` is the refused input.
    pub(crate) fn new(expected: impl Into<Cow<'static, str>>, found: &str) -> Self {
        let found = match found.char_indices().nth(MAX_ECHOED_CHARS) {
            Some((cut, _)) => format!("{}…", &found[..cut]),
            None => found.to_owned(),
        };
        Self {
            expected: expected.into(),
            found,
        }
    }

    /// What the value should have looked like, in words.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// The refused value (cut after 120 characters).
    pub fn found(&self) -> &str {
        &self.found
    }
}

/// A 1-based line and column in a topology file, as serde-saphyr reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceLocation {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, counted in characters.
    pub column: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What is wrong with one field of a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The value does not have the shape its type requires.
    Invalid(InvalidValue),
    /// A field names a service that `services` does not declare.
    UnknownService {
        /// The name as written.
        found: String,
        /// The names `services` declares, in file order.
        known: Vec<String>,
    },
    /// Two services have the same name.
    DuplicateService {
        /// The repeated name.
        name: String,
        /// Field path of the first declaration, e.g. `services[0].name`.
        first: String,
    },
    /// Two path rules use the same pattern; Compute's URL map refuses that, and routing would be
    /// ambiguous.
    DuplicatePath {
        /// The repeated pattern.
        pattern: String,
        /// Field path of the first use, e.g. `services[0].paths[1]`.
        first: String,
    },
    /// `services` is empty: a URL map needs at least one backend.
    NoServices,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(invalid) => invalid.fmt(f),
            Self::UnknownService { found, known } => write!(
                f,
                "expected a service declared under services (one of {}), found {found:?}",
                known.join(", ")
            ),
            Self::DuplicateService { name, first } => write!(
                f,
                "expected a service name not used before, found {name:?} again (first declared at {first})"
            ),
            Self::DuplicatePath { pattern, first } => write!(
                f,
                "expected a path pattern no other path rule uses, found {pattern:?} again (first used at {first})"
            ),
            Self::NoServices => f.write_str("expected at least one service, found an empty list"),
        }
    }
}

/// One validation finding: the field, where it is, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    field: String,
    location: Option<SourceLocation>,
    kind: ProblemKind,
}

impl Problem {
    pub(crate) fn new(field: String, location: Option<SourceLocation>, kind: ProblemKind) -> Self {
        Self {
            field,
            location,
            kind,
        }
    }

    /// The field path, e.g. `services[1].paths[0]` or `local.upstreams.tea-service`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Where the offending value sits in the file, when known.
    pub fn location(&self) -> Option<SourceLocation> {
        self.location
    }

    /// What is wrong.
    pub fn kind(&self) -> &ProblemKind {
        &self.kind
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlueprintError {
    /// The topology file could not be read.
    #[error("{}: cannot read the topology file: {source}", path.display())]
    Read {
        /// The path given to [`crate::Topology::load`].
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },

    /// The text is not YAML, or does not have the topology's structure (unknown or missing
    /// field, wrong type). serde-saphyr stops at the first such error.
    #[error("{}: {message}", Located(source_name, *location))]
    Yaml {
        /// The file name used in messages.
        source_name: String,
        /// serde-saphyr's location of the error, when it has one.
        location: Option<SourceLocation>,
        /// serde-saphyr's message, without its location suffix.
        message: String,
        /// serde-saphyr's rustc-style rendering with a source excerpt, for terminals.
        snippet: String,
    },

    /// The YAML has the right structure but some values are wrong. All problems are reported
    /// at once, one per line, in file order.
    #[error("{}", Problems(source_name, problems))]
    Invalid {
        /// The file name used in messages.
        source_name: String,
        /// At least one problem.
        problems: Vec<Problem>,
    },

    /// A legacy `*.a.run.app` host was asked for in a region whose short code is not in the
    /// crate's table. The crate refuses to guess a code.
    #[error(
        "region {region:?}: expected a region with a known run.app region code (one of {}), \
         found none for it; use the deterministic NAME-PROJECT_NUMBER.REGION.run.app form instead",
        crate::project::KNOWN_RUN_APP_REGIONS.join(", ")
    )]
    UnknownRegionCode {
        /// The region as written in the topology.
        region: String,
    },
}

/// `name:line:column`, or just `name` when the location is unknown.
struct Located<'a>(&'a str, Option<SourceLocation>);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(location) => write!(f, "{}:{location}", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// One line per problem, each prefixed with the file and location.
struct Problems<'a>(&'a str, &'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.1.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {problem}", Located(self.0, problem.location))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_value_cuts_long_input() {
        let long = "x".repeat(500);
        let invalid = InvalidValue::new("something short", &long);
        assert_eq!(invalid.found().chars().count(), MAX_ECHOED_CHARS + 1);
        assert!(invalid.found().ends_with('…'));
    }

    #[test]
    fn problems_render_one_per_line_with_file_and_location() {
        let error = BlueprintError::Invalid {
            source_name: "fixtures/bad.yaml".into(),
            problems: vec![
                Problem::new(
                    "services[1].ingress".into(),
                    Some(SourceLocation {
                        line: 7,
                        column: 14,
                    }),
                    ProblemKind::Invalid(InvalidValue::new("one of a, b", "public")),
                ),
                Problem::new("services".into(), None, ProblemKind::NoServices),
            ],
        };
        assert_eq!(
            error.to_string(),
            "fixtures/bad.yaml:7:14: services[1].ingress: expected one of a, b, found \"public\"\n\
             fixtures/bad.yaml: services: expected at least one service, found an empty list"
        );
    }
}
