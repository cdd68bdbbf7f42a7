//! OCSF events as one Parquet file, with OCSF's nested layout (`actor.user.name`,
//! `src_endpoint.ip`, …) so Athena, DuckDB and Security Lake read the
//! attributes by their OCSF names. Snappy-compressed, dictionary-encoded,
//! written a row group of `ROW_GROUP_ROWS` at a time (so memory does not
//! grow with the raw object), each sorted by time (as Security Lake asks). The bytes
//! depend only on the events, so writing the same events twice gives the
//! same object.

use super::ocsf::{OcsfEvent, CATEGORY_NAME, CATEGORY_UID, CLASS_NAME, CLASS_UID, OCSF_VERSION, PROFILES};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
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
}

struct Column {
    values: Values,
    def: Option<Vec<i16>>,
    rep: Option<Vec<i16>>,
}

fn required_i32(events: &[&OcsfEvent], f: impl Fn(&OcsfEvent) -> i32) -> Column {
    Column { values: Values::I32(events.iter().map(|e| f(e)).collect()), def: None, rep: None }
}

fn required_i64(events: &[&OcsfEvent], f: impl Fn(&OcsfEvent) -> i64) -> Column {
    Column { values: Values::I64(events.iter().map(|e| f(e)).collect()), def: None, rep: None }
}

fn required_bytes<'e>(events: &[&'e OcsfEvent], f: impl Fn(&'e OcsfEvent) -> &'e [u8]) -> Column {
    let mut shared = Shared::default();
    Column { values: Values::Bytes(events.iter().map(|e| shared.of(f(e))).collect()), def: None, rep: None }
}

/// The same text on every row (a constant of the schema): one buffer.
fn constant_bytes(rows: usize, text: &'static str) -> Column {
    let value = ByteArray::from(bytes::Bytes::from_static(text.as_bytes()));
    Column { values: Values::Bytes(vec![value; rows]), def: None, rep: None }
}

/// Values as `ByteArray`s, a run of equal ones sharing one buffer: most
/// columns repeat from row to row (the instance, the raw key, the user,
/// the database), and a copy per row was most of the encoder's work.
#[derive(Default)]
struct Shared {
    last: Option<bytes::Bytes>,
}

impl Shared {
    fn of(&mut self, value: &[u8]) -> ByteArray {
        match &self.last {
            Some(last) if last.as_ref() == value => ByteArray::from(last.clone()),
            _ => {
                let bytes = bytes::Bytes::copy_from_slice(value);
                self.last = Some(bytes.clone());
                ByteArray::from(bytes)
            }
        }
    }
}

/// A leaf that may be absent, under groups that are always there
/// (`depth` optional levels above it that are present: 0 or more) or that
/// are absent with it. `f` gives `None` for a null; its definition level is
/// `depth + 1` when present.
fn optional_bytes<'e>(events: &[&'e OcsfEvent], depth: i16, f: impl Fn(&'e OcsfEvent) -> Leaf<&'e [u8]>) -> Column {
    let (mut values, mut def) = (Vec::new(), Vec::with_capacity(events.len()));
    let mut shared = Shared::default();
    for &e in events {
        match f(e) {
            Leaf::Value(v) => {
                values.push(shared.of(v));
                def.push(depth + 1);
            }
            Leaf::Null(level) => def.push(level),
        }
    }
    Column { values: Values::Bytes(values), def: Some(def), rep: None }
}

fn optional_i32(events: &[&OcsfEvent], f: impl Fn(&OcsfEvent) -> Option<i32>) -> Column {
    let values: Vec<i32> = events.iter().filter_map(|e| f(e)).collect();
    let def = events.iter().map(|e| i16::from(f(e).is_some())).collect();
    Column { values: Values::I32(values), def: Some(def), rep: None }
}

/// A value, or a null at the definition level it is null at.
enum Leaf<T> {
    Value(T),
    Null(i16),
}

/// A leaf one optional level deep: an optional leaf under required
/// groups, or a required leaf in an optional group (there with it).
fn leaf(value: Option<&str>) -> Leaf<&[u8]> {
    value.map_or(Leaf::Null(0), |v| Leaf::Value(v.as_bytes()))
}

/// The columns in `SCHEMA`'s leaf order.
fn columns(events: &[&OcsfEvent]) -> Vec<Column> {
    let rows = events.len();
    let s = |text: &'static str| constant_bytes(rows, text);
    vec![
        required_i32(events, |e| e.activity_id),
        required_bytes(events, |e| e.activity_name.as_bytes()),
        required_i32(events, |_| CATEGORY_UID),
        s(CATEGORY_NAME),
        required_i32(events, |_| CLASS_UID),
        s(CLASS_NAME),
        required_i64(events, |e| e.type_uid),
        required_bytes(events, |e| e.type_name.as_bytes()),
        // The class's datastore type: 1, Database.
        required_i32(events, |_| 1),
        required_i32(events, |e| e.severity_id),
        s("Informational"),
        required_i64(events, |e| e.time_ms),
        required_i64(events, |e| e.time_ms),
        required_i32(events, |e| e.status_id),
        required_bytes(events, |e| e.status.as_bytes()),
        optional_bytes(events, 0, |e| leaf(e.status_code.as_deref())),
        // metadata
        s(OCSF_VERSION),
        required_bytes(events, |e| e.product_name.as_bytes()),
        required_bytes(events, |e| e.vendor_name.as_bytes()),
        required_bytes(events, |e| e.uid.as_bytes()),
        optional_bytes(events, 0, |e| leaf(e.original_time.as_deref())),
        optional_bytes(events, 0, |e| leaf(e.correlation_uid.as_deref())),
        s("auditship"),
        profiles(rows),
        // actor.user.name
        optional_bytes(events, 0, |e| leaf(e.user.as_deref())),
        // src_endpoint
        optional_bytes(events, 0, |e| leaf(e.src_ip.as_deref())),
        optional_bytes(events, 0, |e| leaf(e.src_hostname.as_deref())),
        optional_i32(events, |e| e.src_port),
        // dst_endpoint
        optional_bytes(events, 0, |e| leaf(e.dst_hostname.as_deref())),
        required_bytes(events, |e| e.dst_name.as_bytes()),
        required_bytes(events, |e| e.dbi_resource_id.as_bytes()),
        // database
        optional_bytes(events, 0, |e| leaf(e.database.as_deref())),
        required_i32(events, |_| 1),
        required_bytes(events, |e| e.database_type.as_bytes()),
        // table.name: the group is there exactly when the name is
        optional_bytes(events, 0, |e| leaf(e.table.as_deref())),
        // query_info.query_string, query_info.uid
        optional_bytes(events, 0, |e| leaf(e.query.as_deref())),
        optional_bytes(events, 1, |e| match (&e.query, &e.query_uid) {
            (None, _) => Leaf::Null(0),
            (Some(_), None) => Leaf::Null(1),
            (Some(_), Some(uid)) => Leaf::Value(uid.as_bytes()),
        }),
        // cloud
        s("AWS"),
        required_bytes(events, |e| e.region.as_bytes()),
        optional_bytes(events, 0, |e| leaf(e.account.as_deref())),
        optional_bytes(events, 0, |e| leaf(e.raw_data.as_deref())),
        // unmapped
        required_bytes(events, |e| e.instance.as_bytes()),
        optional_bytes(events, 0, |e| leaf(e.cluster.as_deref())),
        required_bytes(events, |e| e.dbi_resource_id.as_bytes()),
        required_bytes(events, |e| e.raw_key.as_bytes()),
        required_i64(events, |e| e.raw_offset),
        required_i64(events, |e| e.raw_length),
        optional_bytes(events, 0, |e| leaf(e.operation.as_deref())),
        optional_bytes(events, 0, |e| e.statement.as_deref().map_or(Leaf::Null(0), Leaf::Value)),
        optional_bytes(events, 0, |e| leaf(e.parse_error.as_deref())),
    ]
}

/// `metadata.profiles`, the same list on every row: each element at the
/// list's one repeated level, the first of a row at repetition 0.
fn profiles(rows: usize) -> Column {
    let per_row = PROFILES.len();
    let names: Vec<ByteArray> =
        PROFILES.iter().map(|p| ByteArray::from(bytes::Bytes::from_static(p.as_bytes()))).collect();
    let values = (0..rows).flat_map(|_| names.iter().cloned()).collect();
    let def = vec![1; rows * per_row];
    let rep = (0..rows).flat_map(|_| (0..per_row).map(|i| i16::from(i > 0))).collect();
    Column { values: Values::Bytes(values), def: Some(def), rep: Some(rep) }
}

/// Leaves that differ on every row (a line's own id, offset, bytes).
const UNIQUE_PER_ROW: [&[&str]; 6] = [
    &["metadata", "uid"],
    &["query_info", "query_string"],
    &["raw_data"],
    &["unmapped", "raw_offset"],
    &["unmapped", "statement"],
    &["query_info", "uid"],
];

/// Rows per row group: what one group's columns hold in memory at once
/// (a few MiB), however large the raw object.
pub const ROW_GROUP_ROWS: usize = 8192;

/// A Parquet file of events being written, a row group at a time.
pub struct EventFile {
    writer: SerializedFileWriter<Vec<u8>>,
}

impl EventFile {
    pub fn new() -> Result<EventFile, ParquetError> {
        let schema = Arc::new(parse_message_type(SCHEMA)?);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_created_by(format!("auditship {}", env!("CARGO_PKG_VERSION")));
        // A column whose every value is its own gains nothing from a
        // dictionary but the cost of building one.
        let props = UNIQUE_PER_ROW
            .iter()
            .fold(props, |p, path| {
                p.set_column_dictionary_enabled(ColumnPath::new(path.iter().map(|s| s.to_string()).collect()), false)
            })
            .build();
        Ok(EventFile { writer: SerializedFileWriter::new(Vec::new(), schema, Arc::new(props))? })
    }

    /// One row group of `events`, sorted by time (then by where their
    /// line is, so the order is the same every time).
    pub fn write_row_group(&mut self, events: &[OcsfEvent]) -> Result<(), ParquetError> {
        // References are sorted, not the events (hundreds of bytes each).
        let mut events: Vec<&OcsfEvent> = events.iter().collect();
        events.sort_by(|a, b| (a.time_ms, &a.raw_key, a.raw_offset).cmp(&(b.time_ms, &b.raw_key, b.raw_offset)));
        let mut group = self.writer.next_row_group()?;
        let mut columns = columns(&events).into_iter();
        while let Some(mut writer) = group.next_column()? {
            let column = columns.next().expect("a column for every leaf of the schema");
            let (def, rep) = (column.def.as_deref(), column.rep.as_deref());
            match column.values {
                Values::I32(v) => writer.typed::<Int32Type>().write_batch(&v, def, rep)?,
                Values::I64(v) => writer.typed::<Int64Type>().write_batch(&v, def, rep)?,
                Values::Bytes(v) => writer.typed::<ByteArrayType>().write_batch(&v, def, rep)?,
            };
            writer.close()?;
        }
        assert!(columns.next().is_none(), "the schema has a leaf for every column");
        group.close()?;
        Ok(())
    }

    /// The file's bytes, footer included.
    pub fn finish(self) -> Result<Vec<u8>, ParquetError> {
        self.writer.into_inner()
    }
}

/// The events as one Parquet file: row groups of `ROW_GROUP_ROWS`, each
/// sorted by time.
pub fn encode(events: Vec<OcsfEvent>) -> Result<Vec<u8>, ParquetError> {
    let mut file = EventFile::new()?;
    for group in events.chunks(ROW_GROUP_ROWS) {
        file.write_row_group(group)?;
    }
    file.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ocsf::{object_events, Provenance};
    use crate::events::parse::Dialect;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    fn sample() -> Vec<OcsfEvent> {
        let from = Provenance {
            dialect: Dialect::MariaDb,
            instance: "shop-1",
            cluster: Some("shop"),
            dbi_resource_id: "db-R",
            region: "eu-west-1",
            account: None,
            raw_key: "p/shop/shop-1/dt=2026-11-21/f/00000000000000000000.log.gz",
        };
        let object = b"20261121 22:43:58,vm,app,10.0.0.7:50412,9,2,QUERY,shop,'SELECT \\'\xff\\'',0\n\
                       20261121 22:43:57,vm,app,10.0.0.7:50412,9,0,FAILED_CONNECT,,,1045\n\
                       garbage\n";
        object_events(object, 0, &from, chrono::DateTime::UNIX_EPOCH)
    }

    #[test]
    fn every_event_is_a_row_with_its_fields_in_their_ocsf_places() {
        let events = sample();
        let bytes = encode(events.clone()).unwrap();
        assert_eq!(encode(events.clone()).unwrap(), bytes, "the same events, the same bytes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let rows: Vec<parquet::record::Row> = reader.get_row_iter(None).unwrap().map(Result::unwrap).collect();
        let field = |row: &parquet::record::Row, path: &[&str]| -> Field {
            let mut fields = row.get_column_iter();
            let (_, mut value) = fields.find(|(name, _)| *name == path[0]).unwrap();
            for name in &path[1..] {
                let Field::Group(group) = value else { panic!("{path:?}: {value:?}") };
                value = group.get_column_iter().find(|(n, _)| *n == name).map(|(_, v)| v).unwrap();
            }
            value.clone()
        };
        // Sorted by time: the failed login (22:43:57), then the garbage
        // line after it (it takes the time of the line before it), then
        // the query (22:43:58).
        assert_eq!(field(&rows[0], &["activity_id"]), Field::Int(3));
        assert_eq!(field(&rows[0], &["status_code"]), Field::Str("1045".into()));
        assert_eq!(field(&rows[0], &["src_endpoint", "port"]), Field::Int(50412));
        assert_eq!(field(&rows[0], &["table"]), Field::Null);
        assert_eq!(field(&rows[1], &["activity_id"]), Field::Int(0));
        assert_eq!(field(&rows[1], &["query_info"]), Field::Null);
        assert_eq!(field(&rows[1], &["raw_data"]), Field::Str("garbage".into()));
        assert_eq!(field(&rows[2], &["query_info", "query_string"]), Field::Str("SELECT '\u{fffd}'".into()));
        assert_eq!(field(&rows[2], &["query_info", "uid"]), Field::Str("2".into()));
        assert_eq!(field(&rows[2], &["unmapped", "statement"]), Field::Bytes(b"SELECT '\xff'".to_vec().into()));
        assert_eq!(field(&rows[2], &["actor", "user", "name"]), Field::Str("app".into()));
        for (row, event) in rows.iter().zip([&events[1], &events[2], &events[0]]) {
            assert_eq!(field(row, &["unmapped", "raw_offset"]), Field::Long(event.raw_offset));
            assert_eq!(field(row, &["class_uid"]), Field::Int(6005));
            assert_eq!(field(row, &["metadata", "version"]), Field::Str("1.3.0".into()));
        }
    }

    #[test]
    fn no_events_is_a_file_with_no_rows() {
        let reader = SerializedFileReader::new(bytes::Bytes::from(encode(Vec::new()).unwrap())).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    }
}
