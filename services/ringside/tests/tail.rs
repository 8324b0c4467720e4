//! `ringside ami tail` as an operator runs it: the real binary, a real socket,
//! the simulator as the PBX (in this process, on port 0). The process runs
//! until it is killed, so every read here is bounded and the child is killed
//! on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringside_ami::client::{Client, ClientConfig, ClientEvent, Secret};
use ringside_pbx_sim::{SimConfig, Simulator};
use serde_json::Value;
use tokio::sync::mpsc;

const USER: &str = "lab";
const SECRET: &str = "labsecret";

/// How long a test waits for output it expects.
const PATIENCE: Duration = Duration::from_secs(20);

/// A child process killed (SIGKILL) on drop.
struct Proc(Child);

impl Proc {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    fn stdout(&mut self) -> ChildStdout {
        self.0.stdout.take().expect("stdout is piped")
    }

    fn stderr(&mut self) -> ChildStderr {
        self.0.stderr.take().expect("stderr is piped")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A busy PBX: enough idle extensions that calls (each with its
/// Newchannel/VarSet/Newexten/Hangup events) start every few hundred
/// milliseconds.
async fn simulator() -> Simulator {
    ringside_pbx_sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        username: USER.into(),
        secret: SECRET.into(),
        endpoints: 50,
        trunks: 2,
        calls_per_second: 10.0,
        seed: 11,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// `ringside ami tail` against `addr` with these credentials and extra
/// arguments, stdout and stderr piped.
fn tail(addr: SocketAddr, secret: &str, extra: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["ami", "tail", "--host"])
        .arg(addr.ip().to_string())
        .args(["--port", &addr.port().to_string(), "--user", USER])
        .args(["--secret", secret])
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("RINGSIDE_AMI_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ringside binary starts");
    Proc(child)
}

/// Lines of a pipe, read on a thread and handed over as they come; the
/// channel closes at EOF.
fn lines(pipe: impl Read + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Raw chunks of a pipe, read on a thread; the channel closes at EOF.
fn chunks(mut pipe: impl Read + Send + 'static) -> mpsc::UnboundedReceiver<Vec<u8>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Everything still in the channel until the writer's EOF (call after the
/// process is dead).
async fn rest<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
    let mut out = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        out.push(item);
    }
    out
}

/// A second AMI client of the simulator that counts the events with these
/// names as they arrive: proof of what the PBX sent while the process under
/// test was connected.
struct Witness {
    client: Client,
    seen: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Witness {
    async fn start(sim: &Simulator, names: &'static [&'static str]) -> Witness {
        let addr = sim.local_addr();
        let (client, mut events) = Client::connect(ClientConfig::new(
            addr.ip().to_string(),
            addr.port(),
            USER,
            Secret::new(SECRET),
        ));
        match tokio::time::timeout(PATIENCE, events.recv()).await {
            Ok(Some(ClientEvent::Connected { .. })) => {}
            other => panic!("the witness did not log in: {other:?}"),
        }
        let seen = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                while let Some(event) = events.recv().await {
                    if let ClientEvent::Message(m) = event
                        && names.contains(&m.name())
                    {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Witness { client, seen, task }
    }

    fn seen(&self) -> usize {
        self.seen.load(Ordering::Relaxed)
    }

    async fn close(self) {
        self.client.close().await;
        self.task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn included_events_are_printed_as_json_lines_and_nothing_else_is() {
    let sim = simulator().await;
    let mut proc = tail(
        sim.local_addr(),
        SECRET,
        &["--include", "Event=Newchannel,Hangup"],
    );
    let mut stdout = lines(proc.stdout());
    let mut stderr = lines(proc.stderr());

    let mut printed = Vec::new();
    let enough = tokio::time::timeout(PATIENCE, async {
        while printed.len() < 4 {
            match stdout.recv().await {
                Some(line) => printed.push(line),
                None => break,
            }
        }
    })
    .await;
    proc.kill();
    printed.extend(rest(&mut stdout).await);
    let log = rest(&mut stderr).await.join("\n");
    assert!(
        enough.is_ok() && printed.len() >= 4,
        "only {} line(s) in {PATIENCE:?}: {printed:?}\nstderr:\n{log}",
        printed.len()
    );

    for line in &printed {
        let json: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert_eq!(json["kind"], "event", "{line}");
        let name = json["name"].as_str().unwrap_or_default();
        assert!(
            name == "Newchannel" || name == "Hangup",
            "an event that was not included: {line}"
        );
        assert_eq!(json["headers"][0][0], "Event", "{line}");
        assert_eq!(json["headers"][0][1], name, "{line}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_events_never_appear_in_the_raw_ami_output() {
    let sim = simulator().await;
    let witness = Witness::start(&sim, &["VarSet", "Newexten"]).await;
    let mut proc = tail(
        sim.local_addr(),
        SECRET,
        &["--exclude", "Event=VarSet,Newexten", "--format", "ami"],
    );
    let mut stdout = chunks(proc.stdout());
    let blocks = |b: &[u8]| b.windows(4).filter(|w| w == b"\r\n\r\n").count();
    let mut bytes = Vec::new();
    // The first block means the tail is logged in; from then on the PBX
    // must send excluded events for the test to test anything, and the tail
    // must print well past them.
    let mut excluded_before = None;
    let mut printed_past = None;
    let _ = tokio::time::timeout(PATIENCE, async {
        while let Some(chunk) = stdout.recv().await {
            bytes.extend(chunk);
            let n = blocks(&bytes);
            let before = *excluded_before.get_or_insert_with(|| witness.seen());
            if printed_past.is_none() && witness.seen() >= before + 5 {
                printed_past = Some(n + 10);
            }
            if printed_past.is_some_and(|past| n >= past) && n >= 40 {
                break;
            }
        }
    })
    .await;
    proc.kill();
    for chunk in rest(&mut stdout).await {
        bytes.extend(chunk);
    }
    let excluded_sent = witness.seen() - excluded_before.unwrap_or(0);
    witness.close().await;
    let output = String::from_utf8(bytes).expect("AMI text is UTF-8");
    assert!(
        excluded_sent >= 5,
        "the PBX sent only {excluded_sent} VarSet/Newexten while the tail ran: nothing was tested"
    );

    // Only whole blocks count: the kill may cut the last one short.
    let complete = &output[..output.rfind("\r\n\r\n").map_or(0, |i| i + 4)];
    let blocks: Vec<&str> = complete
        .split_terminator("\r\n\r\n")
        .filter(|b| !b.is_empty())
        .collect();
    assert!(
        blocks.len() >= 40 && printed_past.is_some_and(|past| blocks.len() >= past),
        "only {} block(s): {output:?}",
        blocks.len()
    );
    for block in &blocks {
        assert!(
            block.starts_with("Event: ") || block.starts_with("Response: "),
            "a block that is not an AMI message: {block:?}"
        );
        assert!(
            block.split("\r\n").all(|l| l.contains(": ")),
            "a block with a line that is not a header: {block:?}"
        );
        assert!(
            !block
                .split("\r\n")
                .any(|l| l == "Event: VarSet" || l == "Event: Newexten"),
            "an excluded event was printed: {block:?}"
        );
    }
    assert!(
        blocks.iter().any(|b| b.starts_with("Event: Newchannel")),
        "calls were printed"
    );
    sim.shutdown().await;
}

/// A line of the command's own log (not the client library's) reporting a
/// refused login.
fn is_tail_refusal(line: &str) -> bool {
    line.contains("login refused") && line.contains("ami::tail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_reported_on_stderr_and_the_process_keeps_retrying() {
    let sim = simulator().await;
    let mut proc = tail(sim.local_addr(), "not-the-secret", &[]);
    let mut stdout = chunks(proc.stdout());
    let mut stderr = lines(proc.stderr());

    let mut log: Vec<String> = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, async {
        // Two refusals reported by the command itself (the client library
        // logs each one too): the process went on after the first.
        while log.iter().filter(|l| is_tail_refusal(l)).count() < 2 {
            match stderr.recv().await {
                Some(line) => log.push(line),
                None => break,
            }
        }
    })
    .await;
    let still_running = proc
        .0
        .try_wait()
        .expect("the child can be polled")
        .is_none();
    proc.kill();
    log.extend(rest(&mut stderr).await);
    let refusals = log.iter().filter(|l| is_tail_refusal(l)).count();
    let log = log.join("\n");
    assert!(
        refusals >= 2,
        "{refusals} \"login refused\" report(s) on stderr in {PATIENCE:?}:\n{log}"
    );
    assert!(still_running, "the process exited:\n{log}");
    assert!(
        !log.contains("not-the-secret"),
        "the secret was logged:\n{log}"
    );
    let printed: Vec<u8> = rest(&mut stdout).await.concat();
    assert!(
        printed.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&printed)
    );
    assert_eq!(sim.logged_in(), 0);
    sim.shutdown().await;
}
