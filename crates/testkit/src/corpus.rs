//! The real-Asterisk AMI corpus (`shared/ami-corpus/` beside the checkout, or
//! `$RINGSIDE_AMI_CORPUS`).

use std::path::PathBuf;

/// The corpus directory; panics with the reason when it is missing.
pub fn dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RINGSIDE_AMI_CORPUS") {
        return PathBuf::from(dir);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ami-corpus");
    assert!(
        dir.is_dir(),
        "AMI corpus not found at {} (set RINGSIDE_AMI_CORPUS)",
        dir.display()
    );
    dir
}

/// The path of one corpus file (`basic-calls.ami`, `basic-calls.truth.txt`…).
pub fn path(name: &str) -> PathBuf {
    dir().join(name)
}

/// Every `.ami` transcript as (name without extension, bytes), sorted by name.
pub fn transcripts() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir())
        .expect("reading the corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ami"))
        .map(|p| {
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).expect("reading a transcript");
            (name, bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 9,
        "expected the whole corpus, found {} files",
        out.len()
    );
    out
}

/// The recorded TCP reads of a transcript (`NAME.timing.jsonl`), as
/// (offset, len) into `NAME.ami`.
pub fn timing_chunks(name: &str) -> Vec<(usize, usize)> {
    let text = std::fs::read_to_string(dir().join(format!("{name}.timing.jsonl")))
        .expect("reading a timing file");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("timing lines are JSON");
            let field = |k: &str| v[k].as_u64().expect("offset and len are numbers") as usize;
            (field("offset"), field("len"))
        })
        .collect()
}

/// Counts a transcript's messages the simplest way that can work on this
/// corpus, without any AMI codec: the banner line, then blocks of non-empty
/// lines separated by empty lines, where lines are split on "\r\n" and a
/// trailing "\n" is stripped (corpus README, item 3). The independent count
/// the decoders are checked against.
pub fn count_messages(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split("\r\n");
    let mut count = usize::from(
        lines
            .next()
            .is_some_and(|b| b.starts_with("Asterisk Call Manager/")),
    );
    let mut in_block = false;
    for line in lines {
        let line = line.strip_suffix('\n').unwrap_or(line);
        if line.is_empty() {
            in_block = false;
        } else if !in_block {
            in_block = true;
            count += 1;
        }
    }
    count
}
