//! Brewing methods and café recommendations: parsed once at start from
//! `fixtures/data/coffee.json`, which is compiled into the binary (`include_str!`) so a
//! `FROM scratch` image needs no data file.
//!
//! [`Catalog::parse`] is the only constructor and checks what the handlers rely on: method ids
//! are unique slugs; ratios, temperatures and brew times are plausible; city names are unique
//! ignoring case; every café's methods are known methods. A bad file is a [`DataError`] naming
//! the place and the problem: a start-up error, never a panic.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The data shipped in the binary.
pub const EMBEDDED: &str = include_str!("../../../fixtures/data/coffee.json");
/// Where [`EMBEDDED`] comes from, for error messages.
pub const EMBEDDED_PATH: &str = "fixtures/data/coffee.json";

/// What the data file failed to be (the chassis' type: a start-up error, exit 70).
pub use iap_service::DataError;

/// Shortest and longest brew, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrewTime {
    pub min: u32,
    pub max: u32,
}

/// One brewing method.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Grams of water per gram of coffee (1:`ratio`); for espresso, grams of drink out.
    pub ratio: f64,
    /// What the ratio measures, when it is not plain brewing water.
    #[serde(default)]
    pub ratio_note: Option<String>,
    pub grind: String,
    pub water_temperature_c: u8,
    pub brew_time_seconds: BrewTime,
    pub steps: Vec<String>,
}

impl Method {
    /// `1:16`, or `1:16.5` when the ratio is not whole.
    pub fn ratio_label(&self) -> String {
        if self.ratio.fract() == 0.0 {
            format!("1:{}", self.ratio as u32)
        } else {
            format!("1:{}", self.ratio)
        }
    }
}

/// A recommended café.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cafe {
    pub name: String,
    pub neighbourhood: String,
    pub known_for: String,
    /// Ids of the brewing methods it serves.
    pub methods: Vec<String>,
}

/// A city with recommendations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    pub name: String,
    pub country: String,
    pub cafes: Vec<Cafe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[allow(dead_code)] // provenance for readers of the file
    source: String,
    methods: Vec<Method>,
    cities: Vec<City>,
}

/// The checked brewing guide.
#[derive(Debug, Clone)]
pub struct Catalog {
    methods: Vec<Method>,
    method_index: HashMap<String, usize>,
    cities: Vec<City>,
    /// Lowercased city name to index.
    city_index: HashMap<String, usize>,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// How city names are compared: trimmed, lowercase (Unicode-aware: `SÃO PAULO` finds São Paulo).
pub fn city_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Catalog {
    /// The guide compiled into the binary.
    pub fn embedded() -> Result<Self, DataError> {
        Self::parse(EMBEDDED)
    }

    /// Parses and checks a guide in the format of [`EMBEDDED`].
    pub fn parse(json: &str) -> Result<Self, DataError> {
        let raw: RawCatalog = serde_json::from_str(json).map_err(|source| DataError::Json {
            file: EMBEDDED_PATH,
            source,
        })?;
        let invalid = |at: String, problem: String| DataError::Invalid {
            file: EMBEDDED_PATH,
            at,
            problem,
        };

        if raw.methods.is_empty() {
            return Err(invalid("methods".into(), "there are no methods".into()));
        }
        let mut method_index = HashMap::new();
        for (i, m) in raw.methods.iter().enumerate() {
            let at = format!("methods[{i}] ({})", m.id);
            if !is_slug(&m.id) {
                return Err(invalid(
                    at,
                    "id must be a lowercase slug (a-z, 0-9, -)".into(),
                ));
            }
            if method_index.insert(m.id.clone(), i).is_some() {
                return Err(invalid(at, "id is used by an earlier method".into()));
            }
            if m.name.trim().is_empty() || m.grind.trim().is_empty() {
                return Err(invalid(at, "name and grind must not be empty".into()));
            }
            if !m.ratio.is_finite() || !(1.0..=30.0).contains(&m.ratio) {
                return Err(invalid(
                    format!("{at}.ratio"),
                    format!("must be from 1 to 30 (1:1 to 1:30), found {}", m.ratio),
                ));
            }
            if m.water_temperature_c > 100 {
                return Err(invalid(
                    format!("{at}.water_temperature_c"),
                    format!("water boils at 100 °C, found {}", m.water_temperature_c),
                ));
            }
            let t = m.brew_time_seconds;
            if t.min == 0 || t.min > t.max || t.max > 24 * 3600 {
                return Err(invalid(
                    format!("{at}.brew_time_seconds"),
                    format!(
                        "needs 0 < min <= max <= one day, found {}..{}",
                        t.min, t.max
                    ),
                ));
            }
            if m.steps.is_empty() || m.steps.iter().any(|s| s.trim().is_empty()) {
                return Err(invalid(
                    format!("{at}.steps"),
                    "needs non-empty steps".into(),
                ));
            }
        }

        if raw.cities.is_empty() {
            return Err(invalid("cities".into(), "there are no cities".into()));
        }
        let mut city_index = HashMap::new();
        for (i, c) in raw.cities.iter().enumerate() {
            let at = format!("cities[{i}] ({})", c.name);
            if c.name.trim().is_empty() || c.name.trim() != c.name {
                return Err(invalid(at, "name must be non-empty and trimmed".into()));
            }
            if city_index.insert(city_key(&c.name), i).is_some() {
                return Err(invalid(
                    at,
                    "name (ignoring case) is used by an earlier city".into(),
                ));
            }
            if c.cafes.is_empty() {
                return Err(invalid(at, "has no cafés".into()));
            }
            let mut names = HashSet::new();
            for (j, cafe) in c.cafes.iter().enumerate() {
                let at = format!("{at}.cafes[{j}] ({})", cafe.name);
                if cafe.name.trim().is_empty() || !names.insert(cafe.name.as_str()) {
                    return Err(invalid(
                        at,
                        "name must be non-empty and unique in the city".into(),
                    ));
                }
                if let Some(unknown) = cafe.methods.iter().find(|m| !method_index.contains_key(*m))
                {
                    return Err(invalid(
                        format!("{at}.methods"),
                        format!("{unknown:?} is not a method in `methods`"),
                    ));
                }
            }
        }

        Ok(Self {
            methods: raw.methods,
            method_index,
            cities: raw.cities,
            city_index,
        })
    }

    /// Methods in file order.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    pub fn method(&self, id: &str) -> Option<&Method> {
        self.method_index.get(id).map(|&i| &self.methods[i])
    }

    /// Cities in file order.
    pub fn cities(&self) -> &[City] {
        &self.cities
    }

    /// The city named `name`, ignoring case and surrounding spaces.
    pub fn city(&self, name: &str) -> Option<&City> {
        self.city_index
            .get(&city_key(name))
            .map(|&i| &self.cities[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().expect("the shipped data parses")
    }

    #[test]
    fn the_shipped_data_parses_with_enough_methods_and_cities() {
        let c = catalog();
        assert!(c.methods().len() >= 5, "{}", c.methods().len());
        assert!(c.cities().len() >= 3, "{}", c.cities().len());
        assert!(c.cities().iter().all(|city| city.cafes.len() >= 2));
    }

    #[test]
    fn cities_are_found_ignoring_case_and_spaces() {
        let c = catalog();
        assert_eq!(c.city("lisbon").map(|x| x.name.as_str()), Some("Lisbon"));
        assert_eq!(c.city(" LISBON ").map(|x| x.name.as_str()), Some("Lisbon"));
        assert!(c.city("Lisboa").is_none());
    }

    #[test]
    fn ratio_labels_drop_a_whole_number_decimal() {
        let c = catalog();
        assert_eq!(
            c.method("v60").map(Method::ratio_label).as_deref(),
            Some("1:16")
        );
        let mut m = c.method("v60").cloned().expect("v60");
        m.ratio = 16.5;
        assert_eq!(m.ratio_label(), "1:16.5");
    }

    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

    fn with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Catalog, DataError> {
        let mut v = serde_json::json!({
            "source": "test",
            "methods": [{"id": "v60", "name": "V60", "description": "", "ratio": 16.0,
                "grind": "medium-fine", "water_temperature_c": 93,
                "brew_time_seconds": {"min": 150, "max": 210}, "steps": ["Pour."]}],
            "cities": [{"name": "Lisbon", "country": "Portugal", "cafes": [
                {"name": "A", "neighbourhood": "Baixa", "known_for": "x", "methods": ["v60"]}]}]
        });
        edit(&mut v);
        Catalog::parse(&v.to_string())
    }

    #[test]
    fn the_minimal_file_is_valid() {
        assert!(with(|_| {}).is_ok());
    }

    #[test]
    fn bad_data_is_an_error_naming_the_place() {
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["methods"][0]["ratio"] = 0.into()), "ratio"),
            (Box::new(|v| v["methods"][0]["ratio"] = 99.into()), "ratio"),
            (
                Box::new(|v| v["methods"][0]["water_temperature_c"] = 120.into()),
                "boils",
            ),
            (
                Box::new(|v| v["methods"][0]["brew_time_seconds"]["min"] = 500.into()),
                "min <= max",
            ),
            (
                Box::new(|v| v["methods"][0]["steps"] = serde_json::json!([])),
                "steps",
            ),
            (Box::new(|v| v["methods"][0]["id"] = "V 60".into()), "slug"),
            (
                Box::new(|v| v["methods"] = serde_json::json!([])),
                "no methods",
            ),
            (
                Box::new(|v| v["cities"][0]["cafes"][0]["methods"] = serde_json::json!(["siphon"])),
                "siphon",
            ),
            (
                Box::new(|v| v["cities"][0]["cafes"] = serde_json::json!([])),
                "no cafés",
            ),
            (
                Box::new(|v| v["cities"][0]["name"] = " Lisbon".into()),
                "trimmed",
            ),
            (
                Box::new(|v| v["cities"] = serde_json::json!([])),
                "no cities",
            ),
            (
                Box::new(|v| v["cities"][0]["mayor"] = "x".into()),
                "unknown field",
            ),
            (
                Box::new(|v| {
                    let mut again = v["cities"][0].clone();
                    again["name"] = "LISBON".into();
                    v["cities"].as_array_mut().expect("array").push(again);
                }),
                "earlier city",
            ),
            (
                Box::new(|v| {
                    let again = v["methods"][0].clone();
                    v["methods"].as_array_mut().expect("array").push(again);
                }),
                "earlier method",
            ),
        ];
        for (edit, expected) in cases {
            let message = match with(edit) {
                Ok(_) => "accepted".to_string(),
                Err(e) => e.to_string(),
            };
            assert!(
                message.contains(expected),
                "expected {expected:?} in {message:?}"
            );
            assert!(message.starts_with(EMBEDDED_PATH), "{message}");
        }
    }

    #[test]
    fn a_file_that_is_not_json_is_an_error_not_a_panic() {
        assert!(matches!(Catalog::parse("[]"), Err(DataError::Json { .. })));
    }
}
