//! The listening side: accept loop, TLS, the driver that moves the model
//! along tokio time, and the [`Simulator`] handle.
//!
//! The model and the session registry share one lock, so an action's answer
//! and the events it causes reach every session in model order. The lock is
//! never held across an await: a step of the model is synchronous, and
//! sessions hand bytes to their writers without waiting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actions::Pbx;
use crate::actions::config_dir::ConfigDir;
use crate::actions::config_files::ConfigStore;
use crate::config::{ServerTls, SimConfig};
use crate::engine::snapshot::PbxState;
use crate::engine::{Engine, Outgoing};
use crate::error::SimError;
use crate::hub::Hub;
use crate::replay::Transcript;

/// What the lock protects: the PBX (absent in replay mode) and the sessions
/// that receive its events.
pub(crate) struct State {
    pub(crate) pbx: Option<Pbx>,
    pub(crate) hub: Hub,
}

impl State {
    /// Brings the model to virtual time `now` and delivers what it emitted.
    pub(crate) fn sync(&mut self, now: Duration, frozen: bool) {
        if let Some(p) = self.pbx.as_mut() {
            p.engine.advance(now);
        }
        self.flush(frozen);
    }

    /// Delivers the model's pending events (dropped while frozen: a hung
    /// Asterisk writes nothing).
    pub(crate) fn flush(&mut self, frozen: bool) {
        let Some(p) = self.pbx.as_mut() else { return };
        for out in p.engine.take_outgoing() {
            if frozen {
                continue;
            }
            match out {
                Outgoing::Event(m) => self.hub.publish(&m),
                Outgoing::Reply { session, msg } => self.hub.send_to(session, &msg),
            }
        }
    }
}

/// Everything the tasks of one simulator share.
pub(crate) struct Inner {
    state: Mutex<State>,
    pub(crate) frozen: AtomicBool,
    /// Wakes the driver when an action scheduled new model steps.
    pub(crate) wake: Notify,
    pub(crate) shutdown: CancellationToken,
    /// Bumped by `disconnect_all`; every session watches it.
    pub(crate) kick: watch::Sender<u64>,
    pub(crate) username: String,
    pub(crate) secret: String,
    started: tokio::time::Instant,
    next_session: AtomicU64,
    pub(crate) replay: Option<(Arc<Transcript>, crate::config::ReplayConfig)>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug in a model step; keep
        // serving the other sessions with whatever state it left.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Virtual time of the model: tokio time since start (pausable in tests).
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Relaxed)
    }

    /// Locks, brings the model up to date, and returns the guard.
    pub(crate) fn synced(&self) -> MutexGuard<'_, State> {
        let mut st = self.lock();
        st.sync(self.elapsed(), self.is_frozen());
        st
    }
}

/// A running simulated PBX (or replayer). Dropping it does not stop it; call
/// [`Simulator::shutdown`].
pub struct Simulator {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// The address actually bound (the real port when configured with 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Freezes or thaws the server. While frozen nothing at all is written to
    /// any client (no responses, no events, no answer to `Ping`) and actions
    /// are ignored, but connections stay open: a hung Asterisk, for testing
    /// dead-connection detection. The model keeps running.
    pub fn set_frozen(&self, frozen: bool) {
        self.inner.frozen.store(frozen, Ordering::Relaxed);
    }

    /// Closes every client connection, as if Asterisk restarted. New
    /// connections are accepted as before.
    pub fn disconnect_all(&self) {
        self.inner.kick.send_modify(|g| *g += 1);
        self.inner.lock().hub.disconnect_all();
    }

    /// A copy of the model now (empty in replay mode).
    pub fn state(&self) -> PbxState {
        let st = self.inner.synced();
        match st.pbx.as_ref() {
            Some(p) => p.engine.snapshot(),
            None => PbxState::default(),
        }
    }

    /// Serves `dir` as the PBX's configuration directory (`/etc/asterisk`),
    /// as a real Asterisk on the same host would: PJSIP and dialplan reloads
    /// re-read its `pjsip*.conf` / `extensions*.conf`, `PJSIPShowEndpoints`
    /// also lists the endpoints loaded from it, and `GetConfig` /
    /// `UpdateConfig` read and write its files. Its endpoints are loaded at
    /// once, as at an Asterisk start. Off unless called.
    ///
    /// # Errors
    /// [`SimError::Config`] when `dir` is not a readable directory, or in
    /// replay mode (there is no PBX to configure).
    pub fn use_config_dir(&self, dir: impl Into<PathBuf>) -> Result<(), SimError> {
        let dir = ConfigDir::open(dir.into()).map_err(SimError::Config)?;
        let mut st = self.inner.lock();
        let pbx = st.pbx.as_mut().ok_or_else(|| {
            SimError::Config("a replaying simulator has no configuration directory".to_owned())
        })?;
        pbx.dir = Some(dir);
        Ok(())
    }

    /// The configuration directory in use, if any.
    pub fn config_dir(&self) -> Option<PathBuf> {
        let st = self.inner.lock();
        st.pbx
            .as_ref()
            .and_then(|p| p.dir.as_ref())
            .map(|d| d.path().to_owned())
    }

    /// Makes the next `n` module reloads fail (whatever asks for them:
    /// `Command`, `Reload`, `UpdateConfig` with `Reload`), as an Asterisk
    /// refusing a configuration would; the loaded configuration stays as it
    /// was. A file of the configuration directory with a line `#fail` makes
    /// every reload of its module fail the same way.
    pub fn fail_next_reloads(&self, n: usize) {
        if let Some(p) = self.inner.lock().pbx.as_mut() {
            p.failing_reloads = n;
        }
    }

    /// Every module reload asked for so far (`res_pjsip.so`,
    /// `pbx_config.so`), failed ones included, oldest first.
    pub fn reloads(&self) -> Vec<String> {
        let st = self.inner.lock();
        st.pbx
            .as_ref()
            .map(|p| p.reload_log.clone())
            .unwrap_or_default()
    }

    /// Sessions logged in and receiving events.
    pub fn logged_in(&self) -> usize {
        self.inner.lock().hub.len()
    }

    /// Stops accepting, closes every connection, stops the model, and waits
    /// for all of it.
    pub async fn shutdown(self) {
        self.inner.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Loads a PEM certificate chain and key into a TLS acceptor.
fn tls_acceptor(tls: &ServerTls) -> Result<TlsAcceptor, SimError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let err = |path: &std::path::Path, e: Box<dyn std::error::Error + Send + Sync>| SimError::Tls {
        path: path.to_owned(),
        source: e,
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert_chain)
        .map_err(|e| err(&tls.cert_chain, Box::new(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(&tls.cert_chain, Box::new(e)))?;
    let key = PrivateKeyDer::from_pem_file(&tls.private_key)
        .map_err(|e| err(&tls.private_key, Box::new(e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&tls.cert_chain, Box::new(e)))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err(&tls.cert_chain, Box::new(e)))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds and spawns one simulator.
pub(crate) async fn start(config: SimConfig) -> Result<Simulator, SimError> {
    if !config.calls_per_second.is_finite() || config.calls_per_second < 0.0 {
        return Err(SimError::Config(format!(
            "calls_per_second must be a finite number >= 0, got {}",
            config.calls_per_second
        )));
    }
    if config.endpoints > 8999 {
        return Err(SimError::Config(format!(
            "at most 8999 endpoints (1001..9999), got {}",
            config.endpoints
        )));
    }
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let replay = match &config.replay {
        Some(r) => Some((Arc::new(crate::replay::load(r)?), r.clone())),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let pbx = if replay.is_none() {
        let engine = Engine::new(&config);
        let configs = ConfigStore::for_engine(&engine, &config.username);
        Some(Pbx::new(engine, configs))
    } else {
        None
    };
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            pbx,
            hub: Hub::default(),
        }),
        frozen: AtomicBool::new(false),
        wake: Notify::new(),
        shutdown: CancellationToken::new(),
        kick: watch::channel(0).0,
        username: config.username.clone(),
        secret: config.secret.clone(),
        started: tokio::time::Instant::now(),
        next_session: AtomicU64::new(1),
        replay,
    });
    let tracker = TaskTracker::new();
    if inner.replay.is_none() {
        tracker.spawn(drive(inner.clone()));
    }
    tracker.spawn(accept(listener, tls, inner.clone(), tracker.clone()));
    tracing::info!(addr = %local_addr, replay = config.replay.is_some(), "pbx simulator listening");
    Ok(Simulator {
        inner,
        local_addr,
        tracker,
    })
}

/// Runs model steps as tokio time reaches them.
async fn drive(inner: Arc<Inner>) {
    loop {
        let next = {
            let mut st = inner.lock();
            st.sync(inner.elapsed(), inner.is_frozen());
            st.pbx.as_ref().and_then(|p| p.engine.next_wakeup())
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(inner.started + at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = inner.wake.notified() => {}
            _ = inner.shutdown.cancelled() => break,
        }
    }
}

async fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    inner: Arc<Inner>,
    tracker: TaskTracker,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = inner.shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an AMI connection failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let id = inner.next_session.fetch_add(1, Ordering::Relaxed);
        let inner = inner.clone();
        let tls = tls.clone();
        tracker.spawn(async move {
            match tls {
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        _ = inner.shutdown.cancelled() => return,
                        r = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)) => r,
                    };
                    match handshake {
                        Ok(Ok(s)) => crate::session::run(s, local, peer, inner, id).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => crate::session::run(stream, local, peer, inner, id).await,
            }
        });
    }
}
