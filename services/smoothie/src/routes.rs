//! The handlers, one per route. They read the [`Catalog`] and never fail except with an
//! [`ApiError`]; JSON shapes are the `*View` types here, the wire format kept at this edge.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use iap_assertion::Identity;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, MAX_SERVINGS, Nutrition, Recipe, Unit};
use crate::error::{self, ApiError, echo};

type Catalogue = State<Arc<Catalog>>;

/// Longest ingredient query accepted.
const MAX_QUERY_LEN: usize = 64;

#[derive(Debug, Serialize)]
pub struct RecipeSummary {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
}

impl From<&Recipe> for RecipeSummary {
    fn from(r: &Recipe) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            tags: r.tags.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RecipeList {
    pub recipes: Vec<RecipeSummary>,
}

/// `GET /smoothie`: every recipe, in menu order.
pub async fn list(State(catalog): Catalogue) -> Json<RecipeList> {
    Json(RecipeList {
        recipes: catalog.recipes().iter().map(Into::into).collect(),
    })
}

#[derive(Debug, Serialize)]
pub struct PortionView {
    pub id: String,
    pub name: String,
    pub amount: f64,
    pub unit: Unit,
    /// Of this amount.
    pub nutrition: Nutrition,
}

#[derive(Debug, Serialize)]
pub struct RecipeView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub servings: u32,
    pub ingredients: Vec<PortionView>,
    /// The whole recipe as written (all servings).
    pub nutrition_total: Nutrition,
    pub nutrition_per_serving: Nutrition,
}

/// `GET /smoothie/recipes/{id}`: ingredients with amounts and nutrition, totals and per serving.
pub async fn recipe(
    State(catalog): Catalogue,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<RecipeView>, ApiError> {
    let Path(id) = id?;
    let r = catalog.recipe(&id).ok_or_else(|| error::no_recipe(&id))?;
    Ok(Json(RecipeView {
        id: r.id.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        tags: r.tags.clone(),
        servings: r.servings,
        ingredients: catalog
            .portions(r)
            .map(|(ingredient, amount, nutrition)| PortionView {
                id: ingredient.id.clone(),
                name: ingredient.name.clone(),
                amount,
                unit: ingredient.unit,
                nutrition: nutrition.rounded(),
            })
            .collect(),
        nutrition_total: catalog.total(r).rounded(),
        nutrition_per_serving: catalog.per_serving(r).rounded(),
    }))
}

#[derive(Debug, Serialize)]
pub struct SearchResult {
    pub ingredient: String,
    pub recipes: Vec<RecipeSummary>,
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    ingredient: Option<String>,
}

/// `GET /smoothie/search?ingredient=banana`: recipes with a matching ingredient (id or name
/// contains the query, ignoring case). An empty result is a 200 with no recipes.
pub async fn search(
    State(catalog): Catalogue,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchResult>, ApiError> {
    let Query(params) = params?;
    let query = params
        .ingredient
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    if query.is_empty() {
        return Err(ApiError::BadRequest(
            "query parameter \"ingredient\" is required, e.g. /smoothie/search?ingredient=banana"
                .into(),
        ));
    }
    if query.chars().count() > MAX_QUERY_LEN {
        return Err(ApiError::BadRequest(format!(
            "query parameter \"ingredient\" is longer than {MAX_QUERY_LEN} characters"
        )));
    }
    Ok(Json(SearchResult {
        ingredient: query.to_owned(),
        recipes: catalog.containing(query).map(Into::into).collect(),
    }))
}

#[derive(Debug, Serialize)]
pub struct NutritionView {
    pub recipe: String,
    /// Servings the figures are for.
    pub servings: u32,
    /// Servings the recipe as written makes.
    pub recipe_servings: u32,
    pub nutrition: Nutrition,
}

#[derive(Debug, Deserialize)]
pub struct NutritionParams {
    servings: Option<String>,
}

/// A whole number from 1 to [`MAX_SERVINGS`], written in plain digits.
fn parse_servings(raw: Option<&str>) -> Result<u32, ApiError> {
    let Some(raw) = raw else { return Ok(1) };
    let bad = || {
        ApiError::BadRequest(format!(
            "query parameter \"servings\" must be a whole number from 1 to {MAX_SERVINGS}, found {:?}",
            echo(raw)
        ))
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_SERVINGS).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// `GET /smoothie/recipes/{id}/nutrition?servings=N`: nutrition for N servings (default 1).
pub async fn nutrition(
    State(catalog): Catalogue,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<NutritionParams>, QueryRejection>,
) -> Result<Json<NutritionView>, ApiError> {
    let Path(id) = id?;
    let r = catalog.recipe(&id).ok_or_else(|| error::no_recipe(&id))?;
    let Query(params) = params?;
    let servings = parse_servings(params.servings.as_deref())?;
    Ok(Json(NutritionView {
        recipe: r.id.clone(),
        servings,
        recipe_servings: r.servings,
        nutrition: (catalog.per_serving(r) * f64::from(servings)).rounded(),
    }))
}

/// `GET /smoothie/whoami`: the identity the IAP layer verified (or that it did not).
pub async fn whoami(identity: Identity) -> Json<Identity> {
    Json(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servings_must_be_plain_digits_from_1_to_100() {
        assert_eq!(parse_servings(None), Ok(1));
        for (raw, n) in [("1", 1), ("4", 4), ("100", 100), ("007", 7)] {
            assert_eq!(parse_servings(Some(raw)), Ok(n), "{raw}");
        }
        for raw in [
            "",
            "0",
            "101",
            "-1",
            "+1",
            "1.5",
            "1e2",
            "two",
            " 3",
            "99999999999999999999",
        ] {
            assert!(parse_servings(Some(raw)).is_err(), "{raw:?}");
        }
    }
}
