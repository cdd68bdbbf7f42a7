//! Compress: gzip an object's bytes as they stream past, with the facts the
//! object's metadata records (length, sha256 of the uncompressed bytes, line
//! count, the earliest and latest record time).
//!
//! An object is a series of gzip members, one per `BLOCK_BYTES` of its
//! bytes (the last one shorter), concatenated: a valid gzip file (every
//! gzip reader reads all members), whose blocks can be compressed on as
//! many cores as there are, in any order, and put together in order. The
//! caller may take the full blocks to compress elsewhere
//! (`take_blocks`/`append_member`); `finish` compresses whatever it was
//! not given back. Block bounds are fixed offsets of the object and gzip
//! headers carry no timestamp or name, so the same bytes at the same level
//! always compress to the same object, wherever the blocks were
//! compressed.

use chrono::{DateTime, Utc};
use flate2::Compression;
use sha2::{Digest, Sha256};

/// Uncompressed bytes per gzip member. Big enough that a member costs
/// next to nothing in ratio (18 bytes of framing, a fresh dictionary), and
/// that a few of them in flight per instance stay within the memory bound.
pub const BLOCK_BYTES: usize = 1 << 20;

/// The gzip level objects are written at unless `--gzip-level` says
/// otherwise. Measured (BENCHMARKS.md, `cargo bench -- gzip_level`):
/// level 3 gives objects within 1 % of level 6's size on generated audit
/// lines, and smaller on MariaDB's, at 1.9 to 2.5 times the speed per core.
pub const DEFAULT_GZIP_LEVEL: u32 = 3;

/// The cores this process may use (2 where that cannot be told), found
/// once: std reads the cgroup's quota on every call, and the pipeline asks
/// for every object.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// Spare blocks kept for reuse, at most: about what is in flight at once.
/// A fresh 1 MiB block is a fresh mapping (the allocator maps anything
/// over 128 KiB, see `main`), and every page of it faults and is zeroed
/// when first written; a reused one is written where it stands.
fn spare_blocks_max() -> usize {
    2 * cores()
}

static SPARE_BLOCKS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// An empty block with room for `BLOCK_BYTES`, reused where one is spare.
fn new_block() -> Vec<u8> {
    let spare = SPARE_BLOCKS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    spare.unwrap_or_else(|| Vec::with_capacity(BLOCK_BYTES))
}

/// Gives a block back once its bytes are compressed.
pub fn recycle_block(mut block: Vec<u8>) {
    if block.capacity() != BLOCK_BYTES {
        return;
    }
    block.clear();
    let mut spare = SPARE_BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if spare.len() < spare_blocks_max() {
        spare.push(block);
    }
}

/// Each thread's deflate state, reset for every member instead of built
/// anew (a few hundred KiB of tables per member), and its output buffer.
struct Deflater {
    level: u32,
    deflate: flate2::Compress,
    out: Vec<u8>,
}

thread_local! {
    static DEFLATER: std::cell::RefCell<Option<Deflater>> = const { std::cell::RefCell::new(None) };
}

/// One gzip member of `bytes` at `level` (1 fastest … 9 smallest): the
/// header `GzEncoder` writes (no name, no time, OS 255), the raw deflate
/// stream, CRC-32 and length.
pub fn gzip_member(bytes: &[u8], level: u32) -> Vec<u8> {
    let level = level.clamp(1, 9);
    DEFLATER.with_borrow_mut(|slot| {
        let d = match slot {
            Some(d) if d.level == level => {
                d.deflate.reset();
                d
            }
            _ => slot.insert(Deflater {
                level,
                deflate: flate2::Compress::new(Compression::new(level), false),
                out: Vec::new(),
            }),
        };
        d.out.clear();
        d.out.extend_from_slice(&gzip_header(level));
        // Deflating into memory cannot fail.
        loop {
            d.out.reserve(bytes.len() / 8 + 1024);
            let consumed = d.deflate.total_in() as usize;
            let status = d
                .deflate
                .compress_vec(&bytes[consumed..], &mut d.out, flate2::FlushCompress::Finish)
                .expect("deflate into memory");
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        d.out.extend_from_slice(&crc.sum().to_le_bytes());
        d.out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        // Members wait in memory until their object is put: exactly their size.
        d.out.as_slice().to_vec()
    })
}

/// The ten bytes `flate2::GzBuilder` writes at `level`: magic, deflate,
/// no flags, no time, the extra flags for the fastest and best levels,
/// OS 255 ("unknown", so that output is the same on every platform).
fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// One object being built: uncompressed bytes go in, gzip comes out.
pub struct ObjectBuilder {
    level: u32,
    /// The block being filled.
    block: Vec<u8>,
    /// Full blocks not yet compressed or taken.
    full: Vec<Vec<u8>>,
    /// The members so far, in order.
    members: Vec<Vec<u8>>,
    hasher: Sha256,
    len: u64,
    lines: LineFacts,
}

/// A finished object, ready to put.
#[derive(Debug, Clone)]
pub struct CompressedObject {
    /// The gzip members, one after another (shared, not copied, by the
    /// upload and its retries).
    pub gzip: bytes::Bytes,
    /// Uncompressed length.
    pub len: u64,
    /// Hex sha256 of the uncompressed bytes.
    pub sha256: String,
    /// Number of newline characters.
    pub lines: u64,
    /// The earliest and latest record time among its lines (records are
    /// not in time order within a file), where any line has one.
    pub first_record: Option<DateTime<Utc>>,
    pub last_record: Option<DateTime<Utc>>,
}

impl Default for ObjectBuilder {
    fn default() -> Self {
        ObjectBuilder::with_level(DEFAULT_GZIP_LEVEL)
    }
}

impl ObjectBuilder {
    /// A builder compressing at `level` (1 fastest … 9 smallest).
    pub fn with_level(level: u32) -> Self {
        ObjectBuilder {
            level,
            block: Vec::new(),
            full: Vec::new(),
            members: Vec::new(),
            hasher: Sha256::new(),
            len: 0,
            lines: LineFacts::default(),
        }
    }

    pub fn level(&self) -> u32 {
        self.level
    }

    pub fn write(&mut self, mut bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.lines.write(bytes);
        if self.block.capacity() == 0 && !bytes.is_empty() {
            self.block = new_block();
        }
        while !bytes.is_empty() {
            let room = BLOCK_BYTES - self.block.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.block.extend_from_slice(now);
            bytes = rest;
            if self.block.len() == BLOCK_BYTES {
                self.full.push(std::mem::replace(&mut self.block, new_block()));
            }
        }
    }

    /// The full blocks written since the last call, in order, for the
    /// caller to compress (`gzip_member` at `level`) and hand back with
    /// `append_member`, in the same order, before `finish`.
    pub fn take_blocks(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.full)
    }

    /// The next member, compressed from the next block taken.
    pub fn append_member(&mut self, member: Vec<u8>) {
        self.members.push(member);
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(mut self) -> CompressedObject {
        for block in std::mem::take(&mut self.full) {
            self.members.push(gzip_member(&block, self.level));
            recycle_block(block);
        }
        if !self.block.is_empty() || self.members.is_empty() {
            self.members.push(gzip_member(&self.block, self.level));
        }
        recycle_block(std::mem::take(&mut self.block));
        // One allocation of the object's exact size (a growing buffer
        // would hold up to twice that while the upload runs).
        let mut gzip = Vec::with_capacity(self.members.iter().map(Vec::len).sum());
        for member in std::mem::take(&mut self.members) {
            gzip.extend_from_slice(&member);
        }
        CompressedObject {
            gzip: gzip.into(),
            len: self.len,
            sha256: hex::encode(self.hasher.finalize()),
            lines: self.lines.lines,
            first_record: self.lines.first_record,
            last_record: self.lines.last_record,
        }
    }
}

/// A record's time is in its first field; no dialect's is longer.
const TIME_FIELD_MAX: usize = 32;

/// The lines of bytes written in any pieces: how many, and the span of
/// their record times.
#[derive(Debug, Clone)]
pub struct LineFacts {
    pub lines: u64,
    pub first_record: Option<DateTime<Utc>>,
    pub last_record: Option<DateTime<Utc>>,
    /// Reading a line's first field (from a line's start to its first
    /// comma); the field so far, `len > TIME_FIELD_MAX` once too long.
    in_field: bool,
    field: [u8; TIME_FIELD_MAX],
    len: usize,
}

impl Default for LineFacts {
    fn default() -> Self {
        // Objects begin at a line's start.
        LineFacts {
            lines: 0,
            first_record: None,
            last_record: None,
            in_field: true,
            field: [0; TIME_FIELD_MAX],
            len: 0,
        }
    }
}

impl LineFacts {
    pub fn write(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            if !self.in_field {
                let Some(nl) = memchr::memchr(b'\n', rest) else { return };
                self.lines += 1;
                (self.in_field, self.len) = (true, 0);
                at += nl + 1;
                continue;
            }
            let Some(i) = memchr::memchr2(b',', b'\n', rest) else {
                self.keep(rest);
                return;
            };
            self.keep(&rest[..i]);
            if rest[i] == b',' {
                self.field_ended();
                self.in_field = false;
            } else {
                // A line without a comma has no time; the next one starts.
                self.lines += 1;
                self.len = 0;
            }
            at += i + 1;
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        match self.field.get_mut(self.len..self.len + piece.len()) {
            Some(room) => {
                room.copy_from_slice(piece);
                self.len += piece.len();
            }
            None => self.len = TIME_FIELD_MAX + 1,
        }
    }

    fn field_ended(&mut self) {
        let Some(t) = self.field.get(..self.len).and_then(crate::identify::record_time) else { return };
        self.first_record = Some(self.first_record.map_or(t, |f| f.min(t)));
        self.last_record = Some(self.last_record.map_or(t, |l| l.max(t)));
    }
}

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use flate2::write::GzEncoder;
    use std::io::{Read, Write};

    #[test]
    fn gzip_round_trips_and_records_facts() {
        let mut b = ObjectBuilder::default();
        b.write(b"line one\n");
        b.write(b"line two\nno newline");
        let o = b.finish();
        let mut out = Vec::new();
        MultiGzDecoder::new(&o.gzip[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"line one\nline two\nno newline");
        assert_eq!(o.len, out.len() as u64);
        assert_eq!(o.lines, 2);
        assert_eq!(o.sha256, sha256_hex(&out));
    }

    /// Blocks compressed elsewhere and handed back give the very object
    /// `finish` makes by itself, and it inflates to the bytes written.
    #[test]
    fn an_object_is_the_same_wherever_its_blocks_were_compressed() {
        let bytes: Vec<u8> = (0..(2 * BLOCK_BYTES + 12345)).map(|i| b"audit line\n"[i % 11]).collect();
        let mut inline = ObjectBuilder::with_level(4);
        inline.write(&bytes);
        let inline = inline.finish();
        let mut elsewhere = ObjectBuilder::with_level(4);
        for piece in bytes.chunks(300_001) {
            elsewhere.write(piece);
            for block in elsewhere.take_blocks() {
                let member = gzip_member(&block, elsewhere.level());
                elsewhere.append_member(member);
            }
        }
        let elsewhere = elsewhere.finish();
        assert_eq!(inline.gzip, elsewhere.gzip);
        let mut out = Vec::new();
        MultiGzDecoder::new(&elsewhere.gzip[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, bytes);
        assert_eq!((elsewhere.len, elsewhere.lines), (bytes.len() as u64, bytes.len() as u64 / 11));
    }

    /// Line counts and record times do not depend on where the pieces
    /// break, and a line's time is its first field's, in either dialect.
    #[test]
    fn record_times_span_the_lines_however_the_bytes_arrive() {
        let text: &[u8] = b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'x,y',0\n\
            20261121 22:40:01,vm,app,h,9,2,QUERY,shop,'20991231 00:00:00,z',0\n\
            no comma on this line\n\
            1763765037123456,ip-10-0-0-1,app,10.0.0.2,7,0,CONNECT,,,0\n\
            20261121 23:59:59,partial";
        let whole = {
            let mut f = LineFacts::default();
            f.write(text);
            f
        };
        assert_eq!(whole.lines, 4);
        assert_eq!(whole.first_record.unwrap().to_rfc3339(), "2025-11-21T22:43:57.123456+00:00");
        assert_eq!(whole.last_record.unwrap().to_rfc3339(), "2026-11-21T23:59:59+00:00");
        for size in 1..text.len() {
            let mut f = LineFacts::default();
            text.chunks(size).for_each(|c| f.write(c));
            assert_eq!((f.lines, f.first_record, f.last_record), (whole.lines, whole.first_record, whole.last_record));
        }
        let mut long = LineFacts::default();
        long.write(b"20261121 22:43:57 and then far more than a time field holds,x\n");
        assert_eq!((long.lines, long.first_record), (1, None));
    }

    /// A member is a gzip file of its bytes, and the same member whatever
    /// the thread compressed before it (its deflate state is reused), with
    /// the header `GzEncoder` writes.
    #[test]
    fn a_member_is_the_same_whatever_came_before_on_its_thread() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| {
                format!(
                    "20261204 10:{:02}:{:02},db,app,10.0.0.{},{i},QUERY,shop,'SELECT {}',0\n",
                    i % 60,
                    i % 59,
                    i % 7,
                    i * 7919 % 1000
                )
                .into_bytes()
            })
            .collect();
        let inputs: [&[u8]; 4] = [b"", b"one line\n", &text[..BLOCK_BYTES], &text[..BLOCK_BYTES / 3]];
        for level in [3, 1, 9, 3, 6] {
            for input in inputs {
                let first_on_a_thread = std::thread::spawn({
                    let input = input.to_vec();
                    move || gzip_member(&input, level)
                })
                .join()
                .unwrap();
                let member = gzip_member(input, level);
                assert_eq!(member, first_on_a_thread, "level {level}, {} bytes", input.len());
                let mut inflated = Vec::new();
                flate2::read::GzDecoder::new(&member[..]).read_to_end(&mut inflated).unwrap();
                assert_eq!(inflated, input, "level {level}");
                let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
                e.write_all(input).unwrap();
                assert_eq!(member[..10], e.finish().unwrap()[..10], "level {level}: the header");
            }
        }
    }

    #[test]
    fn same_bytes_compress_to_the_same_object() {
        let build = |parts: &[&[u8]]| {
            let mut b = ObjectBuilder::default();
            parts.iter().for_each(|p| b.write(p));
            b.finish().gzip
        };
        assert_eq!(build(&[b"abc\n", b"def\n"]), build(&[b"ab", b"c\nde", b"f\n"]));
    }
}
