//! The web console: one page served by the binary that talks to the API with the
//! analyst's token (kept in the browser's session storage, never in a cookie).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

const CONSOLE_HTML: &str = include_str!("../assets/console.html");

pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/console") }))
        .route(
            "/console",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        (
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                        ),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    CONSOLE_HTML,
                )
                    .into_response()
            }),
        )
}
