//! The JSON error answers the chassis gives every sample service, written once: a 404 for a path
//! no route matches, a 405 for another method on a route's path. Each service's tests call these
//! with its own paths.

use reqwest::Method;

use super::{TestApp, assert_error, json};
use crate::SampleService;

/// Each of `paths`, sent with a valid assertion, is a JSON 404 naming the method and path.
pub async fn unknown_paths_are_json_404s<S: SampleService>(paths: &[&str]) {
    let app = TestApp::<S>::spawn().await;
    for path in paths {
        let (status, body) = json(app.get(path).await).await;
        assert_error(status, &body, 404, "NOT_FOUND");
        assert_eq!(
            body["error"]["message"],
            format!("no route for GET {path}"),
            "{body}"
        );
    }
}

/// `method` on `path`, a route's path that answers GET only, is a JSON 405.
pub async fn another_method_on_a_known_path_is_a_json_405<S: SampleService>(
    method: Method,
    path: &str,
) {
    let app = TestApp::<S>::spawn().await;
    let response = app
        .http
        .request(method.clone(), app.url(path))
        .header("x-goog-iap-jwt-assertion", app.assertion())
        .send()
        .await
        .expect("request");
    let (status, body) = json(response).await;
    assert_error(status, &body, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(
        body["error"]["message"],
        format!("method {method} is not allowed here"),
        "{body}"
    );
}
