//! `init` with a collector that never answers, a second `init`, the metrics
//! recorder and the metrics/health listener. One process: the global
//! subscriber and recorder are shared by these tests, as in a service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringside_telemetry::{
    MetricsServer, TelemetryError, TelemetrySettings, current_traceparent, describe_all,
    metrics_handle,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A "collector" that accepts connections and never says a word: the worst
/// case for a client that would wait for it.
async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_neither_delays_start_nor_holds_up_shutdown() {
    let addr = black_hole().await;
    let settings = TelemetrySettings {
        otlp_endpoint: Some(format!("http://{addr}")),
        otlp_timeout: Duration::from_millis(500),
        ..TelemetrySettings::default()
    };
    let started = Instant::now();
    let telemetry = ringside_telemetry::init(&settings, "ingestor").unwrap();
    let init_took = started.elapsed();
    // Generous: a blocking connect would never return at all.
    assert!(
        init_took < Duration::from_secs(2),
        "init took {init_took:?}"
    );
    assert!(telemetry.exports_traces());
    assert_eq!(telemetry.service_name(), "ringside-ingestor");

    // Spans still get a context to propagate.
    let span = tracing::info_span!("work");
    let traceparent = span.in_scope(current_traceparent);
    assert!(traceparent.is_some());
    drop(span);

    // A second init keeps the first setup and the same metrics.
    let again = ringside_telemetry::init(&TelemetrySettings::default(), "ingestor").unwrap();
    assert!(!again.is_installed());
    assert!(!again.exports_traces());
    metrics::counter!("ringside_ami_connects_total", "tenant" => "t1", "pbx" => "p1").increment(3);
    assert!(
        telemetry
            .render()
            .contains(r#"ringside_ami_connects_total{tenant="t1",pbx="p1"} 3"#),
        "{}",
        telemetry.render()
    );
    assert!(
        again
            .render()
            .contains(r#"ringside_ami_connects_total{tenant="t1",pbx="p1"} 3"#)
    );
    assert!(telemetry.render().contains("ringside_build_info{"));

    // Bounded shutdown, with a span still buffered for the black hole.
    tracing::info_span!("unsent").in_scope(|| {});
    let started = Instant::now();
    telemetry.shutdown().await;
    again.shutdown().await;
    let shutdown_took = started.elapsed();
    assert!(
        shutdown_took < Duration::from_secs(8),
        "shutdown took {shutdown_took:?}"
    );
}

#[test]
fn an_otlp_endpoint_outside_a_runtime_is_a_clear_error() {
    let settings = TelemetrySettings {
        otlp_endpoint: Some("http://127.0.0.1:4317".into()),
        ..TelemetrySettings::default()
    };
    let error = ringside_telemetry::init(&settings, "state").unwrap_err();
    assert!(matches!(error, TelemetryError::NoRuntime), "{error}");
}

#[test]
fn invalid_settings_fail_init_with_the_key_named() {
    let settings = TelemetrySettings {
        sample_ratio: -0.1,
        ..TelemetrySettings::default()
    };
    let error = ringside_telemetry::init(&settings, "state").unwrap_err();
    assert!(
        error.to_string().contains("telemetry.sample_ratio"),
        "{error}"
    );
}

/// `GET path` over plain HTTP/1.1: (status, content type, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[tokio::test]
async fn the_listener_serves_metrics_liveness_and_readiness() {
    let handle = metrics_handle().unwrap();
    describe_all();
    metrics::histogram!("ringside_ingest_publish_latency_seconds").record(0.003);
    metrics::gauge!("ringside_calls_active", "tenant" => "acme", "pbx" => "pbx-1").set(7.0);

    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let ready = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let flag = ready.clone();
    let serving = tokio::spawn(server.serve(
        handle,
        Arc::new(move || flag.load(Ordering::SeqCst)),
        async {
            let _ = stopped.await;
        },
    ));

    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await.0, 503);
    ready.store(true, Ordering::SeqCst);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/nope").await.0, 404);

    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(
        body.contains(r#"ringside_calls_active{tenant="acme",pbx="pbx-1"} 7"#),
        "{body}"
    );
    assert!(body.contains("# HELP ringside_calls_active Calls in progress on the PBX."));
    // Rendered as a real histogram with the catalog's buckets, not a summary.
    assert!(
        body.contains(r#"ringside_ingest_publish_latency_seconds_bucket{le="0.005"} 1"#),
        "{body}"
    );
    assert!(body.contains("ringside_ingest_publish_latency_seconds_count 1"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_address_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let error = MetricsServer::bind(addr).await.unwrap_err();
    assert!(matches!(error, TelemetryError::Listener { .. }));
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[tokio::test]
async fn http_latency_is_recorded_by_route_template_not_raw_path() {
    let handle = metrics_handle().unwrap();
    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(axum::middleware::from_fn(ringside_telemetry::http_metrics));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(get(addr, "/items/42").await.0, 200);
    assert_eq!(get(addr, "/items/43").await.0, 200);
    assert_eq!(get(addr, "/secret-path-xyz").await.0, 404);

    let body = handle.render();
    assert!(
        body.contains(
            r#"ringside_http_request_duration_seconds_count{method="GET",route="/items/{id}",status="200"} 2"#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#"ringside_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1"#),
        "{body}"
    );
    assert!(!body.contains("/items/42"));
    assert!(!body.contains("secret-path-xyz"));
}
