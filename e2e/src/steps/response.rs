//! What the client got back.

use cucumber::then;
use serde_json::Value;

use super::Responder;
use crate::world::{Door, FortressWorld};

#[then(expr = "the response status is {int}")]
async fn status(w: &mut FortressWorld, expected: u16) -> Result<(), String> {
    let last = w.last()?;
    (last.status == expected)
        .then_some(())
        .ok_or_else(|| format!("expected {expected}; {}", last.describe()))
}

#[then(expr = "the response status is {int} or {int}")]
async fn status_either(w: &mut FortressWorld, a: u16, b: u16) -> Result<(), String> {
    let last = w.last()?;
    (last.status == a || last.status == b)
        .then_some(())
        .ok_or_else(|| format!("expected {a} or {b}; {}", last.describe()))
}

#[then(expr = "the response body is {string}")]
async fn body_is(w: &mut FortressWorld, expected: String) -> Result<(), String> {
    let expected = w.expand(&expected).await?;
    let last = w.last()?;
    (last.body == expected)
        .then_some(())
        .ok_or_else(|| format!("expected the body {expected:?}; {}", last.describe()))
}

#[then(expr = "the response body contains {string}")]
async fn body_contains(w: &mut FortressWorld, part: String) -> Result<(), String> {
    let part = w.expand(&part).await?;
    let last = w.last()?;
    last.body
        .contains(&part)
        .then_some(())
        .ok_or_else(|| format!("expected the body to contain {part:?}; {}", last.describe()))
}

#[then(expr = "the response body does not contain {string}")]
async fn body_lacks(w: &mut FortressWorld, part: String) -> Result<(), String> {
    let part = w.expand(&part).await?;
    let last = w.last()?;
    (!last.body.contains(&part))
        .then_some(())
        .ok_or_else(|| format!("the body contains {part:?}; {}", last.describe()))
}

#[then(expr = "the response header {string} is {string}")]
async fn header_is(w: &mut FortressWorld, name: String, expected: String) -> Result<(), String> {
    let expected = w.expand(&expected).await?;
    let last = w.last()?;
    match last.header(&name) {
        Some(v) if v == expected => Ok(()),
        other => Err(format!(
            "expected {name}: {expected:?}, found {other:?}; {}",
            last.describe()
        )),
    }
}

#[then(expr = "the response header {string} contains {string}")]
async fn header_contains(w: &mut FortressWorld, name: String, part: String) -> Result<(), String> {
    let part = w.expand(&part).await?;
    let last = w.last()?;
    match last.header(&name) {
        Some(v) if v.contains(&part) => Ok(()),
        other => Err(format!(
            "expected {name} to contain {part:?}, found {other:?}; {}",
            last.describe()
        )),
    }
}

#[then(expr = "the response header {string} starts with {string}")]
async fn header_starts(w: &mut FortressWorld, name: String, prefix: String) -> Result<(), String> {
    let prefix = w.expand(&prefix).await?;
    let last = w.last()?;
    match last.header(&name) {
        Some(v) if v.starts_with(&prefix) => Ok(()),
        other => Err(format!(
            "expected {name} to start with {prefix:?}, found {other:?}; {}",
            last.describe()
        )),
    }
}

#[then(expr = "the response has no header {string}")]
async fn no_header(w: &mut FortressWorld, name: String) -> Result<(), String> {
    let last = w.last()?;
    match last.header(&name) {
        None => Ok(()),
        Some(v) => Err(format!("found {name}: {v:?}; {}", last.describe())),
    }
}

#[then(expr = "the response JSON at {string} is {string}")]
async fn json_at(w: &mut FortressWorld, pointer: String, expected: String) -> Result<(), String> {
    let expected = w.expand(&expected).await?;
    let last = w.last()?;
    let json = last
        .json()
        .ok_or_else(|| format!("the body is not JSON; {}", last.describe()))?;
    let found = json
        .pointer(&pointer)
        .ok_or_else(|| format!("the JSON has nothing at {pointer}; {}", last.describe()))?;
    let matches = match found {
        Value::String(s) => *s == expected,
        other => serde_json::from_str::<Value>(&expected).is_ok_and(|e| e == *other),
    };
    matches.then_some(()).ok_or_else(|| {
        format!(
            "expected {expected:?} at {pointer}, found {found}; {}",
            last.describe()
        )
    })
}

/// The sample services' data: smoothie recipes or coffee brewing methods.
#[then(expr = "the response is {word} data")]
async fn is_data(w: &mut FortressWorld, which: String) -> Result<(), String> {
    let last = w.last()?;
    let list = match which.as_str() {
        "smoothie" => "recipes",
        "coffee" => "methods",
        other => return Err(format!("{other:?}: expected smoothie or coffee")),
    };
    let json = last.json().unwrap_or(Value::Null);
    let items = json[list].as_array().map(Vec::len).unwrap_or(0);
    (last.status == 200 && items > 0 && json[list][0]["id"].is_string())
        .then_some(())
        .ok_or_else(|| {
            format!(
                "expected {which} data (a list of {list}); {}",
                last.describe()
            )
        })
}

#[then(expr = "the answer came from {responder}")]
async fn answered_by(w: &mut FortressWorld, who: Responder) -> Result<(), String> {
    let f = w.fortress().await?;
    let mut reached = Vec::new();
    for name in f.recorded_services() {
        if !w.seen_by(name).await?.is_empty() {
            reached.push(name.to_string());
        }
    }
    let last = w.last()?;
    let iap = last.header("x-goog-iap-generated-response") == Some("true");
    let html = last
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html"));
    let gateway_json = last.json().is_some_and(|j| {
        j.as_object().is_some_and(|o| o.len() == 2)
            && j["code"] == last.status
            && j["message"].is_string()
    });
    let ok = match &who {
        Responder::Gateway => gateway_json && reached.is_empty() && !iap,
        Responder::Iap => iap && reached.is_empty(),
        Responder::CloudRun => html && !iap && reached.is_empty(),
        Responder::Service(name) => reached == [name.clone()] && !iap,
    };
    ok.then_some(()).ok_or_else(|| {
        format!(
            "expected the answer from {who:?}; services reached: {reached:?}, IAP-generated: {iap}; {}",
            last.describe()
        )
    })
}

/// The run.app URL refused the request with one of Google's pages, and no service saw it.
#[then(expr = "the back door is closed")]
async fn back_door_closed(w: &mut FortressWorld) -> Result<(), String> {
    let last = w.last()?.clone();
    let Door::RunApp(service) = &last.door else {
        return Err("the back door is a run.app URL; the last request went elsewhere".into());
    };
    let html = last
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html"));
    if !(last.status == 404 || last.status == 403) || !html {
        return Err(format!(
            "expected Google's 404 or 403 page; {}",
            last.describe()
        ));
    }
    let seen = w.seen_by(service).await?;
    seen.is_empty()
        .then_some(())
        .ok_or_else(|| format!("{service} received the request"))
}

/// IAP's answer to a request without credentials: 302 to Google's sign-in for IAP's client.
#[then(expr = "the client is sent to Google sign-in")]
async fn sent_to_sign_in(w: &mut FortressWorld) -> Result<(), String> {
    let prefix = w
        .expand("https://accounts.google.com/o/oauth2/v2/auth?client_id=<IAP client id>&")
        .await?;
    let last = w.last()?;
    let location = last.header("location").unwrap_or_default();
    (last.status == 302 && location.starts_with(&prefix))
        .then_some(())
        .ok_or_else(|| {
            format!(
                "expected a 302 to {prefix}..., found location {location:?}; {}",
                last.describe()
            )
        })
}
