//! Micro-benchmarks of the CPU-bound stages: cutting, compressing (gzip +
//! sha256) and fingerprinting audit lines, and checkpoint merging. The
//! end-to-end benchmark (tests/bench/e2e.sh) measures the whole run.

use auditship::checkpoint::{Checkpoint, FileProgress};
use auditship::compress::ObjectBuilder;
use auditship::cut::{CutRule, FileState, ObjectCutter};
use auditship::identify::{identity_prefix, FileId, Fingerprint};
use auditship::instance::{Instance, InstanceId, ResourceId, Role};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

/// Realistic MariaDB audit lines: ~160 bytes, quotes, commas, some UTF-8.
fn audit_log(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 256);
    let mut n = 0u64;
    while out.len() < bytes {
        out.extend_from_slice(
            format!(
                "20261122 00:{:02}:{:02},ip-10-0-1-23,app,10.0.2.{},{},{},QUERY,shop,'INSERT INTO orders (sku, note) VALUES (\\'SKU-{}\\', \\'größe, {}\\')',0\n",
                (n / 60) % 60, n % 60, n % 250, 1000 + n % 64, n, n * 7, n
            )
            .as_bytes(),
        );
        n += 1;
    }
    out
}

/// Cuts and compresses a whole stream the way the pipeline does.
fn ship_in_memory(data: &[u8], chunk: usize, rule: CutRule) -> u64 {
    let mut total = 0;
    let mut cutter = ObjectCutter::new(rule);
    let mut builder = ObjectBuilder::default();
    for mut c in data.chunks(chunk) {
        while !c.is_empty() {
            let took = cutter.push(c, &mut |b| builder.write(b));
            c = &c[took..];
            if cutter.is_complete() {
                total += std::mem::take(&mut builder).finish().gzip.len() as u64;
                cutter = ObjectCutter::new(rule);
            }
        }
    }
    cutter.finish(FileState::Closed, &mut |b| builder.write(b));
    total + builder.finish().gzip.len() as u64
}

fn bench_stages(c: &mut Criterion) {
    let data = audit_log(8 << 20);
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("cut_only_8MiB", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut cutter = ObjectCutter::new(CutRule::new(1 << 20));
            for mut c in data.chunks(16 * 1024) {
                while !c.is_empty() {
                    let took = cutter.push(c, &mut |b| n += b.len() as u64);
                    c = &c[took..];
                    if cutter.is_complete() {
                        cutter = ObjectCutter::new(CutRule::new(1 << 20));
                    }
                }
            }
            black_box(n)
        })
    });
    g.bench_function("cut_gzip_sha256_8MiB", |b| {
        b.iter(|| black_box(ship_in_memory(&data, 16 * 1024, CutRule::new(32 << 20))))
    });
    g.finish();

    // What each gzip level costs per core, and what it saves: the ratio
    // goes to stderr beside criterion's throughput. AUDITSHIP_BENCH_LOG
    // names a real audit file to measure instead of the generated lines.
    let data = match std::env::var("AUDITSHIP_BENCH_LOG") {
        Ok(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("AUDITSHIP_BENCH_LOG={path}: {e}")),
        Err(_) => data,
    };
    let mut g = c.benchmark_group("gzip_level");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for level in [1, 3, 4, 5, 6, 9] {
        let gzip = auditship::compress::gzip_member(&data, level).len();
        eprintln!("gzip level {level}: {:.2}% of the input", 100.0 * gzip as f64 / data.len() as f64);
        g.bench_function(format!("level_{level}"), |b| {
            b.iter(|| black_box(auditship::compress::gzip_member(black_box(&data), level).len()))
        });
    }
    g.finish();

    let line = &data[..data.iter().position(|&b| b == b'\n').unwrap() + 1];
    c.bench_function("fingerprint_first_line", |b| {
        b.iter(|| black_box(Fingerprint::of_prefix(identity_prefix(black_box(&data[..4096])).unwrap()).file_id()))
    });
    black_box(line);
}

fn bench_checkpoint(c: &mut Criterion) {
    let instance = Instance {
        id: InstanceId("db-1".into()),
        resource_id: ResourceId("db-RES".into()),
        cluster: None,
        role: Role::Writer,
        engine: "mysql".into(),
        status: "available".into(),
        endpoint: None,
        account: None,
    };
    let make = |shift: u64| {
        let mut cp = Checkpoint::empty(&instance);
        for i in 0..100u64 {
            cp.files.insert(
                FileId(format!("20261122T0000{i:02}Z-abcdef01")),
                FileProgress {
                    fingerprint: "f".repeat(64),
                    shipped: i * 1000 + shift,
                    tail_sha256: "t".repeat(64),
                    last_name: format!("audit/server_audit.log.{i}"),
                    last_size: 200_000,
                    last_written_ms: 0,
                    closed: true,
                    identity: None,
                },
            );
        }
        cp
    };
    let (a, b) = (make(0), make(500));
    c.bench_function("checkpoint_merge_100_files", |bench| {
        bench.iter_batched(|| a.clone(), |mut x| x.merge(black_box(&b)), BatchSize::SmallInput)
    });
    c.bench_function("checkpoint_json_round_trip_100_files", |bench| {
        bench.iter(|| {
            let bytes = serde_json::to_vec(black_box(&a)).unwrap();
            black_box(Checkpoint::parse(&bytes, "bench", &instance).unwrap())
        })
    });
}

criterion_group!(benches, bench_stages, bench_checkpoint);
criterion_main!(benches);
