//! The real `ringside` binary, run as an operator runs it, on the real-Asterisk
//! corpus (`$RINGSIDE_AMI_CORPUS`, or `shared/ami-corpus` beside the checkout).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn ringside() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringside"));
    cmd.env_remove("RUST_LOG");
    cmd
}

fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RINGSIDE_AMI_CORPUS") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ami-corpus");
    assert!(
        dir.is_dir(),
        "AMI corpus not found at {} (set RINGSIDE_AMI_CORPUS)",
        dir.display()
    );
    dir
}

/// Every `.ami` transcript in the corpus, sorted.
fn transcripts() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ami"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 9,
        "expected the whole corpus, found {}",
        files.len()
    );
    files
}

fn decode(file: &Path, extra: &[&str]) -> Output {
    ringside()
        .args(["ami", "decode"])
        .args(extra)
        .arg(file)
        .output()
        .unwrap()
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn has_header(line: &Value, key: &str) -> bool {
    line["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == key)
}

#[test]
fn every_corpus_transcript_decodes_to_one_json_line_per_message() {
    const KINDS: [&str; 6] = [
        "banner",
        "event",
        "response",
        "list_item",
        "list_complete",
        "command_output",
    ];
    for file in transcripts() {
        let out = decode(&file, &[]);
        let name = file.display();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{name}: {}", stderr(&out));

        let lines = stdout_lines(&out);
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            lines.len(),
            ringside_testkit::corpus::count_messages(&bytes),
            "{name}"
        );
        assert_eq!(lines[0]["kind"], "banner", "{name}");
        assert_eq!(lines[0]["name"], "Asterisk Call Manager/11.0.0", "{name}");
        for line in &lines {
            let object = line.as_object().unwrap();
            for key in ["kind", "name", "headers"] {
                assert!(object.contains_key(key), "{name}: no {key} in {line}");
            }
            assert!(KINDS.contains(&line["kind"].as_str().unwrap()), "{line}");
            assert!(line["name"].is_string(), "{line}");
            for header in line["headers"].as_array().unwrap() {
                let pair = header.as_array().unwrap();
                assert_eq!(pair.len(), 2, "{line}");
                assert!(pair[0].is_string(), "{line}");
                assert!(pair[1].is_string() || pair[1].is_null(), "{line}");
            }
        }
    }
}

/// Event and response counts from the corpus README's table ("events" counts
/// every message with an `Event:` header; "responses" every `Response:`
/// message by value). `actions` there sums four files, so it is left out.
#[test]
fn event_and_response_counts_match_the_corpus_readme() {
    let table: [(&str, usize, usize); 8] = [
        ("boot-and-sync", 250, 17 + 1 + 24),
        ("basic-calls", 2393, 2 + 1 + 19),
        ("failures", 576, 2 + 1 + 19),
        ("dtmf", 315, 2 + 1 + 19),
        ("queue-conf-sample", 541, 2 + 1 + 19),
        ("trunks-sample", 606, 2 + 1 + 19),
        ("load-sample", 5238, 2 + 1 + 19),
        ("hold-transfer", 561, 2 + 1 + 19),
    ];
    for (scenario, events, responses) in table {
        let out = decode(&corpus_dir().join(format!("{scenario}.ami")), &[]);
        assert!(out.status.success(), "{scenario}: {}", stderr(&out));
        let lines = stdout_lines(&out);
        let counted_events = lines.iter().filter(|l| has_header(l, "Event")).count();
        let counted_responses = lines
            .iter()
            .filter(|l| !has_header(l, "Event") && has_header(l, "Response"))
            .count();
        assert_eq!(counted_events, events, "{scenario}: events");
        assert_eq!(counted_responses, responses, "{scenario}: responses");
    }
}

#[test]
fn repeated_keys_keep_their_order_and_command_output_is_its_own_kind() {
    let out = decode(&corpus_dir().join("actions.ami"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    let help = lines
        .iter()
        .find(|l| {
            l["kind"] == "command_output"
                && l["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|h| h[0] == "Output")
                    .count()
                    > 20
        })
        .expect("the `core show help` output");
    let headers = help["headers"].as_array().unwrap();
    assert_eq!(headers[0][0], "Response");
    // The Output lines are contiguous, in wire order, after the fixed headers.
    let first = headers.iter().position(|h| h[0] == "Output").unwrap();
    assert!(headers[first..].iter().all(|h| h[0] == "Output"));
}

#[test]
fn standard_input_decodes_like_the_file() {
    let file = corpus_dir().join("dtmf.ami");
    let from_file = decode(&file, &[]);
    let mut child = ringside()
        .args(["ami", "decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
    let from_stdin = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(from_stdin.status.success());
    assert_eq!(from_file.stdout, from_stdin.stdout);
}

#[test]
fn an_oversized_message_exits_1_with_its_offset_and_the_next_message_still_prints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oversized.ami");
    let head = b"Asterisk Call Manager/11.0.0\r\nEvent: Before\r\nPrivilege: call,all\r\n\r\n";
    let big = format!("Event: Big\r\nData: {}\r\n\r\n", "x".repeat(4000));
    let tail = b"Event: After\r\nPrivilege: call,all\r\n\r\n";
    std::fs::write(&path, [&head[..], big.as_bytes(), &tail[..]].concat()).unwrap();

    let out = decode(&path, &["--max-message", "1024"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("at byte {}", head.len())),
        "{}",
        stderr(&out)
    );
    let names: Vec<String> = stdout_lines(&out)
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Asterisk Call Manager/11.0.0", "Before", "After"]);
}

#[test]
fn a_truncated_transcript_exits_1_with_the_offset_of_the_cut_message() {
    let bytes = std::fs::read(corpus_dir().join("basic-calls.ami")).unwrap();
    let middle = bytes.len() / 2;
    let boundary = middle
        + bytes[middle..]
            .windows(11)
            .position(|w| w == b"\r\n\r\nEvent: ")
            .unwrap();
    let cut_message = boundary + 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.ami");
    std::fs::write(&path, &bytes[..cut_message + 20]).unwrap();

    let out = decode(&path, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("at byte {cut_message}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stdout_lines(&out).len(),
        ringside_testkit::corpus::count_messages(&bytes[..cut_message])
    );
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let mut child = ringside()
        .args(["ami", "decode"])
        .arg(corpus_dir().join("load-sample.ami"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, as `| head -1` does.
    assert!(first.contains(r#""kind":"banner""#));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn a_missing_file_is_an_error_that_names_it() {
    let out = ringside()
        .args(["ami", "decode", "/nonexistent/ringside.ami"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/ringside.ami"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    // Without a command `ringside` runs the product, so its own options are
    // checked too: a bad address or PBX URL is a usage error, before
    // anything starts.
    for args in [
        &["ami", "decode"][..],
        &["no-such-command"],
        &["--listen", "not-an-address"],
        &["--pbx", "http://not-ami"],
    ] {
        let out = ringside().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
    }
    let out = ringside().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ami"));
}
