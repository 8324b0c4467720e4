//! AMI over TLS with a certificate the client trusts.

mod support;

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use ringside_ami::{Action, AmiCodec, MessageKind};
use ringside_pbx_sim::{ServerTls, SimConfig};
use rustls_pki_types::ServerName;
use support::{SECRET, USER, config, spawn};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

#[tokio::test]
async fn a_client_trusting_the_certificate_logs_in_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let sim = spawn(SimConfig {
        tls: Some(ServerTls {
            cert_chain: cert_path,
            private_key: key_path,
        }),
        ..config()
    })
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(sim.local_addr()).await.unwrap();
    let tls = TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the simulator");
    let mut framed = Framed::new(tls, AmiCodec::new());
    let banner = framed.next().await.unwrap().unwrap().unwrap();
    assert_eq!(banner.kind(), MessageKind::Banner);
    framed
        .send(
            &Action::login_plain(USER, SECRET)
                .unwrap()
                .with_action_id("tls-login")
                .unwrap(),
        )
        .await
        .unwrap();
    let r = framed.next().await.unwrap().unwrap().unwrap();
    assert_eq!(r.action_id(), Some("tls-login"));
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_certificate_file_is_a_startup_error() {
    let err = ringside_pbx_sim::start(SimConfig {
        tls: Some(ServerTls {
            cert_chain: "/nonexistent/cert.pem".into(),
            private_key: "/nonexistent/key.pem".into(),
        }),
        ..config()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, ringside_pbx_sim::SimError::Tls { .. }),
        "{err:?}"
    );
}
