//! The handlers, one per route. They read the [`Catalog`] and never fail except with an
//! [`ApiError`]; JSON shapes are the `*View` types here, the wire format kept at this edge.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use iap_assertion::Identity;
use serde::{Deserialize, Serialize};

use crate::catalog::{BrewTime, Cafe, Catalog, Method};
use crate::error::{self, ApiError, echo};

type Guide = State<Arc<Catalog>>;

/// Bounds of the ratio calculator. Below them nothing brews; above them is no kitchen's batch.
pub const COFFEE_GRAMS: (f64, f64) = (1.0, 1000.0);
pub const WATER_ML: (f64, f64) = (10.0, 20_000.0);

#[derive(Debug, Serialize)]
pub struct MethodSummary {
    pub id: String,
    pub name: String,
    pub ratio: String,
    pub grind: String,
}

#[derive(Debug, Serialize)]
pub struct MethodList {
    pub methods: Vec<MethodSummary>,
}

/// `GET /coffee`: every brewing method.
pub async fn list(State(guide): Guide) -> Json<MethodList> {
    Json(MethodList {
        methods: guide
            .methods()
            .iter()
            .map(|m| MethodSummary {
                id: m.id.clone(),
                name: m.name.clone(),
                ratio: m.ratio_label(),
                grind: m.grind.clone(),
            })
            .collect(),
    })
}

#[derive(Debug, Serialize)]
pub struct MethodView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `1:16`: one gram of coffee to sixteen of water.
    pub ratio: String,
    /// The same ratio as a number: grams (ml) of water per gram of coffee.
    pub water_per_gram_of_coffee: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_note: Option<String>,
    pub grind: String,
    pub water_temperature_c: u8,
    pub brew_time_seconds: BrewTime,
    pub steps: Vec<String>,
}

impl From<&Method> for MethodView {
    fn from(m: &Method) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            description: m.description.clone(),
            ratio: m.ratio_label(),
            water_per_gram_of_coffee: m.ratio,
            ratio_note: m.ratio_note.clone(),
            grind: m.grind.clone(),
            water_temperature_c: m.water_temperature_c,
            brew_time_seconds: m.brew_time_seconds,
            steps: m.steps.clone(),
        }
    }
}

/// `GET /coffee/methods/{id}`: ratio, grind, water temperature, brew time and steps.
pub async fn method(
    State(guide): Guide,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<MethodView>, ApiError> {
    let Path(id) = id?;
    let m = guide.method(&id).ok_or_else(|| error::no_method(&id))?;
    Ok(Json(m.into()))
}

#[derive(Debug, Deserialize)]
pub struct RatioParams {
    method: Option<String>,
    coffee_grams: Option<String>,
    water_ml: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RatioView {
    pub method: String,
    pub ratio: String,
    pub coffee_grams: f64,
    pub water_ml: f64,
    /// Which of the two the caller gave; the other was computed.
    pub computed: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_note: Option<String>,
}

/// A plain decimal (`20`, `20.5`) within `bounds`: no sign, exponent, `inf` or `NaN`.
fn parse_quantity(
    name: &str,
    raw: &str,
    (low, high): (f64, f64),
    unit: &str,
) -> Result<f64, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "query parameter {name:?} must be a number from {low} to {high} {unit}, found {:?}",
            echo(raw)
        ))
    };
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, "0"));
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    let value: f64 = raw.parse().map_err(|_| bad())?;
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(bad())
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `GET /coffee/ratio?method=v60&coffee_grams=20` (or `&water_ml=300`): the other quantity from
/// the method's ratio. One millilitre of water is taken as one gram.
pub async fn ratio(
    State(guide): Guide,
    params: Result<Query<RatioParams>, QueryRejection>,
) -> Result<Json<RatioView>, ApiError> {
    let Query(params) = params?;
    let method_id = params.method.as_deref().map(str::trim).unwrap_or_default();
    if method_id.is_empty() {
        return Err(ApiError::BadRequest(
            "query parameter \"method\" is required, e.g. /coffee/ratio?method=v60&coffee_grams=20"
                .into(),
        ));
    }
    let m = guide.method(method_id).ok_or_else(|| {
        let known: Vec<&str> = guide.methods().iter().map(|m| m.id.as_str()).collect();
        ApiError::BadRequest(format!(
            "unknown brewing method {:?}; known methods: {}",
            echo(method_id),
            known.join(", ")
        ))
    })?;
    let (coffee_grams, water_ml, computed) = match (&params.coffee_grams, &params.water_ml) {
        (Some(coffee), None) => {
            let coffee = parse_quantity("coffee_grams", coffee, COFFEE_GRAMS, "g")?;
            (coffee, coffee * m.ratio, "water_ml")
        }
        (None, Some(water)) => {
            let water = parse_quantity("water_ml", water, WATER_ML, "ml")?;
            (water / m.ratio, water, "coffee_grams")
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of the query parameters \"coffee_grams\" and \"water_ml\"".into(),
            ));
        }
    };
    Ok(Json(RatioView {
        method: m.id.clone(),
        ratio: m.ratio_label(),
        coffee_grams: round1(coffee_grams),
        water_ml: round1(water_ml),
        computed,
        ratio_note: m.ratio_note.clone(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct CafeParams {
    city: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CafesView {
    pub city: String,
    pub country: String,
    pub cafes: Vec<Cafe>,
}

/// `GET /coffee/cafes?city=Lisbon`: recommendations for a city (name matched ignoring case).
/// A city the guide does not cover is a 404: "no recommendations" would claim it has no cafés.
pub async fn cafes(
    State(guide): Guide,
    params: Result<Query<CafeParams>, QueryRejection>,
) -> Result<Json<CafesView>, ApiError> {
    let Query(params) = params?;
    let known = || {
        guide
            .cities()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = params.city.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "query parameter \"city\" is required, e.g. /coffee/cafes?city=Lisbon (cities: {})",
            known()
        )));
    }
    let city = guide.city(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no cafe recommendations for city {:?} (cities: {})",
            echo(name),
            known()
        ))
    })?;
    Ok(Json(CafesView {
        city: city.name.clone(),
        country: city.country.clone(),
        cafes: city.cafes.clone(),
    }))
}

/// `GET /coffee/whoami`: the identity the IAP layer verified (or that it did not).
pub async fn whoami(identity: Identity) -> Json<Identity> {
    Json(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_plain_decimals_within_bounds() {
        let parse = |raw: &str| parse_quantity("coffee_grams", raw, COFFEE_GRAMS, "g");
        for (raw, value) in [
            ("20", 20.0),
            ("20.5", 20.5),
            ("1", 1.0),
            ("1000", 1000.0),
            ("015", 15.0),
        ] {
            assert_eq!(parse(raw), Ok(value), "{raw}");
        }
        for raw in [
            "",
            "0",
            "-5",
            "0.5",
            "1000.1",
            "1e3",
            "inf",
            "NaN",
            "+20",
            "20.",
            ".5",
            "20,5",
            "twenty",
            "1.2.3",
            "99999999999",
        ] {
            assert!(parse(raw).is_err(), "{raw:?}");
        }
    }
}
