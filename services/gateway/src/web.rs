//! The web UI, embedded from `services/gateway/web/` (release builds embed
//! the files; debug builds read them from disk, as rust-embed does), served
//! at the base path with a single-page-app fallback: a path that is not a
//! file gets `index.html`, whose `<base href>` is set to the base path so
//! the UI's relative URLs work under any prefix.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "tests/*"]
#[exclude = "node_modules/*"]
#[exclude = ".*"]
struct Ui;

/// `index.html` with `<base href="{base_path}">`.
pub fn index_with_base(html: &str, base_path: &str) -> String {
    let tag = format!("<base href=\"{base_path}\">");
    if let Some(start) = html.find("<base ")
        && let Some(len) = html[start..].find('>')
    {
        let mut out = String::with_capacity(html.len() + base_path.len());
        out.push_str(&html[..start]);
        out.push_str(&tag);
        out.push_str(&html[start + len + 1..]);
        return out;
    }
    match html.find("<head>") {
        Some(at) => format!("{}{tag}{}", &html[..at + 6], &html[at + 6..]),
        None => format!("{tag}{html}"),
    }
}

fn index(state: &AppState) -> Response {
    let Some(file) = Ui::get("index.html") else {
        return (
            StatusCode::NOT_FOUND,
            "the web UI is not built into this gateway",
        )
            .into_response();
    };
    let html = String::from_utf8_lossy(&file.data);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        index_with_base(&html, &state.base_path),
    )
        .into_response()
}

/// Static files and the SPA fallback.
pub async fn static_ui(State(state): State<AppState>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return ApiError::not_found("no such endpoint").into_response();
    }
    let path = request.uri().path().trim_start_matches('/');
    if path.starts_with("api/") || path == "api" || path.starts_with("ws") {
        return ApiError::not_found("no such endpoint").into_response();
    }
    if path.is_empty() || path == "index.html" {
        return index(&state);
    }
    if let Some(file) = Ui::get(path) {
        let mime = file.metadata.mimetype().to_owned();
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(&mime)
                        .unwrap_or(HeaderValue::from_static("application/octet-stream")),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            file.data.into_owned(),
        )
            .into_response();
    }
    // A missing file (it has an extension) is a 404; anything else is a
    // client-side route of the UI.
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    index(&state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_href_is_replaced_or_inserted() {
        assert_eq!(
            index_with_base("<head><base href=\"/\"><title>x</title>", "/monitor/"),
            "<head><base href=\"/monitor/\"><title>x</title>"
        );
        assert_eq!(
            index_with_base("<html><head><title>", "/a/"),
            "<html><head><base href=\"/a/\"><title>"
        );
    }
}
