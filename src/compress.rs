//! Compress: gzip an object's bytes as they stream past, with the facts the
//! object's metadata records (length, sha256 of the uncompressed bytes, line
//! count).
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

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Uncompressed bytes per gzip member. Big enough that a member costs
/// next to nothing in ratio (18 bytes of framing, a fresh dictionary), and
/// that a few of them in flight per instance stay within the memory bound.
pub const BLOCK_BYTES: usize = 1 << 20;

/// The gzip level objects are written at unless `--gzip-level` says
/// otherwise. Measured (BENCHMARKS.md, `cargo bench -- gzip_level`):
/// level 3 gives objects within 1 % of level 6's size on generated audit
/// lines, and smaller on MariaDB's, at 1.9 to 2.5 times the speed per core.
pub const DEFAULT_GZIP_LEVEL: u32 = 3;

/// One gzip member of `bytes` at `level` (1 fastest … 9 smallest).
pub fn gzip_member(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::new(level.clamp(1, 9)));
    // Writing into a Vec cannot fail.
    encoder.write_all(bytes).expect("gzip into memory");
    let mut member = encoder.finish().expect("gzip into memory");
    // Members wait in memory until their object is put: no spare room.
    member.shrink_to_fit();
    member
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
    lines: u64,
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
            lines: 0,
        }
    }

    pub fn level(&self) -> u32 {
        self.level
    }

    pub fn write(&mut self, mut bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        while !bytes.is_empty() {
            let room = BLOCK_BYTES - self.block.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.block.extend_from_slice(now);
            bytes = rest;
            if self.block.len() == BLOCK_BYTES {
                self.full.push(std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_BYTES)));
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
        }
        if !self.block.is_empty() || self.members.is_empty() {
            self.members.push(gzip_member(&self.block, self.level));
        }
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
            lines: self.lines,
        }
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
    use std::io::Read;

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
