//! Compress: gzip an object's bytes as they stream past, with the facts the
//! object's metadata records (length, sha256 of the uncompressed bytes, line
//! count).
//!
//! The gzip header carries no timestamp or name, so the same bytes always
//! compress to the same object.

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::io::Write;

/// One object being built: uncompressed bytes go in, gzip comes out.
pub struct ObjectBuilder {
    encoder: GzEncoder<Vec<u8>>,
    hasher: Sha256,
    len: u64,
    lines: u64,
}

/// A finished object, ready to put.
#[derive(Debug, Clone)]
pub struct CompressedObject {
    pub gzip: Vec<u8>,
    /// Uncompressed length.
    pub len: u64,
    /// Hex sha256 of the uncompressed bytes.
    pub sha256: String,
    /// Number of newline characters.
    pub lines: u64,
}

/// The gzip level objects are written at unless `--gzip-level` says
/// otherwise (see BENCHMARKS.md for how it was chosen).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

impl Default for ObjectBuilder {
    fn default() -> Self {
        ObjectBuilder::with_level(DEFAULT_GZIP_LEVEL)
    }
}

impl ObjectBuilder {
    /// A builder compressing at `level` (1 fastest … 9 smallest). The same
    /// bytes at the same level always give the same object.
    pub fn with_level(level: u32) -> Self {
        ObjectBuilder {
            encoder: GzEncoder::new(Vec::new(), Compression::new(level.clamp(1, 9))),
            hasher: Sha256::new(),
            len: 0,
            lines: 0,
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        // Writing into a Vec cannot fail.
        self.encoder.write_all(bytes).expect("gzip into memory");
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> CompressedObject {
        CompressedObject {
            gzip: self.encoder.finish().expect("gzip into memory"),
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
