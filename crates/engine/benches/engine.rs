//! Criterion benchmarks of the engine alone.
//!
//! * `extract`: decoding + top-level import extraction over every `.py` file
//!   of the standard library (found with `python3`, or `LIVEIMPORT_STDLIB`),
//!   reported as throughput in bytes. `bench/parse_throughput.py` measures
//!   CPython's `ast.parse` on the same files for the side-by-side figure.
//! * `plan`: topological order and reload plan for 10,000 modules in a
//!   layered graph, after a leaf edit (everything above reloads) and after a
//!   top edit (one module reloads).

use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use liveimport_engine::fingerprint::Observed;
use liveimport_engine::graph::{Module, Table};
use liveimport_engine::imports::Dependency;
use liveimport_engine::plan;
use liveimport_engine::source;

fn stdlib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIVEIMPORT_STDLIB") {
        return Some(PathBuf::from(dir));
    }
    let out = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .ok()?;
    Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
}

fn python_files(dir: &PathBuf, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "site-packages") {
                python_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "py") {
            if let Ok(bytes) = std::fs::read(&path) {
                out.push(bytes);
            }
        }
    }
}

fn extract(c: &mut Criterion) {
    let Some(dir) = stdlib_dir() else {
        eprintln!("no python3 found: skipping the extraction benchmark");
        return;
    };
    let mut files = Vec::new();
    python_files(&dir, &mut files);
    let total: usize = files.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(10);
    group.bench_function(format!("stdlib {} files", files.len()), |b| {
        b.iter(|| {
            let mut imports = 0usize;
            for bytes in &files {
                if let Ok(analysis) = source::analyze_module(bytes, (3, 11), false) {
                    imports += analysis.imports.len();
                }
            }
            imports
        })
    });
    group.finish();
}

/// 10,000 modules in 100 layers of 100; each imports five modules of the
/// layer below. Module 0 of the top layer is the root... all top-layer
/// modules are roots.
fn layered(n: usize, width: usize) -> (Table, Vec<usize>) {
    let mut table = Table::default();
    for i in 0..n {
        let layer = i / width;
        let deps = if layer == 0 {
            Vec::new()
        } else {
            let names: Vec<Dependency> = (0..5)
                .map(|k| Dependency {
                    name: format!("m{}", (layer - 1) * width + (i * 7 + k * 13) % width),
                    fallback: None,
                })
                .collect();
            table.intern_deps(&names)
        };
        table.push(Module {
            name: format!("m{i}"),
            file: Some(PathBuf::from(format!("/ws/m{i}.py"))),
            target: None,
            is_package: false,
            in_workspace: true,
            deps,
            loaded: Some(1),
            excluded: false,
            observed: Observed::Present {
                meta: liveimport_engine::fingerprint::Meta {
                    size: 1,
                    mtime_ns: 0,
                    ctime_ns: 0,
                    ino: 0,
                    dev: 0,
                },
                hash: 1,
                hashed_at_ns: 0,
            },
        });
    }
    let roots = ((n - width)..n).collect();
    (table, roots)
}

fn plan(c: &mut Criterion) {
    let (table, roots) = layered(10_000, 100);
    let mut group = c.benchmark_group("plan 10k modules");
    group.sample_size(20);
    let edges = |id: usize| table.edges(id, &table.modules[id].deps, &|_| true);
    let walk = || plan::order(table.len(), &roots, &edges, &|_| false);
    group.bench_function("order", |b| b.iter(walk));
    let order = walk();
    group.bench_function("leaf edit", |b| {
        b.iter_batched(|| (), |_| plan::steps(&order, &|id| id == 0, &|_| false), BatchSize::SmallInput)
    });
    group.bench_function("top edit", |b| b.iter(|| plan::steps(&order, &|id| id == 9_999, &|_| false)));
    group.finish();
}

criterion_group!(benches, extract, plan);
criterion_main!(benches);
