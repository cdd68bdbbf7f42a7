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

/// Audit lines as all three dialects write them: MariaDB's queries and
/// connects, the MySQL plugin's connect with its trailing fields, Aurora's
/// epoch-microsecond table events.
fn mixed_audit_log(bytes: usize) -> Vec<u8> {
    let mut out = audit_log(bytes / 2);
    let mut n = 0u64;
    while out.len() < bytes {
        let line = match n % 4 {
            0 => format!("20261122 01:{:02}:{:02},ip-10-0-1-23,app,10.0.2.{},{},0,CONNECT,shop,,0\n", (n / 60) % 60, n % 60, n % 250, 2000 + n % 64),
            1 => format!("20261122 01:{:02}:{:02},ip-10-0-1-23,rdsadmin,localhost,{},0,CONNECT,information_schema,,0,SSL\n", (n / 60) % 60, n % 60, 3000 + n % 64),
            2 => format!("{},aurora-1,app,10.0.3.{},{},{},READ,shop,orders,0\n", 1_795_000_000_000_000u64 + n * 1000, n % 250, 4000 + n % 64, n),
            _ => format!("{},aurora-1,app,10.0.3.{},{},{},QUERY,shop,'SELECT * FROM orders WHERE id = {} AND note = \\'a, b\\'',0\n", 1_795_000_000_000_000u64 + n * 1000, n % 250, 4000 + n % 64, n, n),
        };
        out.extend_from_slice(line.as_bytes());
        n += 1;
    }
    out
}

/// Deriving events: parsing alone, parsing into OCSF events, encoding
/// them as Parquet, and the three together (what `--events` adds per raw
/// byte), on one core. `AUDITSHIP_BENCH_LOG` names a real audit file to
/// use instead of generated lines.
fn bench_events(c: &mut Criterion) {
    use auditship::events::ocsf::{object_events, Provenance};
    use auditship::events::parse::Dialect;
    let data = bytes::Bytes::from(match std::env::var("AUDITSHIP_BENCH_LOG") {
        Ok(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("AUDITSHIP_BENCH_LOG={path}: {e}")),
        Err(_) => mixed_audit_log(8 << 20),
    });
    let from = Provenance {
        dialect: Dialect::MariaDb,
        instance: "shop-primary",
        cluster: Some("shop"),
        dbi_resource_id: "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        region: "eu-west-1",
        account: Some("123456789012"),
        raw_key: "rds-audit/shop/shop-primary/dt=2026-11-22/20261122T000000Z-3f9a1c2b/00000000000000000000.log.gz",
    };
    let at = chrono::DateTime::UNIX_EPOCH;
    let encode = |events: &[auditship::events::ocsf::OcsfEvent<'_>]| {
        auditship::events::parquet::encode(&data, &from, events).unwrap().len()
    };
    let mut g = c.benchmark_group("events");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("parse_8MiB", |b| {
        b.iter(|| black_box(auditship::events::parse_object(black_box(&data), 0).filter(|p| p.record.is_ok()).count()))
    });
    g.bench_function("parse_map_8MiB", |b| b.iter(|| black_box(object_events(black_box(&data), 0, at).len())));
    g.bench_function("encode_parquet_8MiB", |b| {
        b.iter_batched(|| object_events(&data, 0, at), |events| black_box(encode(&events)), BatchSize::LargeInput)
    });
    // As a derivation does it: a row group at a time, a file per day.
    let derive = || auditship::events::derive::encode_days(&data, 0, &from, at, false).unwrap();
    g.bench_function("parse_map_encode_8MiB", |b| b.iter(|| black_box(derive().len())));
    g.finish();
    eprintln!(
        "events: {} raw bytes, {} lines, {} bytes of Parquet",
        data.len(),
        data.iter().filter(|&&b| b == b'\n').count(),
        derive().values().map(|f| f.body.len()).sum::<usize>()
    );
}

criterion_group!(benches, bench_stages, bench_checkpoint, bench_events);
criterion_main!(benches);
