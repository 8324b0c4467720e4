//! Property tests of the engine on random interleavings of a small
//! synthetic call model (a few channels, calls, devices, bridges, contacts,
//! and resyncs with lists that fail), where the indexes of the live view
//! (call → legs, device → channel count, bridge → channels, endpoint →
//! contacts) are moved about most: channels change linkedid, name and
//! bridge, are hung up and listed again by a resync.
//!
//! For every generated stream:
//! * the keyed derivation of channel events gives exactly the deltas and
//!   call records of re-deriving whole views, event by event;
//! * a snapshot at any point plus the deltas after it is the views at the
//!   end;
//! * saving and loading the engine at that point (indexes rebuilt from the
//!   snapshot) goes on exactly as never stopping.

use std::collections::BTreeMap;

use proptest::prelude::*;
use ringside_proto::events::v1::envelope::Kind;
use ringside_proto::events::v1::{
    BridgeCreated, BridgeDestroyed, BridgeEntered, BridgeLeft, BridgeSnapshot, CallerId,
    ChannelCreated, ChannelHeld, ChannelHungUp, ChannelSnapshot, ChannelStateChanged, Connected,
    ContactStatus, ContactStatusChanged, DeviceState, DeviceStateChanged, DialBegan,
    EndpointListed, Envelope, PeerStatus, PeerStatusChanged, SyncCompleted, SyncListResult,
    SyncOutcome, SyncStarted,
};
use ringside_state::Engine;
use ringside_state::deltas::{self, Entry, View};

const TENANT: &str = "t";
const UIDS: usize = 6;
const LINKEDIDS: usize = 3;
const DEVICES: [&str; 4] = ["PJSIP/100", "PJSIP/101", "PJSIP/gw", "IAX2/branch"];
const BRIDGES: usize = 2;

/// One step of the model.
#[derive(Debug, Clone)]
enum Op {
    Create {
        uid: usize,
        linkedid: usize,
        device: usize,
        up: bool,
    },
    /// A state change that may also carry another linkedid or name
    /// (a masquerade, a rename).
    Change {
        uid: usize,
        up: bool,
        linkedid: Option<usize>,
        device: Option<usize>,
    },
    HangUp {
        uid: usize,
    },
    Hold {
        uid: usize,
        on: bool,
    },
    Dial {
        caller: usize,
        callee: usize,
    },
    Enter {
        uid: usize,
        bridge: usize,
    },
    Leave {
        uid: usize,
        bridge: usize,
    },
    CreateBridge {
        bridge: usize,
    },
    Destroy {
        bridge: usize,
    },
    /// A device state change (`Queue:…` for the last device index: no view
    /// shows it).
    DeviceState {
        device: usize,
        in_use: bool,
    },
    PeerStatus {
        device: usize,
        reachable: bool,
    },
    Endpoint {
        device: usize,
        trunk: bool,
        aor: usize,
    },
    Contact {
        aor: usize,
        uri: usize,
        endpoint: Option<usize>,
        reachable: Option<bool>,
    },
    /// A resync opens and lists these channels; live events may follow
    /// before it completes.
    SyncStart {
        listed: Vec<(usize, usize, usize)>,
    },
    /// The open resync (if any) completes, its channel list failed or not.
    SyncEnd {
        channels_failed: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let uid = 0..UIDS;
    prop_oneof![
        4 => (0..UIDS, 0..LINKEDIDS, 0..DEVICES.len(), any::<bool>())
            .prop_map(|(uid, linkedid, device, up)| Op::Create { uid, linkedid, device, up }),
        3 => (0..UIDS, any::<bool>(), proptest::option::weighted(0.3, 0..LINKEDIDS),
              proptest::option::weighted(0.2, 0..DEVICES.len()))
            .prop_map(|(uid, up, linkedid, device)| Op::Change { uid, up, linkedid, device }),
        2 => uid.clone().prop_map(|uid| Op::HangUp { uid }),
        1 => (0..UIDS, any::<bool>()).prop_map(|(uid, on)| Op::Hold { uid, on }),
        1 => (0..UIDS, 0..UIDS).prop_map(|(caller, callee)| Op::Dial { caller, callee }),
        2 => (0..UIDS, 0..BRIDGES).prop_map(|(uid, bridge)| Op::Enter { uid, bridge }),
        1 => (0..UIDS, 0..BRIDGES).prop_map(|(uid, bridge)| Op::Leave { uid, bridge }),
        1 => (0..BRIDGES).prop_map(|bridge| Op::CreateBridge { bridge }),
        1 => (0..BRIDGES).prop_map(|bridge| Op::Destroy { bridge }),
        1 => (0..DEVICES.len() + 1, any::<bool>())
            .prop_map(|(device, in_use)| Op::DeviceState { device, in_use }),
        1 => (0..DEVICES.len(), any::<bool>())
            .prop_map(|(device, reachable)| Op::PeerStatus { device, reachable }),
        1 => (0..3usize, any::<bool>(), 0..3usize)
            .prop_map(|(device, trunk, aor)| Op::Endpoint { device, trunk, aor }),
        2 => (0..3usize, 0..2usize, proptest::option::of(0..3usize), proptest::option::of(any::<bool>()))
            .prop_map(|(aor, uri, endpoint, reachable)| Op::Contact { aor, uri, endpoint, reachable }),
        1 => proptest::collection::vec((0..UIDS, 0..LINKEDIDS, 0..DEVICES.len()), 0..4)
            .prop_map(|listed| Op::SyncStart { listed }),
        1 => any::<bool>().prop_map(|channels_failed| Op::SyncEnd { channels_failed }),
    ]
}

/// Turns ops into the envelopes the ingestor would publish.
struct Model {
    sequence: u64,
    syncs: u64,
    out: Vec<Envelope>,
}

impl Model {
    fn push(&mut self, kind: Kind, sync: bool) {
        self.sequence += 1;
        self.out.push(Envelope {
            tenant: TENANT.into(),
            pbx: "p".into(),
            epoch: 1,
            sequence: self.sequence,
            received_at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000 + self.sequence as i64,
                nanos: 0,
            }),
            sync,
            sync_id: if sync || matches!(kind, Kind::SyncStarted(_) | Kind::SyncCompleted(_)) {
                format!("s{}", self.syncs)
            } else {
                String::new()
            },
            kind: Some(kind),
            ..Default::default()
        });
    }

    fn snap(
        uid: usize,
        linkedid: Option<usize>,
        device: Option<usize>,
        up: Option<bool>,
    ) -> ChannelSnapshot {
        ChannelSnapshot {
            name: device
                .map(|d| format!("{}-{uid:08x}", DEVICES[d]))
                .unwrap_or_default(),
            uniqueid: format!("u{uid}"),
            linkedid: linkedid.map(|l| format!("u{l}")).unwrap_or_default(),
            state_desc: match up {
                Some(true) => "Up".into(),
                Some(false) => "Ringing".into(),
                None => String::new(),
            },
            caller: Some(CallerId {
                num: format!("{}", 100 + uid),
                name: String::new(),
            }),
            exten: "200".into(),
            ..Default::default()
        }
    }

    fn bridge(b: usize) -> Option<BridgeSnapshot> {
        Some(BridgeSnapshot {
            uniqueid: format!("b{b}"),
            r#type: "basic".into(),
            ..Default::default()
        })
    }

    fn apply(&mut self, op: &Op) {
        match op.clone() {
            Op::Create {
                uid,
                linkedid,
                device,
                up,
            } => self.push(
                Kind::ChannelCreated(ChannelCreated {
                    channel: Some(Self::snap(uid, Some(linkedid), Some(device), Some(up))),
                    ..Default::default()
                }),
                false,
            ),
            Op::Change {
                uid,
                up,
                linkedid,
                device,
            } => self.push(
                Kind::ChannelStateChanged(ChannelStateChanged {
                    channel: Some(Self::snap(uid, linkedid, device, Some(up))),
                }),
                false,
            ),
            Op::HangUp { uid } => self.push(
                Kind::ChannelHungUp(ChannelHungUp {
                    channel: Some(Self::snap(uid, None, None, None)),
                    cause_code: Some(16),
                    ..Default::default()
                }),
                false,
            ),
            Op::Hold { uid, on } => {
                let channel = Some(Self::snap(uid, None, None, None));
                let kind = if on {
                    Kind::ChannelHeld(ChannelHeld {
                        channel,
                        ..Default::default()
                    })
                } else {
                    Kind::ChannelUnheld(ringside_proto::events::v1::ChannelUnheld { channel })
                };
                self.push(kind, false);
            }
            Op::Dial { caller, callee } => self.push(
                Kind::DialBegan(DialBegan {
                    caller: Some(Self::snap(caller, None, None, None)),
                    destination: Some(Self::snap(callee, None, None, Some(false))),
                    ..Default::default()
                }),
                false,
            ),
            Op::Enter { uid, bridge } => self.push(
                Kind::BridgeEntered(BridgeEntered {
                    bridge: Self::bridge(bridge),
                    channel: Some(Self::snap(uid, None, None, None)),
                    ..Default::default()
                }),
                false,
            ),
            Op::Leave { uid, bridge } => self.push(
                Kind::BridgeLeft(BridgeLeft {
                    bridge: Self::bridge(bridge),
                    channel: Some(Self::snap(uid, None, None, None)),
                }),
                false,
            ),
            Op::CreateBridge { bridge } => self.push(
                Kind::BridgeCreated(BridgeCreated {
                    bridge: Self::bridge(bridge),
                }),
                false,
            ),
            Op::DeviceState { device, in_use } => self.push(
                Kind::DeviceStateChanged(DeviceStateChanged {
                    device: DEVICES
                        .get(device)
                        .unwrap_or(&"Queue:support_avail")
                        .to_string(),
                    state: if in_use {
                        DeviceState::Inuse
                    } else {
                        DeviceState::NotInuse
                    } as i32,
                    state_raw: if in_use { "INUSE" } else { "NOT_INUSE" }.into(),
                }),
                false,
            ),
            Op::PeerStatus { device, reachable } => self.push(
                Kind::PeerStatusChanged(PeerStatusChanged {
                    channel_type: "PJSIP".into(),
                    peer: DEVICES[device].into(),
                    status: if reachable {
                        PeerStatus::Reachable
                    } else {
                        PeerStatus::Unreachable
                    } as i32,
                    ..Default::default()
                }),
                false,
            ),
            Op::Destroy { bridge } => self.push(
                Kind::BridgeDestroyed(BridgeDestroyed {
                    bridge: Self::bridge(bridge),
                }),
                false,
            ),
            Op::Endpoint { device, trunk, aor } => {
                let name = DEVICES[device].trim_start_matches("PJSIP/").to_owned();
                self.push(
                    Kind::EndpointListed(EndpointListed {
                        name,
                        aor: format!("a{aor}"),
                        outbound_auths: if trunk {
                            vec!["auth".into()]
                        } else {
                            Vec::new()
                        },
                        ..Default::default()
                    }),
                    false,
                );
            }
            Op::Contact {
                aor,
                uri,
                endpoint,
                reachable,
            } => {
                let status = match reachable {
                    Some(true) => ContactStatus::Reachable,
                    Some(false) => ContactStatus::Unreachable,
                    None => ContactStatus::Removed,
                };
                self.push(
                    Kind::ContactStatusChanged(ContactStatusChanged {
                        aor: format!("a{aor}"),
                        uri: format!("sip:x{uri}@h"),
                        endpoint_name: endpoint
                            .map(|d| DEVICES[d].trim_start_matches("PJSIP/").to_owned())
                            .unwrap_or_default(),
                        status: status as i32,
                        ..Default::default()
                    }),
                    false,
                );
            }
            Op::SyncStart { listed } => {
                self.syncs += 1;
                self.push(Kind::SyncStarted(SyncStarted::default()), false);
                for (uid, linkedid, device) in listed {
                    self.push(
                        Kind::ChannelCreated(ChannelCreated {
                            channel: Some(Self::snap(
                                uid,
                                Some(linkedid),
                                Some(device),
                                Some(true),
                            )),
                            ..Default::default()
                        }),
                        true,
                    );
                }
            }
            Op::SyncEnd { channels_failed } => {
                let outcome = if channels_failed {
                    SyncOutcome::PermissionDenied
                } else {
                    SyncOutcome::Ok
                };
                self.push(
                    Kind::SyncCompleted(SyncCompleted {
                        lists: vec![SyncListResult {
                            action: "CoreShowChannels".into(),
                            outcome: outcome as i32,
                            ..Default::default()
                        }],
                    }),
                    false,
                );
            }
        }
    }
}

fn envelopes(ops: &[Op]) -> Vec<Envelope> {
    let mut m = Model {
        sequence: 0,
        syncs: 0,
        out: Vec::new(),
    };
    // A stream starts with the connection (the PBX's entry appears).
    m.push(Kind::Connected(Connected::default()), false);
    for op in ops {
        m.apply(op);
    }
    m.out
}

fn view_entries(engine: &Engine) -> BTreeMap<(View, String), Entry> {
    let (_, snapshot) = engine.snapshot(TENANT, None);
    View::ALL
        .into_iter()
        .zip(deltas::entries_of(snapshot))
        .flat_map(|(view, entries)| entries.into_iter().map(move |(k, e)| ((view, k), e)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn keyed_deltas_equal_whole_view_deltas(ops in proptest::collection::vec(op(), 1..80)) {
        let envs = envelopes(&ops);
        let mut keyed = Engine::new();
        let mut whole = Engine::new().deriving_whole_views();
        for (i, env) in envs.iter().enumerate() {
            let a = keyed.apply(env);
            let b = whole.apply(env);
            prop_assert_eq!(&a.deltas, &b.deltas, "envelope {}: {:?}", i, env.kind);
            prop_assert_eq!(&a.records, &b.records, "envelope {}", i);
        }
        prop_assert_eq!(keyed.snapshot(TENANT, None), whole.snapshot(TENANT, None));
    }

    #[test]
    fn a_snapshot_plus_later_deltas_is_the_views_and_a_restart_changes_nothing(
        ops in proptest::collection::vec(op(), 1..80),
        cut in any::<proptest::sample::Index>(),
    ) {
        let envs = envelopes(&ops);
        let cut = cut.index(envs.len() + 1);
        let mut engine = Engine::new();
        for env in &envs[..cut] {
            engine.apply(env);
        }
        let seq = engine.seq(TENANT);
        let mut client = view_entries(&engine);
        let mut restarted = Engine::load(&engine.save()).expect("a saved engine loads");
        let mut expected = seq;
        for env in &envs[cut..] {
            let out = engine.apply(env);
            let again = restarted.apply(env);
            prop_assert_eq!(&out.deltas, &again.deltas);
            prop_assert_eq!(&out.records, &again.records);
            for d in &out.deltas {
                expected += 1;
                prop_assert_eq!(d.seq, expected);
                let key = (d.view, d.key.clone());
                match &d.value {
                    Some(v) => { client.insert(key, Entry::clone(v)); }
                    None => { client.remove(&key); }
                }
            }
        }
        prop_assert_eq!(&client, &view_entries(&engine));
        prop_assert_eq!(engine.snapshot(TENANT, None), restarted.snapshot(TENANT, None));
    }
}
