//! HTTPS with the certificate and key from settings.

mod support;

use std::sync::Arc;

use ringside_gateway::settings::TlsSettings;
use rustls_pki_types::{CertificateDer, ServerName};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A gateway with a fresh self-signed certificate for `localhost`, and a
/// root store that trusts it.
async fn tls_app() -> (TestApp, rustls::RootCertStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let mut s = settings();
    s.tls = Some(TlsSettings { cert, key });
    let app = spawn_app(s).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(generated.cert.der().to_vec()))
        .unwrap();
    (app, roots, dir)
}

#[tokio::test]
async fn the_gateway_terminates_tls_with_the_configured_certificate() {
    let (app, roots, _dir) = tls_app().await;
    let mut tls = tls_connect(app.addr, roots).await;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{answer}"
    );
    assert!(answer.ends_with("ok"), "{answer}");

    // Plain HTTP on the TLS port gets no answer.
    let plain = http_or_nothing(app.addr).await;
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
}

/// A TLS connection to `addr` (name `localhost`), handshake done.
async fn tls_connect(
    addr: std::net::SocketAddr,
    roots: rustls::RootCertStore,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("a TLS handshake")
}

/// TLS connections send small writes at once too (`TCP_NODELAY`, set before
/// the handshake).
#[tokio::test]
async fn tls_connections_send_without_nagle_delay() {
    let (app, roots, _dir) = tls_app().await;
    let mut tls = tls_connect(app.addr, roots).await;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 64];
    let n = tls.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &answer[..n]
    );
    let port = app.addr.port();
    let flags = ringside_testkit::sockets::tcp_nodelay_flags(|local, _| local.port() == port);
    assert!(!flags.is_empty(), "found no accepted connection");
    assert!(
        flags.iter().all(|&on| on),
        "TCP_NODELAY is off on an accepted TLS connection"
    );
}

async fn http_or_nothing(addr: std::net::SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(12),
        tcp.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// gRPC over the same TLS port: ALPN offers `h2`, and a tonic client that
/// negotiates it reaches the services (here reflection, which needs no
/// token).
#[tokio::test]
async fn grpc_works_over_tls() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let (app, roots, _dir) = tls_app().await;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = app.addr;
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = TcpStream::connect(addr).await?;
                let tls = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await?;
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .expect("an HTTP/2 connection over TLS");
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = futures::StreamExt::next(&mut answers)
        .await
        .unwrap()
        .unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "ringside.state.v1.State"),
        "{list:?}"
    );
}
