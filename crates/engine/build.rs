//! Build script: a key for the persistent analysis cache (`src/cache.rs`)
//! that changes whenever the code that decides a module's imports changes,
//! so a cache written by another build is never read as this build's answer.

use std::fs;

fn main() {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(env!("CARGO_PKG_VERSION").as_bytes());
    for file in
        ["src/scan.rs", "src/source.rs", "src/imports.rs", "src/decode.rs", "src/cache.rs", "src/track.rs"]
    {
        println!("cargo:rerun-if-changed={file}");
        feed(file.as_bytes());
        feed(&fs::read(file).unwrap_or_default());
    }
    // The parser's version is part of the analysis too.
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    if let Ok(lock) = fs::read_to_string("../../Cargo.lock") {
        for block in lock.split("[[package]]").filter(|b| b.contains("name = \"ruff_python_parser\"")) {
            feed(block.as_bytes());
        }
    }
    println!("cargo:rustc-env=LIVEIMPORT_ANALYSIS_KEY={}-{hash:016x}", env!("CARGO_PKG_VERSION"));
}
