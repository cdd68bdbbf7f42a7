//! OCSF events as one Parquet file, with OCSF's nested layout (`actor.user.name`,
//! `src_endpoint.ip`, …) so Athena, DuckDB and Security Lake read the
//! attributes by their OCSF names. Snappy-compressed, dictionary-encoded,
//! written a row group of `ROW_GROUP_ROWS` at a time (so memory does not
//! grow with the raw object), each sorted by time (as Security Lake asks). The bytes
//! depend only on the events, so writing the same events twice gives the
//! same object.

use super::ocsf::{OcsfEvent, Provenance, CATEGORY_NAME, CATEGORY_UID, CLASS_NAME, CLASS_UID, OCSF_VERSION, PROFILES};
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::column::writer::{get_column_writer, get_typed_column_writer_mut, ColumnCloseResult, ColumnWriter};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnPath, SchemaDescPtr, SchemaDescriptor};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The schema, in the order the columns are written (`columns` below
/// follows it leaf by leaf).
pub const SCHEMA: &str = "
message ocsf_datastore_activity {
  REQUIRED INT32 activity_id;
  REQUIRED BYTE_ARRAY activity_name (STRING);
  REQUIRED INT32 category_uid;
  REQUIRED BYTE_ARRAY category_name (STRING);
  REQUIRED INT32 class_uid;
  REQUIRED BYTE_ARRAY class_name (STRING);
  REQUIRED INT64 type_uid;
  REQUIRED BYTE_ARRAY type_name (STRING);
  REQUIRED INT32 type_id;
  REQUIRED INT32 severity_id;
  REQUIRED BYTE_ARRAY severity (STRING);
  REQUIRED INT64 time;
  REQUIRED INT64 time_dt (TIMESTAMP(MILLIS, true));
  REQUIRED INT32 status_id;
  REQUIRED BYTE_ARRAY status (STRING);
  OPTIONAL BYTE_ARRAY status_code (STRING);
  REQUIRED group metadata {
    REQUIRED BYTE_ARRAY version (STRING);
    REQUIRED group product {
      REQUIRED BYTE_ARRAY name (STRING);
      REQUIRED BYTE_ARRAY vendor_name (STRING);
    }
    REQUIRED BYTE_ARRAY uid (STRING);
    OPTIONAL BYTE_ARRAY original_time (STRING);
    OPTIONAL BYTE_ARRAY correlation_uid (STRING);
    REQUIRED BYTE_ARRAY log_provider (STRING);
    REQUIRED group profiles (LIST) {
      REPEATED group list {
        REQUIRED BYTE_ARRAY element (STRING);
      }
    }
  }
  REQUIRED group actor {
    REQUIRED group user {
      OPTIONAL BYTE_ARRAY name (STRING);
    }
  }
  REQUIRED group src_endpoint {
    OPTIONAL BYTE_ARRAY ip (STRING);
    OPTIONAL BYTE_ARRAY hostname (STRING);
    OPTIONAL INT32 port;
  }
  REQUIRED group dst_endpoint {
    OPTIONAL BYTE_ARRAY hostname (STRING);
    REQUIRED BYTE_ARRAY name (STRING);
    REQUIRED BYTE_ARRAY uid (STRING);
  }
  REQUIRED group database {
    OPTIONAL BYTE_ARRAY name (STRING);
    REQUIRED INT32 type_id;
    REQUIRED BYTE_ARRAY type (STRING);
  }
  OPTIONAL group table {
    REQUIRED BYTE_ARRAY name (STRING);
  }
  OPTIONAL group query_info {
    REQUIRED BYTE_ARRAY query_string (STRING);
    OPTIONAL BYTE_ARRAY uid (STRING);
  }
  REQUIRED group cloud {
    REQUIRED BYTE_ARRAY provider (STRING);
    REQUIRED BYTE_ARRAY region (STRING);
    OPTIONAL group account {
      REQUIRED BYTE_ARRAY uid (STRING);
    }
  }
  OPTIONAL BYTE_ARRAY raw_data (STRING);
  REQUIRED group unmapped {
    REQUIRED BYTE_ARRAY instance (STRING);
    OPTIONAL BYTE_ARRAY cluster (STRING);
    REQUIRED BYTE_ARRAY dbi_resource_id (STRING);
    REQUIRED BYTE_ARRAY raw_key (STRING);
    REQUIRED INT64 raw_offset;
    REQUIRED INT64 raw_length;
    OPTIONAL BYTE_ARRAY operation (STRING);
    OPTIONAL BYTE_ARRAY statement;
    OPTIONAL BYTE_ARRAY parse_error (STRING);
  }
}
";

/// One leaf column's values, with definition and repetition levels where
/// the schema has them.
enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bytes(Vec<ByteArray>),
    /// The same text on each of so many rows, written from one short
    /// run of copies (a copy per row was a tenth of the encoder's work).
    Repeat(ByteArray, usize),
}

/// How many copies of a repeated value one write takes.
const REPEAT_RUN: usize = 1024;

struct Column {
    values: Values,
    def: Option<Vec<i16>>,
    rep: Option<Vec<i16>>,
}

/// A value, or a null at the definition level it is null at.
enum Leaf<T> {
    Value(T),
    Null(i16),
}

/// A leaf one optional level deep: an optional leaf under required
/// groups, or a required leaf in an optional group (there with it).
fn leaf<'v>(value: Option<&'v Cow<'_, str>>) -> Leaf<&'v [u8]> {
    value.map_or(Leaf::Null(0), |v| Leaf::Value(v.as_bytes()))
}

/// Values as Parquet's `ByteArray`s without copying them where they can
/// be shared: text an event borrowed from its raw object is a slice of
/// the object's buffer, and other text (the activity's caption, an
/// unescaped statement) is copied once for a run of equal values. A copy
/// per value was most of the encoder's work.
struct Share<'s> {
    source: &'s Bytes,
    /// Copies of recent values that are not in `source`.
    recent: Vec<Bytes>,
}

impl<'s> Share<'s> {
    fn new(source: &'s Bytes) -> Share<'s> {
        Share { source, recent: Vec::new() }
    }

    fn of(&mut self, value: &[u8]) -> ByteArray {
        if value.is_empty() {
            return ByteArray::from(Bytes::new());
        }
        let (at, end) = (self.source.as_ptr() as usize, self.source.as_ptr() as usize + self.source.len());
        if (at..end).contains(&(value.as_ptr() as usize)) && value.as_ptr() as usize + value.len() <= end {
            return ByteArray::from(self.source.slice_ref(value));
        }
        let same = |b: &&Bytes| (b.as_ptr() == value.as_ptr() && b.len() == value.len()) || b.as_ref() == value;
        if let Some(copy) = self.recent.iter().find(same) {
            return ByteArray::from(copy.clone());
        }
        let copy = Bytes::copy_from_slice(value);
        if self.recent.len() == RECENT_COPIES {
            self.recent.remove(0);
        }
        self.recent.push(copy.clone());
        ByteArray::from(copy)
    }
}

/// How many distinct copied values `Share` keeps: enough for the captions
/// a row group alternates between.
const RECENT_COPIES: usize = 8;

/// One row group's columns, each made when the writer asks for it (so
/// only one column's values are held at a time).
struct RowGroup<'e, 'a> {
    events: &'e [&'e OcsfEvent<'a>],
    from: &'e Provenance<'e>,
    source: &'e Bytes,
}

impl RowGroup<'_, '_> {
    fn rows(&self) -> usize {
        self.events.len()
    }

    fn required_i32(&self, f: impl Fn(&OcsfEvent) -> i32) -> Column {
        Column { values: Values::I32(self.events.iter().map(|e| f(e)).collect()), def: None, rep: None }
    }

    fn required_i64(&self, f: impl Fn(&OcsfEvent) -> i64) -> Column {
        Column { values: Values::I64(self.events.iter().map(|e| f(e)).collect()), def: None, rep: None }
    }

    fn optional_i32(&self, f: impl Fn(&OcsfEvent) -> Option<i32>) -> Column {
        let values: Vec<i32> = self.events.iter().filter_map(|e| f(e)).collect();
        let def = self.events.iter().map(|e| i16::from(f(e).is_some())).collect();
        Column { values: Values::I32(values), def: Some(def), rep: None }
    }

    fn required_text<'e>(&'e self, f: impl Fn(&'e OcsfEvent) -> &'e [u8]) -> Column {
        let mut share = Share::new(self.source);
        Column { values: Values::Bytes(self.events.iter().map(|e| share.of(f(e))).collect()), def: None, rep: None }
    }

    /// Text that is one of a few constants (a caption): no copy at all.
    fn static_text(&self, f: impl Fn(&OcsfEvent) -> &'static str) -> Column {
        let values = self.events.iter().map(|e| ByteArray::from(Bytes::from_static(f(e).as_bytes()))).collect();
        Column { values: Values::Bytes(values), def: None, rep: None }
    }

    /// A constant of the schema on every row.
    fn schema_constant(&self, text: &'static str) -> Column {
        let value = ByteArray::from(Bytes::from_static(text.as_bytes()));
        Column { values: Values::Repeat(value, self.rows()), def: None, rep: None }
    }

    /// The same text on every row (a constant of the object).
    fn constant(&self, text: &str) -> Column {
        let value = ByteArray::from(Bytes::copy_from_slice(text.as_bytes()));
        Column { values: Values::Repeat(value, self.rows()), def: None, rep: None }
    }

    /// A constant of the object that it may not have (then null on every
    /// row).
    fn optional_constant(&self, text: Option<&str>) -> Column {
        let (value, level) = match text {
            Some(text) => (ByteArray::from(Bytes::copy_from_slice(text.as_bytes())), 1),
            None => (ByteArray::new(), 0),
        };
        let values = Values::Repeat(value, if level == 1 { self.rows() } else { 0 });
        Column { values, def: Some(vec![level; self.rows()]), rep: None }
    }

    /// A leaf that may be absent, under groups that are always there
    /// (`depth` optional levels above it that are present: 0 or more) or
    /// that are absent with it. `f` gives `Null` for a null; its
    /// definition level is `depth + 1` when present.
    fn optional_text<'e>(&'e self, depth: i16, f: impl Fn(&'e OcsfEvent) -> Leaf<&'e [u8]>) -> Column {
        let (mut values, mut def) = (Vec::new(), Vec::with_capacity(self.rows()));
        let mut share = Share::new(self.source);
        for &e in self.events {
            match f(e) {
                Leaf::Value(v) => {
                    values.push(share.of(v));
                    def.push(depth + 1);
                }
                Leaf::Null(level) => def.push(level),
            }
        }
        Column { values: Values::Bytes(values), def: Some(def), rep: None }
    }

    /// Numbers as text (OCSF's ids and codes are strings), written into
    /// one buffer that every value is a slice of.
    fn optional_number<'e>(&'e self, depth: i16, f: impl Fn(&'e OcsfEvent) -> Leaf<i64>) -> Column {
        let mut texts = Texts::default();
        let mut def = Vec::with_capacity(self.rows());
        let mut digits = itoa::Buffer::new();
        for &e in self.events {
            match f(e) {
                Leaf::Value(n) => {
                    texts.push(&[digits.format(n).as_bytes()]);
                    def.push(depth + 1);
                }
                Leaf::Null(level) => def.push(level),
            }
        }
        Column { values: Values::Bytes(texts.finish()), def: Some(def), rep: None }
    }

    /// `metadata.uid`: `{raw key}#{offset}`, made here rather than held
    /// by every event.
    fn event_uids(&self) -> Column {
        let mut texts = Texts::default();
        let mut digits = itoa::Buffer::new();
        for e in self.events {
            texts.push(&[self.from.raw_key.as_bytes(), b"#", digits.format(e.raw_offset).as_bytes()]);
        }
        Column { values: Values::Bytes(texts.finish()), def: None, rep: None }
    }

    /// `metadata.profiles`, the same list on every row: each element at the
    /// list's one repeated level, the first of a row at repetition 0.
    fn profiles(&self) -> Column {
        let rows = self.rows();
        let per_row = PROFILES.len();
        let names: Vec<ByteArray> =
            PROFILES.iter().map(|p| ByteArray::from(Bytes::from_static(p.as_bytes()))).collect();
        let values = (0..rows).flat_map(|_| names.iter().cloned()).collect();
        let def = vec![1; rows * per_row];
        let rep = (0..rows).flat_map(|_| (0..per_row).map(|i| i16::from(i > 0))).collect();
        Column { values: Values::Bytes(values), def: Some(def), rep: Some(rep) }
    }

    /// The column of `SCHEMA`'s leaf number `leaf`.
    fn column(&self, number: usize) -> Column {
        let product = self.from.product();
        let text = |t| leaf(Option::as_ref(t));
        match number {
            0 => self.required_i32(|e| e.activity_id),
            1 => self.required_text(|e| e.activity_name.as_bytes()),
            2 => self.required_i32(|_| CATEGORY_UID),
            3 => self.schema_constant(CATEGORY_NAME),
            4 => self.required_i32(|_| CLASS_UID),
            5 => self.schema_constant(CLASS_NAME),
            6 => self.required_i64(|e| e.type_uid),
            7 => self.static_text(|e| e.type_name),
            // The class's datastore type: 1, Database.
            8 => self.required_i32(|_| 1),
            9 => self.required_i32(|_| SEVERITY_ID),
            10 => self.schema_constant("Informational"),
            11 | 12 => self.required_i64(|e| e.time_ms),
            13 => self.required_i32(|e| e.status_id),
            14 => self.static_text(|e| e.status),
            15 => self.optional_number(0, |e| e.retcode.map_or(Leaf::Null(0), Leaf::Value)),
            // metadata
            16 => self.schema_constant(OCSF_VERSION),
            17 => self.schema_constant(product.name),
            18 => self.schema_constant(product.vendor_name),
            19 => self.event_uids(),
            20 => self.optional_text(0, |e| text(&e.original_time)),
            21 => self.optional_number(0, |e| e.connection_id.map_or(Leaf::Null(0), |n| Leaf::Value(n as i64))),
            22 => self.schema_constant("auditship"),
            23 => self.profiles(),
            // actor.user.name
            24 => self.optional_text(0, |e| text(&e.user)),
            // src_endpoint
            25 => self.optional_text(0, |e| text(&e.src_ip)),
            26 => self.optional_text(0, |e| text(&e.src_hostname)),
            27 => self.optional_i32(|e| e.src_port),
            // dst_endpoint
            28 => self.optional_text(0, |e| text(&e.dst_hostname)),
            29 => self.constant(self.from.instance),
            30 => self.constant(self.from.dbi_resource_id),
            // database
            31 => self.optional_text(0, |e| text(&e.database)),
            32 => self.required_i32(|_| 1),
            33 => self.schema_constant(product.database_type),
            // table.name: the group is there exactly when the name is
            34 => self.optional_text(0, |e| text(&e.table)),
            // query_info.query_string, query_info.uid
            35 => self.optional_text(0, |e| text(&e.query)),
            36 => self.optional_number(1, |e| match (&e.query, e.query_id) {
                (None, _) => Leaf::Null(0),
                (Some(_), None) => Leaf::Null(1),
                (Some(_), Some(id)) => Leaf::Value(id as i64),
            }),
            // cloud
            37 => self.schema_constant("AWS"),
            38 => self.constant(self.from.region),
            39 => self.optional_constant(self.from.account),
            40 => self.optional_text(0, |e| text(&e.raw_data)),
            // unmapped
            41 => self.constant(self.from.instance),
            42 => self.optional_constant(self.from.cluster),
            43 => self.constant(self.from.dbi_resource_id),
            44 => self.constant(self.from.raw_key),
            45 => self.required_i64(|e| e.raw_offset as i64),
            46 => self.required_i64(|e| e.raw_length as i64),
            47 => self.optional_text(0, |e| text(&e.operation)),
            48 => self.optional_text(0, |e| e.statement.as_deref().map_or(Leaf::Null(0), Leaf::Value)),
            49 => {
                self.optional_text(0, |e| e.parse_error.as_deref().map_or(Leaf::Null(0), |p| Leaf::Value(p.as_bytes())))
            }
            _ => unreachable!("SCHEMA has {LEAVES} leaves"),
        }
    }
}

/// A column's values into its writer.
fn write_column(writer: &mut ColumnWriter<'_>, column: Column) -> Result<(), ParquetError> {
    let (def, rep) = (column.def.as_deref(), column.rep.as_deref());
    match column.values {
        Values::I32(v) => get_typed_column_writer_mut::<Int32Type>(writer).write_batch(&v, def, rep)?,
        Values::I64(v) => get_typed_column_writer_mut::<Int64Type>(writer).write_batch(&v, def, rep)?,
        Values::Bytes(v) => get_typed_column_writer_mut::<ByteArrayType>(writer).write_batch(&v, def, rep)?,
        Values::Repeat(value, count) => write_repeated(get_typed_column_writer_mut(writer), value, count, def)?,
    };
    Ok(())
}

/// `count` copies of `value` (with `def`, one level per row, when the
/// column is optional), a run at a time.
fn write_repeated(
    writer: &mut parquet::column::writer::ColumnWriterImpl<'_, ByteArrayType>,
    value: ByteArray,
    count: usize,
    def: Option<&[i16]>,
) -> Result<usize, ParquetError> {
    let run = vec![value; count.min(REPEAT_RUN)];
    let Some(def) = def else {
        let mut written = 0;
        while written < count {
            written += writer.write_batch(&run[..(count - written).min(REPEAT_RUN)], None, None)?;
        }
        return Ok(written);
    };
    // Optional: every row has its level; the values are those present.
    let mut present = 0;
    for levels in def.chunks(REPEAT_RUN) {
        let here = levels.iter().filter(|&&l| l > 0).count();
        present += writer.write_batch(&run[..here], Some(levels), None)?;
    }
    Ok(present)
}

/// How many leaf columns `SCHEMA` has.
const LEAVES: usize = 50;

/// `severity_id`: Informational.
const SEVERITY_ID: i32 = 1;

/// Texts made for a column, in one buffer that each value is a slice of.
#[derive(Default)]
struct Texts {
    buffer: Vec<u8>,
    ends: Vec<usize>,
}

impl Texts {
    fn push(&mut self, parts: &[&[u8]]) {
        for part in parts {
            self.buffer.extend_from_slice(part);
        }
        self.ends.push(self.buffer.len());
    }

    fn finish(self) -> Vec<ByteArray> {
        let buffer = Bytes::from(self.buffer);
        let mut start = 0;
        self.ends
            .into_iter()
            .map(|end| {
                let value = buffer.slice(start..end);
                start = end;
                ByteArray::from(value)
            })
            .collect()
    }
}

/// Leaves that differ on every row (a line's own id, offset, bytes): no
/// dictionary (it gains nothing but the cost of building one).
const UNIQUE_PER_ROW: [&[&str]; 6] = [
    &["metadata", "uid"],
    &["query_info", "query_string"],
    &["raw_data"],
    &["unmapped", "raw_offset"],
    &["unmapped", "statement"],
    &["query_info", "uid"],
];

/// The leaves with statistics (each row group's minimum and maximum), the
/// ones a query filters on: time, what happened, who, where. Computing
/// them for every other text column (raw lines, statements, the object's
/// constants) cost more than the rest of the encoding.
const WITH_STATISTICS: [&[&str]; 11] = [
    &["time"],
    &["time_dt"],
    &["activity_id"],
    &["type_uid"],
    &["status_id"],
    &["actor", "user", "name"],
    &["src_endpoint", "ip"],
    &["dst_endpoint", "name"],
    &["database", "name"],
    &["table", "name"],
    &["unmapped", "cluster"],
];

fn column_path(path: &[&str]) -> ColumnPath {
    ColumnPath::new(path.iter().map(|s| s.to_string()).collect())
}

/// Rows per row group: what one group's columns hold in memory at once
/// (a few MiB), however large the raw object.
pub const ROW_GROUP_ROWS: usize = 8192;

/// The leaves whose value is the same on every row of a file: the
/// schema's constants and the raw object's (its instance, region, key…).
/// Their chunk depends only on the number of rows, so it is encoded once
/// per file and copied into each row group of that size (encoding them,
/// hashing every value into a one-entry dictionary, was a fifth of the
/// encoder's work on short lines).
const CONSTANT_LEAVES: [usize; 23] =
    [2, 3, 4, 5, 8, 9, 10, 16, 17, 18, 22, 23, 29, 30, 32, 33, 37, 38, 39, 41, 42, 43, 44];

/// A constant leaf's encoded chunk for a row group of `rows`.
struct ConstantChunk {
    rows: usize,
    bytes: Bytes,
    close: ColumnCloseResult,
}

/// A Parquet file of events being written, a row group at a time.
pub struct EventFile {
    writer: SerializedFileWriter<Vec<u8>>,
    schema: SchemaDescPtr,
    props: WriterPropertiesPtr,
    /// By leaf, the chunk of each constant leaf last encoded, for the
    /// raw object `constants_of` (its key names all the object's constants).
    constants: HashMap<usize, ConstantChunk>,
    constants_of: String,
}

impl EventFile {
    pub fn new() -> Result<EventFile, ParquetError> {
        let schema = Arc::new(parse_message_type(SCHEMA)?);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_created_by(format!("auditship {}", env!("CARGO_PKG_VERSION")));
        let props =
            UNIQUE_PER_ROW.iter().fold(props, |p, path| p.set_column_dictionary_enabled(column_path(path), false));
        let props = Arc::new(
            WITH_STATISTICS
                .iter()
                .fold(props, |p, path| p.set_column_statistics_enabled(column_path(path), EnabledStatistics::Chunk))
                .build(),
        );
        let descriptor = Arc::new(SchemaDescriptor::new(schema.clone()));
        Ok(EventFile {
            writer: SerializedFileWriter::new(Vec::new(), schema, props.clone())?,
            schema: descriptor,
            props,
            constants: HashMap::new(),
            constants_of: String::new(),
        })
    }

    /// The chunk of constant leaf `leaf` for a row group of `group`,
    /// encoded on its own the first time (and again when the row count
    /// changes, as in a file's last group).
    fn constant_chunk(&mut self, group: &RowGroup<'_, '_>, leaf: usize) -> Result<&ConstantChunk, ParquetError> {
        let rows = group.rows();
        if self.constants.get(&leaf).is_none_or(|c| c.rows != rows) {
            let mut sink = TrackedWrite::new(Vec::new());
            let close = {
                let pages = Box::new(SerializedPageWriter::new(&mut sink));
                let mut writer = get_column_writer(self.schema.column(leaf), self.props.clone(), pages);
                write_column(&mut writer, group.column(leaf))?;
                match writer {
                    ColumnWriter::Int32ColumnWriter(w) => w.close()?,
                    ColumnWriter::Int64ColumnWriter(w) => w.close()?,
                    ColumnWriter::ByteArrayColumnWriter(w) => w.close()?,
                    _ => unreachable!("the schema has INT32, INT64 and BYTE_ARRAY leaves only"),
                }
            };
            let bytes = Bytes::from(sink.into_inner()?);
            self.constants.insert(leaf, ConstantChunk { rows, bytes, close });
        }
        Ok(&self.constants[&leaf])
    }

    /// One row group of `events` of the raw object `source` (which the
    /// events borrow from), sorted by time (then by where their line is,
    /// so the order is the same every time).
    pub fn write_row_group(
        &mut self,
        source: &Bytes,
        from: &Provenance<'_>,
        events: &[OcsfEvent<'_>],
    ) -> Result<(), ParquetError> {
        // References are sorted, not the events (hundreds of bytes each).
        let mut events: Vec<&OcsfEvent> = events.iter().collect();
        events.sort_by_key(|e| (e.time_ms, e.raw_offset));
        let group = RowGroup { events: &events, from, source };
        if self.constants_of != from.raw_key {
            self.constants.clear();
            from.raw_key.clone_into(&mut self.constants_of);
        }
        // The constant chunks first: the row group writer holds the file.
        for leaf in CONSTANT_LEAVES {
            self.constant_chunk(&group, leaf)?;
        }
        let mut writer = self.writer.next_row_group()?;
        for leaf in 0..LEAVES {
            if let Some(chunk) = self.constants.get(&leaf).filter(|_| CONSTANT_LEAVES.contains(&leaf)) {
                writer.append_column(&chunk.bytes, chunk.close.clone())?;
                continue;
            }
            let mut column_writer = writer.next_column()?.expect("a column for every leaf of the schema");
            write_column(column_writer.untyped(), group.column(leaf))?;
            column_writer.close()?;
        }
        assert!(writer.next_column()?.is_none(), "SCHEMA has {LEAVES} leaves");
        writer.close()?;
        Ok(())
    }

    /// The file's bytes, footer included.
    pub fn finish(self) -> Result<Vec<u8>, ParquetError> {
        self.writer.into_inner()
    }
}

/// The events of the raw object `source` as one Parquet file: row groups
/// of `ROW_GROUP_ROWS`, each sorted by time.
pub fn encode(source: &Bytes, from: &Provenance<'_>, events: &[OcsfEvent<'_>]) -> Result<Vec<u8>, ParquetError> {
    let mut file = EventFile::new()?;
    for group in events.chunks(ROW_GROUP_ROWS) {
        file.write_row_group(source, from, group)?;
    }
    file.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ocsf::object_events;
    use crate::events::parse::Dialect;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    const FROM: Provenance<'static> = Provenance {
        dialect: Dialect::MariaDb,
        instance: "shop-1",
        cluster: Some("shop"),
        dbi_resource_id: "db-R",
        region: "eu-west-1",
        account: None,
        raw_key: "p/shop/shop-1/dt=2026-11-21/f/00000000000000000000.log.gz",
    };

    fn sample() -> Bytes {
        Bytes::from_static(
            b"20261121 22:43:58,vm,app,10.0.0.7:50412,9,2,QUERY,shop,'SELECT \\'\xff\\'',0\n\
              20261121 22:43:57,vm,app,10.0.0.7:50412,9,0,FAILED_CONNECT,,,1045\n\
              garbage\n\
              20261121 22:43:59,vm,app,10.0.0.7:50412,9,3,QUERY,shop,'SELECT \\'caf\xc3\xa9\\'',0\n",
        )
    }

    fn field(row: &parquet::record::Row, path: &[&str]) -> Field {
        let mut fields = row.get_column_iter();
        let (_, mut value) = fields.find(|(name, _)| *name == path[0]).unwrap();
        for name in &path[1..] {
            let Field::Group(group) = value else { panic!("{path:?}: {value:?}") };
            value = group.get_column_iter().find(|(n, _)| *n == name).map(|(_, v)| v).unwrap();
        }
        value.clone()
    }

    #[test]
    fn every_event_is_a_row_with_its_fields_in_their_ocsf_places() {
        let object = sample();
        let events = object_events(&object, 0, chrono::DateTime::UNIX_EPOCH);
        let bytes = encode(&object, &FROM, &events).unwrap();
        assert_eq!(encode(&object, &FROM, &events).unwrap(), bytes, "the same events, the same bytes");
        // Text the events borrowed from elsewhere than the object named
        // is copied, to the same file.
        assert_eq!(encode(&Bytes::new(), &FROM, &events).unwrap(), bytes, "copied or shared, the same bytes");
        let reader = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 4);
        let rows: Vec<parquet::record::Row> = reader.get_row_iter(None).unwrap().map(Result::unwrap).collect();
        // Sorted by time: the failed login (22:43:57), then the garbage
        // line after it (it takes the time of the line before it), then
        // the queries (22:43:58, 22:43:59).
        assert_eq!(field(&rows[0], &["activity_id"]), Field::Int(3));
        assert_eq!(field(&rows[0], &["type_name"]), Field::Str("Datastore Activity: Connect".into()));
        assert_eq!(field(&rows[0], &["status_code"]), Field::Str("1045".into()));
        assert_eq!(field(&rows[0], &["metadata", "correlation_uid"]), Field::Str("9".into()));
        assert_eq!(field(&rows[0], &["src_endpoint", "port"]), Field::Int(50412));
        assert_eq!(field(&rows[0], &["table"]), Field::Null);
        assert_eq!(field(&rows[1], &["activity_id"]), Field::Int(0));
        assert_eq!(field(&rows[1], &["query_info"]), Field::Null);
        assert_eq!(field(&rows[1], &["raw_data"]), Field::Str("garbage".into()));
        assert_eq!(field(&rows[1], &["status_code"]), Field::Null);
        assert_eq!(field(&rows[2], &["query_info", "query_string"]), Field::Str("SELECT '\u{fffd}'".into()));
        assert_eq!(field(&rows[2], &["query_info", "uid"]), Field::Str("2".into()));
        assert_eq!(field(&rows[2], &["unmapped", "statement"]), Field::Bytes(b"SELECT '\xff'".to_vec().into()));
        assert_eq!(field(&rows[2], &["actor", "user", "name"]), Field::Str("app".into()));
        assert_eq!(field(&rows[3], &["query_info", "query_string"]), Field::Str("SELECT 'caf\u{e9}'".into()));
        assert_eq!(field(&rows[3], &["unmapped", "statement"]), Field::Null, "UTF-8: the text is exact");
        for (row, event) in rows.iter().zip([&events[1], &events[2], &events[0], &events[3]]) {
            assert_eq!(field(row, &["unmapped", "raw_offset"]), Field::Long(event.raw_offset as i64));
            assert_eq!(field(row, &["metadata", "uid"]), Field::Str(event.uid(&FROM)));
            assert_eq!(field(row, &["class_uid"]), Field::Int(6005));
            assert_eq!(field(row, &["metadata", "version"]), Field::Str("1.3.0".into()));
            assert_eq!(field(row, &["metadata", "product", "name"]), Field::Str("MariaDB Audit Plugin".into()));
            assert_eq!(field(row, &["dst_endpoint", "name"]), Field::Str("shop-1".into()));
            assert_eq!(field(row, &["unmapped", "cluster"]), Field::Str("shop".into()));
            assert_eq!(field(row, &["unmapped", "raw_key"]), Field::Str(FROM.raw_key.into()));
            assert_eq!(field(row, &["cloud", "account"]), Field::Null);
        }
    }

    /// The constant leaves' chunks are encoded once and copied into each
    /// row group of their size: every row of every group reads back right,
    /// the last (shorter) group too, and another object's constants are
    /// its own.
    #[test]
    fn constants_copied_into_many_row_groups_read_back_on_every_row() {
        let line = b"20261121 22:43:58,vm,app,10.0.0.7:50412,9,2,QUERY,shop,'SELECT 1',0\n";
        let object = Bytes::from(line.repeat(2 * ROW_GROUP_ROWS + 5));
        let events = object_events(&object, 0, chrono::DateTime::UNIX_EPOCH);
        let other = Provenance { instance: "shop-2", raw_key: "p/other", cluster: None, ..FROM };
        let mut file = EventFile::new().unwrap();
        for (n, group) in events.chunks(ROW_GROUP_ROWS).enumerate() {
            file.write_row_group(&object, if n == 1 { &other } else { &FROM }, group).unwrap();
        }
        let reader = SerializedFileReader::new(Bytes::from(file.finish().unwrap())).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        assert_eq!(reader.metadata().file_metadata().num_rows() as usize, events.len());
        for (n, row) in reader.get_row_iter(None).unwrap().map(Result::unwrap).enumerate() {
            let (instance, key, cluster) = match n / ROW_GROUP_ROWS {
                1 => ("shop-2", "p/other", Field::Null),
                _ => ("shop-1", FROM.raw_key, Field::Str("shop".into())),
            };
            assert_eq!(field(&row, &["dst_endpoint", "name"]), Field::Str(instance.into()), "row {n}");
            assert_eq!(field(&row, &["unmapped", "raw_key"]), Field::Str(key.into()), "row {n}");
            assert_eq!(field(&row, &["unmapped", "cluster"]), cluster, "row {n}");
            assert_eq!(field(&row, &["class_uid"]), Field::Int(6005), "row {n}");
            assert_eq!(field(&row, &["cloud", "region"]), Field::Str("eu-west-1".into()), "row {n}");
            assert_eq!(field(&row, &["unmapped", "raw_offset"]), Field::Long((n * line.len()) as i64), "row {n}");
        }
    }

    #[test]
    fn no_events_is_a_file_with_no_rows() {
        let reader = SerializedFileReader::new(Bytes::from(encode(&Bytes::new(), &FROM, &[]).unwrap())).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    }
}
