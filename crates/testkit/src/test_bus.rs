//! A bus isolated per test.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ringside_bus::{
    Bus, InProcessLimits, NatsSettings, Retention, Storage, Token, Topology, connect_nats,
    in_process,
};

/// `$RINGSIDE_TEST_NATS_URL`, default `nats://127.0.0.1:4222`.
pub fn nats_url() -> String {
    std::env::var("RINGSIDE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A random name prefix (`t1a2b3c4d`).
pub fn random_prefix() -> Token {
    Token::new(format!("t{:08x}", rand::random::<u32>())).expect("a valid token")
}

/// Short retention, in memory: tests keep nothing on disk.
pub fn test_retention(storage: Storage) -> Retention {
    Retention {
        events_max_age: Duration::from_secs(3600),
        events_max_bytes: Some(64 * 1024 * 1024),
        ami_max_age: Duration::from_secs(3600),
        ami_max_bytes: Some(64 * 1024 * 1024),
        calls_max_age: Some(Duration::from_secs(3600)),
        prov_max_age: Some(Duration::from_secs(3600)),
        duplicate_window: Duration::from_secs(120),
        storage,
    }
}

/// A bus and its topology, private to one test.
pub struct TestBus {
    pub bus: Arc<dyn Bus>,
    pub topology: Topology,
    /// The NATS server's version (`2.9.10`), `None` in process: benchmarks
    /// print it, since JetStream figures move with the server.
    pub server_version: Option<String>,
    _cleanup: Option<Cleanup>,
}

impl TestBus {
    /// The in-process implementation.
    pub fn in_process() -> TestBus {
        let topology = Topology::v1_prefixed(&random_prefix(), &test_retention(Storage::Memory));
        let bus = in_process(&topology, InProcessLimits::default()).expect("a valid topology");
        TestBus {
            bus: Arc::new(bus),
            topology,
            server_version: None,
            _cleanup: None,
        }
    }

    /// The real NATS at [`nats_url`]; panics (fails the test) when it is not there.
    pub async fn nats() -> TestBus {
        TestBus::nats_at(&nats_url(), Duration::from_secs(5)).await
    }

    /// A real NATS at `url`, with `request_timeout` for publishes and requests.
    pub async fn nats_at(url: &str, request_timeout: Duration) -> TestBus {
        TestBus::nats_with(url, request_timeout, Storage::Memory).await
    }

    /// A real NATS at `url` with streams on `storage` (`File` for tests that
    /// restart the server and expect the stream to survive).
    pub async fn nats_with(url: &str, request_timeout: Duration, storage: Storage) -> TestBus {
        let prefix = random_prefix();
        let topology = Topology::v1_prefixed(&prefix, &test_retention(storage));
        let settings = NatsSettings {
            url: url.to_owned(),
            name: "ringside-test".to_owned(),
            request_timeout,
            ..NatsSettings::default()
        };
        let bus = connect_nats(&settings, &topology)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need a JetStream server at {url} (set RINGSIDE_TEST_NATS_URL): {e}"
                )
            });
        TestBus {
            server_version: Some(bus.client().server_info().version),
            bus: Arc::new(bus),
            topology,
            _cleanup: Some(Cleanup {
                url: url.to_owned(),
                prefix: prefix.to_string(),
            }),
        }
    }

    /// The prefix of this test's names.
    pub fn prefix(&self) -> Option<&Token> {
        self.topology.prefix()
    }
}

/// Deletes a test's streams and buckets when the test ends, pass or fail. Runs
/// on its own thread and runtime: the test's runtime may be gone by then.
struct Cleanup {
    url: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let connect = async_nats::connect(url.as_str());
                let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(5), connect).await
                else {
                    return;
                };
                let js = async_nats::jetstream::new(client);
                let mut names = js.stream_names();
                let mut ours = Vec::new();
                while let Some(Ok(name)) = names.next().await {
                    if name.starts_with(&format!("{prefix}_"))
                        || name.starts_with(&format!("KV_{prefix}_"))
                    {
                        ours.push(name);
                    }
                }
                for name in ours {
                    let _ = js.delete_stream(&name).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
