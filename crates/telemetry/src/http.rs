//! `ringside_http_request_duration_seconds` for an axum router:
//!
//! ```
//! let app: axum::Router = axum::Router::new()
//!     .route("/api/v1/live/{view}", axum::routing::get(|| async { "[]" }))
//!     .layer(axum::middleware::from_fn(ringside_telemetry::http_metrics));
//! ```
//!
//! The `route` label is the matched route template (`/api/v1/live/{view}`),
//! never the raw path, and unknown methods are folded into `OTHER`, so a
//! client cannot create series at will.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// The `route` of a request that matched no route (the fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Axum middleware recording each request's latency by method, route
/// template and status.
pub async fn http_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    metrics::histogram!(
        "ringside_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_str().to_owned(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
