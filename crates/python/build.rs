//! Link the extension with the functions a kernel runs packed together.
//!
//! `symbol-order.txt` lists the functions that `import liveimport`,
//! `register()`, a cell and a sync execute (made by `make symbol-order`,
//! `tools/gen_symbol_order.py`). The linker places them first in the text
//! section, in that order, so a kernel maps fewer of the extension's pages:
//! the kernel maps a file's pages around each one touched, and spread over
//! the whole file, the functions touched would map nearly all of it.
//!
//! `plt-first.ld` (an `INSERT` script: the default layout otherwise) puts
//! the PLT just before the code instead of after it: every thread-local
//! access calls its `__tls_get_addr` entry, which would keep the last,
//! cold, pages of the code mapped too.
//!
//! Only where the linker is LLD, which understands the option: the official
//! toolchain on x86_64 Linux (rustc 1.90 and later link with its own
//! `rust-lld`), no linker chosen in RUSTFLAGS or the environment.
//! `LIVEIMPORT_SYMBOL_ORDER=0` turns it off, `=1` on whatever the detection
//! says. A name the file lists that the build lacks is skipped silently, so
//! a stale file costs pages, never a build (tests/test_packaging.py checks
//! that it still matches).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-changed=plt-first.ld");
    println!("cargo:rerun-if-env-changed=LIVEIMPORT_SYMBOL_ORDER");
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let wanted = match env::var("LIVEIMPORT_SYMBOL_ORDER").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => links_with_rust_lld(),
    };
    if !wanted {
        return;
    }
    // The linker reads copies in OUT_DIR: a build of the same package from
    // another directory (the sdist test builds one with this checkout's
    // target directory) shares OUT_DIR, and cargo may reuse this script's
    // output without running it again, so the paths must stay valid.
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    let copy = |name: &str| {
        let copied = out.join(name);
        std::fs::copy(dir.join(name), &copied).ok().map(|_| copied)
    };
    if let Some(order) = copy("symbol-order.txt") {
        println!("cargo:rustc-link-arg-cdylib=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-cdylib=-Wl,--no-warn-symbol-ordering");
        if let Some(script) = copy("plt-first.ld") {
            println!("cargo:rustc-link-arg-cdylib=-Wl,-T,{}", script.display());
        }
    }
}

/// Whether rustc links this build with its own LLD: the x86_64 Linux GNU
/// target, a toolchain that ships `gcc-ld/ld.lld` and is 1.90 or newer,
/// and no linker named by the user.
fn links_with_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("link-self-contained") || flags.contains("link-arg") {
        return false;
    }
    if env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = |arg: &str| {
        Command::new(&rustc)
            .arg(arg)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(version) = output("--version") else { return false };
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    if !version.starts_with("rustc 1.") || minor.is_none_or(|m| m < 90) {
        return false;
    }
    let Some(sysroot) = output("--print=sysroot") else { return false };
    PathBuf::from(sysroot).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld").is_file()
}
