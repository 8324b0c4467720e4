//! Cross-cutting HTTP layers: the caller's address behind trusted proxies,
//! security headers, CORS and the base path.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::settings::{Cidr, GatewaySettings};
use crate::state::AppState;

/// The caller's address: the peer, or — when the peer is a trusted proxy —
/// the first untrusted address of `X-Forwarded-For`, read from the right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    /// `None` when unknown (no socket, e.g. in-memory tests).
    pub ip: Option<IpAddr>,
    /// `https` when TLS ended here or at a trusted proxy that says so.
    pub https: bool,
}

/// Computes [`ClientAddr`] from the peer and the forwarded headers.
pub fn client_addr(
    peer: Option<IpAddr>,
    tls: bool,
    headers: &axum::http::HeaderMap,
    trusted: &[Cidr],
) -> ClientAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let Some(peer_ip) = peer else {
        return ClientAddr {
            ip: None,
            https: tls,
        };
    };
    if !is_trusted(peer_ip) {
        return ClientAddr {
            ip: Some(peer_ip),
            https: tls,
        };
    }
    let mut ip = peer_ip;
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for hop in hops.iter().rev() {
        ip = *hop;
        if !is_trusted(*hop) {
            break;
        }
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map_or(tls, |p| p.trim().eq_ignore_ascii_case("https"));
    ClientAddr {
        ip: Some(ip),
        https,
    }
}

/// Puts the gateway's token keys and the caller's address into the request.
pub async fn context(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let tls = state.settings.tls.is_some();
    let addr = client_addr(peer, tls, request.headers(), &state.trusted_proxies);
    request.extensions_mut().insert(addr);
    request.extensions_mut().insert(state.tokens.clone());
    next.run(request).await
}

/// The `Content-Security-Policy` of every answer: no inline scripts, no
/// third-party origins; frames only from the configured ancestors.
pub fn content_security_policy(settings: &GatewaySettings) -> String {
    let ancestors = if settings.frame_ancestors.is_empty() {
        "'none'".to_owned()
    } else {
        settings.frame_ancestors.join(" ")
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// Security headers added to every answer that has none of its own.
pub fn security_headers(settings: &GatewaySettings) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(settings)) {
        headers.push((header::CONTENT_SECURITY_POLICY, csp));
    }
    if settings.frame_ancestors.is_empty() {
        headers.push((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
    }
    if settings.tls.is_some() {
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    headers
}

/// CORS from `cors_allowed_origins` (`None`: same origin only).
pub fn cors(settings: &GatewaySettings) -> Option<CorsLayer> {
    if settings.cors_allowed_origins.is_empty() {
        return None;
    }
    let origin = if settings.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            settings
                .cors_allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Counts an open WebSocket in `ringside_gateway_websocket_clients` for as
/// long as it lives.
pub(crate) struct WsClientGauge(&'static str);

impl WsClientGauge {
    pub(crate) fn open(stream: &'static str) -> Self {
        metrics::gauge!("ringside_gateway_websocket_clients", "stream" => stream).increment(1.0);
        WsClientGauge(stream)
    }
}

impl Drop for WsClientGauge {
    fn drop(&mut self) {
        metrics::gauge!("ringside_gateway_websocket_clients", "stream" => self.0).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.5"),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let from_proxy = client_addr(Some("10.0.0.1".parse().unwrap()), false, &headers, &trusted);
        assert_eq!(from_proxy.ip, Some("203.0.113.7".parse().unwrap()));
        assert!(from_proxy.https);
        let direct = client_addr(
            Some("198.51.100.1".parse().unwrap()),
            false,
            &headers,
            &trusted,
        );
        assert_eq!(direct.ip, Some("198.51.100.1".parse().unwrap()));
        assert!(!direct.https);
    }
}
