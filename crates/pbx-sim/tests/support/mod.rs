//! Shared helpers: the corpus, a simulator on port 0, and a raw AMI client
//! over `Framed<TcpStream, AmiCodec>`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ringside_ami::codec::decode_all;
use ringside_ami::{Action, AmiCodec, Message, MessageKind};
use ringside_pbx_sim::{SimConfig, Simulator};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub const USER: &str = "lab";
pub const SECRET: &str = "labsecret";

/// The corpus lives in the shared test kit.
#[allow(unused_imports)] // not every test binary uses both
pub use ringside_testkit::corpus::{dir as corpus_dir, transcripts as corpus_transcripts};

/// Decodes a transcript into its messages (banner included).
pub fn decode(bytes: &[u8]) -> Vec<Message> {
    let (items, err) = decode_all(bytes);
    assert!(err.is_none(), "{err:?}");
    items.into_iter().map(Result::unwrap).collect()
}

/// Event name → every header key seen with it, over all transcripts.
pub type Shapes = BTreeMap<String, BTreeSet<String>>;

pub fn add_shape(shapes: &mut Shapes, m: &Message) {
    if matches!(
        m.kind(),
        MessageKind::Event | MessageKind::ListItem | MessageKind::ListComplete
    ) {
        let keys = shapes.entry(m.name().to_owned()).or_default();
        for h in m.headers() {
            keys.insert(h.key.to_owned());
        }
    }
}

/// Event name → the distinct header-key sequences seen with it.
pub type Orders = BTreeMap<String, BTreeSet<Vec<String>>>;

pub fn add_order(orders: &mut Orders, m: &Message) {
    if matches!(
        m.kind(),
        MessageKind::Event | MessageKind::ListItem | MessageKind::ListComplete
    ) {
        let keys = m.headers().map(|h| h.key.to_owned()).collect();
        orders.entry(m.name().to_owned()).or_default().insert(keys);
    }
}

/// Whether `keys` appear in `order` in the same relative order (optional
/// keys such as `Cause` or `TechCause` may be absent).
pub fn is_subsequence(keys: &[String], order: &[String]) -> bool {
    let mut it = order.iter();
    keys.iter().all(|k| it.any(|o| o == k))
}

pub fn corpus_orders() -> Orders {
    let mut orders = Orders::new();
    for (_, bytes) in corpus_transcripts() {
        for m in decode(&bytes) {
            add_order(&mut orders, &m);
        }
    }
    orders
}

pub fn corpus_shapes() -> Shapes {
    let mut shapes = Shapes::new();
    for (_, bytes) in corpus_transcripts() {
        for m in decode(&bytes) {
            add_shape(&mut shapes, &m);
        }
    }
    shapes
}

/// A quiet PBX on 127.0.0.1:0: no generated calls unless asked.
pub fn config() -> SimConfig {
    SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        username: USER.into(),
        secret: SECRET.into(),
        endpoints: 20,
        trunks: 2,
        calls_per_second: 0.0,
        seed: 7,
        system_name: Some("lab-pbx".into()),
        start_time: Some(1_795_394_246),
        tls: None,
        replay: None,
    }
}

pub async fn spawn(config: SimConfig) -> Simulator {
    ringside_pbx_sim::start(config)
        .await
        .expect("simulator starts")
}

/// A raw AMI client.
pub struct Client {
    pub framed: Framed<TcpStream, AmiCodec>,
    /// When set, messages the helpers skip over are kept in `skipped`.
    pub record: bool,
    pub skipped: Vec<Message>,
}

impl Client {
    /// Connects and reads the banner.
    pub async fn connect(sim: &Simulator) -> Client {
        let tcp = TcpStream::connect(sim.local_addr()).await.unwrap();
        let mut c = Client {
            framed: Framed::new(tcp, AmiCodec::new()),
            record: false,
            skipped: Vec::new(),
        };
        let banner = c.next().await.expect("banner");
        assert_eq!(banner.kind(), MessageKind::Banner);
        assert_eq!(banner.name(), "Asterisk Call Manager/11.0.0");
        c
    }

    /// Connects and logs in with the plain secret.
    pub async fn logged_in(sim: &Simulator) -> Client {
        let mut c = Client::connect(sim).await;
        let r = c
            .request(
                Action::login_plain(USER, SECRET)
                    .unwrap()
                    .with_action_id("login")
                    .unwrap(),
            )
            .await;
        assert_eq!(r.get("Message"), Some("Authentication accepted"), "{r:?}");
        c
    }

    pub async fn send(&mut self, action: &Action) {
        self.framed.send(action).await.unwrap();
    }

    /// Writes bytes as they are (an action without ActionID, say).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.framed.get_mut().write_all(bytes).await.unwrap();
    }

    /// The next message, or `None` at EOF. Panics after 60 s (virtual time
    /// in paused tests) with nothing.
    pub async fn next(&mut self) -> Option<Message> {
        match tokio::time::timeout(Duration::from_secs(60), self.framed.next()).await {
            Ok(Some(Ok(Ok(m)))) => Some(m),
            Ok(Some(Ok(Err(e)))) => panic!("undecodable message: {e}"),
            Ok(Some(Err(_))) | Ok(None) => None,
            Err(_) => panic!("no message within 60 s"),
        }
    }

    /// Sends an action and returns its response, skipping events.
    pub async fn request(&mut self, action: Action) -> Message {
        let id = action.action_id().to_owned();
        self.send(&action).await;
        self.response(&id).await
    }

    /// The next response (or command output) carrying this ActionID.
    pub async fn response(&mut self, id: &str) -> Message {
        loop {
            let m = self
                .next()
                .await
                .expect("connection closed before the response");
            if matches!(m.kind(), MessageKind::Response | MessageKind::CommandOutput)
                && m.action_id() == Some(id)
            {
                return m;
            }
            self.skip(m);
        }
    }

    fn skip(&mut self, m: Message) {
        if self.record {
            self.skipped.push(m);
        }
    }

    /// Sends a list action; returns (response, items, complete event).
    pub async fn list(&mut self, action: Action) -> (Message, Vec<Message>, Option<Message>) {
        let id = action.action_id().to_owned();
        let response = self.request(action).await;
        if !response.is_success() {
            return (response, Vec::new(), None);
        }
        assert_eq!(response.get("EventList"), Some("start"), "{response:?}");
        let mut items = Vec::new();
        loop {
            let m = self.next().await.expect("connection closed inside a list");
            if m.get("EventList") == Some("Complete") && m.action_id() == Some(id.as_str()) {
                return (response, items, Some(m));
            }
            // Items carry the ActionID and no Privilege; `IAXpeers` items
            // carry neither (actions.ami), unlike every live event.
            let item = match m.kind() {
                MessageKind::Event => m.get("Privilege").is_none(),
                _ => m.action_id() == Some(id.as_str()),
            };
            if item {
                items.push(m);
            } else {
                self.skip(m);
            }
        }
    }

    /// The next event with this name.
    pub async fn event(&mut self, name: &str) -> Message {
        loop {
            let m = self.next().await.expect("connection closed");
            if m.kind() == MessageKind::Event && m.name() == name {
                return m;
            }
            self.skip(m);
        }
    }
}

pub fn action(name: &str, id: &str, headers: &[(&str, &str)]) -> Action {
    let mut a = Action::new(name).unwrap().with_action_id(id).unwrap();
    for (k, v) in headers {
        a.push(k, v).unwrap();
    }
    a
}
