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
