//! Access to the shared real-Asterisk corpus (`../shared/ami-corpus/`).
#![allow(dead_code)]

use std::path::PathBuf;

/// The corpus directory: `RINGSIDE_AMI_CORPUS`, or `shared/ami-corpus` beside
/// the repository checkout.
pub fn corpus_dir() -> PathBuf {
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

/// Every `.ami` transcript as (name without extension, bytes), sorted by name.
pub fn corpus_transcripts() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ami"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
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

/// The recorded TCP reads of a transcript, as (offset, len).
pub fn timing_chunks(name: &str) -> Vec<(usize, usize)> {
    let text = std::fs::read_to_string(corpus_dir().join(format!("{name}.timing.jsonl"))).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["offset"].as_u64().unwrap() as usize,
                v["len"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}
