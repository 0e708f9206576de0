//! The recipe book: parsed once at start from `fixtures/data/smoothies.json`, which is compiled
//! into the binary (`include_str!`) so a `FROM scratch` image needs no data file.
//!
//! [`Catalog::parse`] is the only constructor and checks what the handlers rely on: every recipe
//! ingredient exists and is measured in the unit its nutrition is given per 100 of; amounts and
//! nutrition values are finite and non-negative; ids are unique slugs; recipes tagged `vegan` or
//! `dairy-free` contain nothing marked otherwise. A bad file is a [`DataError`] naming the place
//! and the problem: a start-up error, never a panic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Add, Mul};

use serde::{Deserialize, Serialize};

/// The data shipped in the binary.
pub const EMBEDDED: &str = include_str!("../../../fixtures/data/smoothies.json");
/// Where [`EMBEDDED`] comes from, for error messages.
pub const EMBEDDED_PATH: &str = "fixtures/data/smoothies.json";

/// Most servings a recipe, or a nutrition request, may be scaled to.
pub const MAX_SERVINGS: u32 = 100;

/// What the data file failed to be (the chassis' type: a start-up error, exit 70).
pub use iap_service::DataError;

/// Units an amount is measured in; nutrition is given per 100 of the same unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    G,
    Ml,
}

/// Energy and macronutrients. Per 100 g/ml in the data; per portion, recipe or serving in answers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nutrition {
    pub kcal: f64,
    pub protein_g: f64,
    pub carbs_g: f64,
    pub sugar_g: f64,
    pub fat_g: f64,
    pub fiber_g: f64,
}

impl Nutrition {
    fn values(&self) -> [(&'static str, f64); 6] {
        [
            ("kcal", self.kcal),
            ("protein_g", self.protein_g),
            ("carbs_g", self.carbs_g),
            ("sugar_g", self.sugar_g),
            ("fat_g", self.fat_g),
            ("fiber_g", self.fiber_g),
        ]
    }

    /// Rounded to one decimal, for answers. Sums are made before rounding.
    pub fn rounded(self) -> Self {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        Self {
            kcal: r(self.kcal),
            protein_g: r(self.protein_g),
            carbs_g: r(self.carbs_g),
            sugar_g: r(self.sugar_g),
            fat_g: r(self.fat_g),
            fiber_g: r(self.fiber_g),
        }
    }
}

impl Add for Nutrition {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            kcal: self.kcal + o.kcal,
            protein_g: self.protein_g + o.protein_g,
            carbs_g: self.carbs_g + o.carbs_g,
            sugar_g: self.sugar_g + o.sugar_g,
            fat_g: self.fat_g + o.fat_g,
            fiber_g: self.fiber_g + o.fiber_g,
        }
    }
}

impl Mul<f64> for Nutrition {
    type Output = Self;
    fn mul(self, k: f64) -> Self {
        Self {
            kcal: self.kcal * k,
            protein_g: self.protein_g * k,
            carbs_g: self.carbs_g * k,
            sugar_g: self.sugar_g * k,
            fat_g: self.fat_g * k,
            fiber_g: self.fiber_g * k,
        }
    }
}

// ---- the file, as written ----------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[allow(dead_code)] // provenance for readers of the file
    source: String,
    ingredients: BTreeMap<String, RawIngredient>,
    recipes: Vec<RawRecipe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngredient {
    name: String,
    unit: Unit,
    per_100: Nutrition,
    #[serde(default = "yes")]
    vegan: bool,
    #[serde(default)]
    dairy: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    id: String,
    name: String,
    description: String,
    tags: Vec<String>,
    servings: u32,
    ingredients: Vec<RawPortion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortion {
    ingredient: String,
    amount: f64,
    unit: Unit,
}

// ---- the checked model -------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Ingredient {
    pub id: String,
    pub name: String,
    pub unit: Unit,
    pub per_100: Nutrition,
    pub vegan: bool,
    pub dairy: bool,
}

/// An amount of one ingredient in a recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Portion {
    /// Index into [`Catalog::ingredients`].
    ingredient: usize,
    pub amount: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub servings: u32,
    portions: Vec<Portion>,
}

/// The checked recipe book.
#[derive(Debug, Clone)]
pub struct Catalog {
    ingredients: Vec<Ingredient>,
    recipes: Vec<Recipe>,
    by_id: HashMap<String, usize>,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Catalog {
    /// The recipe book compiled into the binary.
    pub fn embedded() -> Result<Self, DataError> {
        Self::parse(EMBEDDED)
    }

    /// Parses and checks a recipe book in the format of [`EMBEDDED`].
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

        let mut ingredients = Vec::with_capacity(raw.ingredients.len());
        let mut ingredient_index = HashMap::new();
        for (id, ing) in raw.ingredients {
            let at = format!("ingredients.{id}");
            if !is_slug(&id) {
                return Err(invalid(
                    at,
                    "id must be a lowercase slug (a-z, 0-9, -)".into(),
                ));
            }
            if ing.name.trim().is_empty() {
                return Err(invalid(at, "name is empty".into()));
            }
            for (field, value) in ing.per_100.values() {
                if !value.is_finite() || value < 0.0 {
                    return Err(invalid(
                        format!("{at}.per_100.{field}"),
                        format!("must be a finite number >= 0, found {value}"),
                    ));
                }
            }
            let n = ing.per_100;
            if n.sugar_g > n.carbs_g || n.fiber_g > n.carbs_g {
                return Err(invalid(
                    format!("{at}.per_100"),
                    "sugar and fiber are part of carbohydrates and cannot exceed carbs_g".into(),
                ));
            }
            if n.protein_g + n.carbs_g + n.fat_g > 100.0 {
                return Err(invalid(
                    format!("{at}.per_100"),
                    "protein, carbs and fat exceed 100 g per 100".into(),
                ));
            }
            ingredient_index.insert(id.clone(), ingredients.len());
            ingredients.push(Ingredient {
                id,
                name: ing.name,
                unit: ing.unit,
                per_100: n,
                vegan: ing.vegan,
                dairy: ing.dairy,
            });
        }

        if raw.recipes.is_empty() {
            return Err(invalid("recipes".into(), "there are no recipes".into()));
        }
        let mut recipes = Vec::with_capacity(raw.recipes.len());
        let mut by_id = HashMap::new();
        for (i, r) in raw.recipes.into_iter().enumerate() {
            let at = format!("recipes[{i}] ({})", r.id);
            if !is_slug(&r.id) {
                return Err(invalid(
                    at,
                    "id must be a lowercase slug (a-z, 0-9, -)".into(),
                ));
            }
            if by_id.contains_key(&r.id) {
                return Err(invalid(at, "id is used by an earlier recipe".into()));
            }
            if r.name.trim().is_empty() {
                return Err(invalid(at, "name is empty".into()));
            }
            if r.servings == 0 || r.servings > MAX_SERVINGS {
                return Err(invalid(
                    format!("{at}.servings"),
                    format!("must be 1 to {MAX_SERVINGS}, found {}", r.servings),
                ));
            }
            if let Some(tag) = r.tags.iter().find(|t| !is_slug(t)) {
                return Err(invalid(
                    format!("{at}.tags"),
                    format!("tag {tag:?} must be a lowercase slug"),
                ));
            }
            if r.ingredients.is_empty() {
                return Err(invalid(at, "has no ingredients".into()));
            }
            let mut seen = HashSet::new();
            let mut portions = Vec::with_capacity(r.ingredients.len());
            for (j, p) in r.ingredients.iter().enumerate() {
                let at = format!("{at}.ingredients[{j}] ({})", p.ingredient);
                let Some(&index) = ingredient_index.get(&p.ingredient) else {
                    return Err(invalid(
                        at,
                        "names no ingredient in `ingredients`, so it has no nutrition".into(),
                    ));
                };
                if !seen.insert(index) {
                    return Err(invalid(at, "ingredient is listed twice".into()));
                }
                let ingredient = &ingredients[index];
                if p.unit != ingredient.unit {
                    return Err(invalid(
                        at,
                        format!(
                            "measured in {:?} but its nutrition is per 100 {:?}",
                            p.unit, ingredient.unit
                        ),
                    ));
                }
                if !p.amount.is_finite() || p.amount <= 0.0 || p.amount > 2000.0 {
                    return Err(invalid(
                        at,
                        format!(
                            "amount must be more than 0 and at most 2000, found {}",
                            p.amount
                        ),
                    ));
                }
                portions.push(Portion {
                    ingredient: index,
                    amount: p.amount,
                });
            }
            let contains = |pred: fn(&Ingredient) -> bool| {
                portions.iter().any(|p| pred(&ingredients[p.ingredient]))
            };
            if r.tags.iter().any(|t| t == "vegan") && contains(|i| !i.vegan) {
                return Err(invalid(
                    at,
                    "tagged vegan but has a non-vegan ingredient".into(),
                ));
            }
            if r.tags.iter().any(|t| t == "dairy-free") && contains(|i| i.dairy) {
                return Err(invalid(
                    at,
                    "tagged dairy-free but has a dairy ingredient".into(),
                ));
            }
            by_id.insert(r.id.clone(), recipes.len());
            recipes.push(Recipe {
                id: r.id,
                name: r.name,
                description: r.description,
                tags: r.tags,
                servings: r.servings,
                portions,
            });
        }
        Ok(Self {
            ingredients,
            recipes,
            by_id,
        })
    }

    /// Recipes in file order.
    pub fn recipes(&self) -> &[Recipe] {
        &self.recipes
    }

    pub fn recipe(&self, id: &str) -> Option<&Recipe> {
        self.by_id.get(id).map(|&i| &self.recipes[i])
    }

    pub fn ingredients(&self) -> &[Ingredient] {
        &self.ingredients
    }

    /// The ingredients of `recipe` with their amounts and the nutrition of each amount.
    pub fn portions<'a>(
        &'a self,
        recipe: &'a Recipe,
    ) -> impl Iterator<Item = (&'a Ingredient, f64, Nutrition)> + 'a {
        recipe.portions.iter().map(|p| {
            let ingredient = &self.ingredients[p.ingredient];
            (
                ingredient,
                p.amount,
                ingredient.per_100 * (p.amount / 100.0),
            )
        })
    }

    /// Nutrition of the whole recipe as written (all its servings), unrounded.
    pub fn total(&self, recipe: &Recipe) -> Nutrition {
        self.portions(recipe)
            .fold(Nutrition::default(), |sum, (_, _, n)| sum + n)
    }

    /// Nutrition of one serving, unrounded.
    pub fn per_serving(&self, recipe: &Recipe) -> Nutrition {
        self.total(recipe) * (1.0 / f64::from(recipe.servings))
    }

    /// Recipes with an ingredient whose id or name contains `query`, ignoring case: `milk`
    /// finds whole milk and almond milk by name, and oat drink by its id `oat-milk`.
    pub fn containing<'a>(&'a self, query: &str) -> impl Iterator<Item = &'a Recipe> + 'a {
        let needle = query.trim().to_lowercase();
        let matches: Vec<bool> = self
            .ingredients
            .iter()
            .map(|i| i.id.contains(&needle) || i.name.to_lowercase().contains(&needle))
            .collect();
        self.recipes
            .iter()
            .filter(move |r| r.portions.iter().any(|p| matches[p.ingredient]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().expect("the shipped data parses")
    }

    #[test]
    fn the_shipped_data_parses_and_has_enough_recipes() {
        let c = catalog();
        assert!(c.recipes().len() >= 6, "{}", c.recipes().len());
    }

    #[test]
    fn every_shipped_ingredient_is_used_by_some_recipe() {
        let c = catalog();
        for ing in c.ingredients() {
            assert!(
                c.recipes()
                    .iter()
                    .any(|r| c.portions(r).any(|(i, _, _)| i.id == ing.id)),
                "{} is never used",
                ing.id
            );
        }
    }

    #[test]
    fn nutrition_is_the_sum_of_the_portions_scaled_from_per_100() {
        let c = catalog();
        let r = c.recipe("peanut-butter-oat").expect("recipe");
        // banana 120 g, peanut butter 32 g, oats 40 g, oat drink 300 ml, honey 10 g.
        let kcal = 89.0 * 1.2 + 588.0 * 0.32 + 379.0 * 0.4 + 46.0 * 3.0 + 304.0 * 0.1;
        assert!((c.total(r).kcal - kcal).abs() < 1e-9);
        assert_eq!(r.servings, 1);
        assert_eq!(c.per_serving(r), c.total(r));
    }

    #[test]
    fn per_serving_times_servings_is_the_total() {
        let c = catalog();
        for r in c.recipes() {
            let back = c.per_serving(r) * f64::from(r.servings);
            assert!((back.kcal - c.total(r).kcal).abs() < 1e-9, "{}", r.id);
        }
    }

    #[test]
    fn ingredient_search_ignores_case_and_matches_names_and_ids() {
        let c = catalog();
        let ids = |q: &str| c.containing(q).map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids("BaNaNa"), ids("banana"));
        assert!(ids("banana").len() >= 4);
        assert_eq!(ids("avocado"), vec!["chocolate-avocado".to_string()]);
        assert!(ids("milk").len() >= 3, "{:?}", ids("milk"));
        assert!(ids("dragonfruit").is_empty());
    }

    /// A minimal valid file with one field replaced, to test each rule alone.
    fn with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Catalog, DataError> {
        let mut v = serde_json::json!({
            "source": "test",
            "ingredients": {
                "banana": {"name": "Banana", "unit": "g", "per_100":
                    {"kcal": 89, "protein_g": 1.1, "carbs_g": 22.8, "sugar_g": 12.2, "fat_g": 0.3, "fiber_g": 2.6}},
                "milk": {"name": "Milk", "unit": "ml", "vegan": false, "dairy": true, "per_100":
                    {"kcal": 61, "protein_g": 3.2, "carbs_g": 4.8, "sugar_g": 4.8, "fat_g": 3.3, "fiber_g": 0}}
            },
            "recipes": [{"id": "b", "name": "B", "description": "", "tags": ["plain"], "servings": 1,
                "ingredients": [{"ingredient": "banana", "amount": 100, "unit": "g"},
                                {"ingredient": "milk", "amount": 200, "unit": "ml"}]}]
        });
        edit(&mut v);
        Catalog::parse(&v.to_string())
    }

    fn problem(result: Result<Catalog, DataError>) -> String {
        match result {
            Ok(_) => "accepted".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_minimal_file_is_valid() {
        assert!(with(|_| {}).is_ok());
    }

    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

    #[test]
    fn bad_data_is_an_error_naming_the_place() {
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| v["recipes"][0]["ingredients"][0]["ingredient"] = "kiwi".into()),
                "names no ingredient",
            ),
            (
                Box::new(|v| v["recipes"][0]["ingredients"][0]["unit"] = "ml".into()),
                "per 100",
            ),
            (
                Box::new(|v| v["recipes"][0]["ingredients"][0]["amount"] = (-5).into()),
                "amount",
            ),
            (
                Box::new(|v| v["recipes"][0]["ingredients"][0]["amount"] = 0.into()),
                "amount",
            ),
            (
                Box::new(|v| v["recipes"][0]["servings"] = 0.into()),
                "servings",
            ),
            (
                Box::new(|v| v["recipes"][0]["id"] = "Bad Id".into()),
                "slug",
            ),
            (
                Box::new(|v| v["recipes"][0]["tags"] = serde_json::json!(["vegan"])),
                "non-vegan",
            ),
            (
                Box::new(|v| v["recipes"][0]["tags"] = serde_json::json!(["dairy-free"])),
                "dairy",
            ),
            (
                Box::new(|v| v["recipes"] = serde_json::json!([])),
                "no recipes",
            ),
            (
                Box::new(|v| v["ingredients"]["banana"]["per_100"]["sugar_g"] = 30.into()),
                "carbs_g",
            ),
            (
                Box::new(|v| v["ingredients"]["banana"]["per_100"]["kcal"] = (-1).into()),
                "finite number",
            ),
            (
                Box::new(|v| v["ingredients"]["banana"]["colour"] = "yellow".into()),
                "unknown field",
            ),
            (
                Box::new(|v| {
                    let first = v["recipes"][0].clone();
                    v["recipes"].as_array_mut().expect("array").push(first);
                }),
                "earlier recipe",
            ),
            (
                Box::new(|v| {
                    let first = v["recipes"][0]["ingredients"][0].clone();
                    v["recipes"][0]["ingredients"]
                        .as_array_mut()
                        .expect("array")
                        .push(first);
                }),
                "listed twice",
            ),
        ];
        for (edit, expected) in cases {
            let message = problem(with(edit));
            assert!(
                message.contains(expected),
                "expected {expected:?} in {message:?}"
            );
            assert!(message.starts_with(EMBEDDED_PATH), "{message}");
        }
    }

    #[test]
    fn a_file_that_is_not_json_is_an_error_not_a_panic() {
        assert!(matches!(Catalog::parse("{"), Err(DataError::Json { .. })));
    }
}
