//! `e2e/STEPS.md` and the step definitions agree: every step in `src/steps/*.rs` is documented
//! (a `### \`Keyword expression\`` heading with an example), and every documented step exists.
//! Users write scenarios from STEPS.md alone, so a drift either way is a bug.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `Given the fortress is running` for every `#[given(expr = "the fortress is running")]`.
fn defined() -> BTreeSet<String> {
    let attr =
        regex::Regex::new(r#"#\[(given|when|then)\(\s*expr\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?\s*\)\]"#)
            .expect("regex");
    let mut out = BTreeSet::new();
    let dir = root().join("src/steps");
    for entry in std::fs::read_dir(&dir).expect("src/steps") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read");
            for c in attr.captures_iter(&text) {
                let keyword = match &c[1] {
                    "given" => "Given",
                    "when" => "When",
                    _ => "Then",
                };
                out.insert(format!("{keyword} {}", c[2].replace("\\\"", "\"")));
            }
        }
    }
    out
}

/// The `### \`...\`` headings of STEPS.md, each followed by an example block.
fn documented() -> (BTreeSet<String>, Vec<String>) {
    let text = std::fs::read_to_string(root().join("STEPS.md")).expect("STEPS.md");
    let mut steps = BTreeSet::new();
    let mut without_example = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(step) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            continue;
        };
        steps.insert(step.to_string());
        let section: Vec<&&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("### ") && !l.starts_with("## "))
            .collect();
        if !section.iter().any(|l| l.starts_with("```gherkin")) {
            without_example.push(step.to_string());
        }
    }
    (steps, without_example)
}

#[test]
fn every_step_is_documented_and_every_documented_step_exists() {
    let defined = defined();
    let (documented, _) = documented();
    assert!(
        defined.len() > 20,
        "found only {} step definitions",
        defined.len()
    );
    let undocumented: Vec<_> = defined.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&defined).collect();
    assert!(
        undocumented.is_empty() && phantom.is_empty(),
        "steps without documentation in e2e/STEPS.md: {undocumented:#?}\n\
         documented steps that do not exist: {phantom:#?}"
    );
}

#[test]
fn every_documented_step_has_an_example() {
    let (_, without_example) = documented();
    assert!(
        without_example.is_empty(),
        "documented without a ```gherkin example: {without_example:#?}"
    );
}

#[test]
fn every_feature_scenario_uses_only_documented_wording() {
    // The features are the largest body of examples: each of their steps must start with a
    // documented step's fixed words (the text before its first parameter).
    let (documented, _) = documented();
    let stems: Vec<String> = documented
        .iter()
        .map(|s| {
            let words = s.split_once(' ').map_or("", |(_, rest)| rest);
            words.split('{').next().unwrap_or_default().to_string()
        })
        .collect();
    let dir = root().join("features");
    for entry in std::fs::read_dir(&dir).expect("features") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        for line in text.lines().map(str::trim) {
            let Some((keyword, rest)) = line.split_once(' ') else {
                continue;
            };
            if !["Given", "When", "Then", "And", "But"].contains(&keyword) {
                continue;
            }
            assert!(
                stems.iter().any(|stem| rest.starts_with(stem.as_str())),
                "{}: {line:?} matches no documented step",
                path.display()
            );
        }
    }
}

#[test]
fn every_feature_file_parses() {
    // cucumber reports a file it cannot parse as a "parsing error" only when the suite runs; a
    // description line that starts with `@` (read as a tag) once failed CI that way.
    let dir = root().join("features");
    for entry in std::fs::read_dir(&dir).expect("features") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "feature") {
            let parsed = cucumber::gherkin::Feature::parse_path(
                &path,
                cucumber::gherkin::GherkinEnv::default(),
            );
            assert!(parsed.is_ok(), "{}: {:?}", path.display(), parsed.err());
        }
    }
}
