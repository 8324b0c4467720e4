//! The engine's promises, checked on every corpus transcript's envelope
//! stream (as the ingestor would publish it, via the replayer):
//! * a snapshot taken at any point plus the deltas after it equals the views
//!   at the end (what a browser does);
//! * saving the engine mid-stream, loading it and going on gives exactly
//!   the deltas, records and views of never having stopped, and replaying
//!   envelopes already in the snapshot changes nothing (a restart that
//!   replays from the snapshot's stream position re-applies nothing).

use std::collections::BTreeMap;

use ringside_proto::events::v1::Envelope;
use ringside_state::deltas::{self, Delta, Entry, View};
use ringside_state::records::CallRecord;
use ringside_state::replay::Replayer;
use ringside_state::{Applied, Engine};
use ringside_testkit::corpus;

const TENANT: &str = "lab";

/// Every transcript as one connection's envelopes, and all transcripts as
/// successive connections of one PBX (reconnects and resyncs included).
fn streams() -> Vec<(String, Vec<Envelope>)> {
    let transcripts = corpus::transcripts();
    let mut out = Vec::new();
    let mut all = Replayer::new(TENANT, "pbx").keeping_envelopes();
    for (i, (name, bytes)) in transcripts.iter().enumerate() {
        let mut one = Replayer::new(TENANT, "pbx").keeping_envelopes();
        one.transcript(bytes);
        out.push((name.clone(), one.envelopes().to_vec()));
        if i > 0 {
            all.disconnected("next transcript");
        }
        all.transcript(bytes);
    }
    out.push(("all-as-reconnects".into(), all.envelopes().to_vec()));
    out
}

fn view_entries(engine: &Engine) -> BTreeMap<(String, View, String), Entry> {
    let (_, snapshot) = engine.snapshot(TENANT, None);
    let mut by_pbx: BTreeMap<String, ringside_state::Snapshot> = BTreeMap::new();
    // entries_of wants one PBX's snapshot; the corpus streams have one PBX.
    by_pbx.insert("pbx".into(), snapshot);
    by_pbx
        .into_iter()
        .flat_map(|(pbx, s)| {
            View::ALL
                .into_iter()
                .zip(deltas::entries_of(s))
                .flat_map(move |(view, entries)| {
                    let pbx = pbx.clone();
                    entries
                        .into_iter()
                        .map(move |(key, entry)| ((pbx.clone(), view, key), entry))
                })
        })
        .collect()
}

fn run(engine: &mut Engine, envs: &[Envelope]) -> (Vec<Delta>, Vec<CallRecord>) {
    let mut all_deltas = Vec::new();
    let mut records = Vec::new();
    for env in envs {
        let out = engine.apply(env);
        all_deltas.extend(out.deltas);
        records.extend(out.records);
    }
    (all_deltas, records)
}

#[test]
fn a_snapshot_plus_the_deltas_after_it_is_the_views() {
    for (name, envs) in streams() {
        let mut engine = Engine::new();
        let cut = envs.len() / 3;
        run(&mut engine, &envs[..cut]);
        let (seq, _) = engine.snapshot(TENANT, None);
        let mut client = view_entries(&engine);
        let (later, _) = run(&mut engine, &envs[cut..]);

        let mut expected_seq = seq;
        for delta in &later {
            expected_seq += 1;
            assert_eq!(
                delta.seq, expected_seq,
                "{name}: a hole or a repeat in the sequence"
            );
            assert_eq!(&*delta.tenant, TENANT);
            deltas::apply_to(&mut client, delta);
        }
        assert_eq!(engine.seq(TENANT), expected_seq, "{name}");
        assert_eq!(
            client,
            view_entries(&engine),
            "{name}: snapshot + deltas differ"
        );
    }
}

#[test]
fn a_restart_from_a_saved_engine_equals_never_stopping() {
    for (name, envs) in streams() {
        if envs.len() < 3 {
            continue;
        }
        for cut in [envs.len() / 3, envs.len() - 1] {
            let mut straight = Engine::new();
            run(&mut straight, &envs[..cut]);
            let saved = straight.save();
            let (after, records) = run(&mut straight, &envs[cut..]);

            let mut restarted = Engine::load(&saved).expect("a saved engine loads");
            // The restart replays from a stream position a little before the
            // snapshot's (it is taken every N events): nothing re-applies.
            for env in &envs[cut.saturating_sub(50)..cut] {
                let out = restarted.apply(env);
                assert_ne!(out.applied, Applied::Applied, "{name}@{cut}: applied twice");
                assert!(out.deltas.is_empty() && out.records.is_empty());
            }
            let (after2, records2) = run(&mut restarted, &envs[cut..]);
            assert_eq!(after, after2, "{name}@{cut}: deltas differ after a restart");
            assert_eq!(
                records, records2,
                "{name}@{cut}: records differ after a restart"
            );
            assert_eq!(
                straight.snapshot(TENANT, None),
                restarted.snapshot(TENANT, None),
                "{name}@{cut}"
            );
        }
    }
}

#[test]
fn deltas_name_their_view_and_key_and_removals_carry_no_value() {
    let (_, envs) = streams().pop().unwrap();
    let mut engine = Engine::new();
    let (deltas, _) = run(&mut engine, &envs);
    assert!(deltas.len() > 1000, "{}", deltas.len());
    for view in View::ALL {
        assert!(
            deltas.iter().any(|d| d.view == view),
            "no delta of {view:?}"
        );
    }
    for d in &deltas {
        match d.op {
            deltas::Op::Upsert => {
                let entry = d.value.as_ref().expect("an upsert carries its entry");
                assert_eq!(deltas::key_of(entry), d.key);
            }
            deltas::Op::Remove => assert!(d.value.is_none()),
        }
    }
    // The JSON of the contract (docs/live-views.md).
    let json: serde_json::Value = serde_json::to_value(&deltas[0]).unwrap();
    for field in ["tenant", "seq", "pbx", "view", "op", "key"] {
        assert!(json.get(field).is_some(), "{field} missing in {json}");
    }
}

#[test]
fn an_unreadable_snapshot_is_an_error() {
    assert!(Engine::load(b"{not json").is_err());
    assert!(Engine::load(b"[]").is_err());
}

#[test]
fn events_derive_only_what_they_touch_and_agree_with_whole_views() {
    for (name, envs) in streams() {
        let mut keyed = Engine::new();
        let mut whole = Engine::new().deriving_whole_views();
        for (i, env) in envs.iter().enumerate() {
            let a = keyed.apply(env);
            let b = whole.apply(env);
            assert_eq!(a.deltas, b.deltas, "{name}: envelope {i} ({:?})", env.kind);
            assert_eq!(a.records, b.records, "{name}: envelope {i}");
        }
    }
}
