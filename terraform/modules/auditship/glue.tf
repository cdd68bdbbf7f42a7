# An Athena table over the objects as they land: partition projection on the
# key layout {prefix}/{cluster|standalone}/{instance}/dt=YYYY-MM-DD/…, so no
# crawler or MSCK REPAIR is needed. Queries name the cluster and instance
# (injected projection) and a dt range:
#   SELECT * FROM auditship.audit_log
#   WHERE cluster = 'prod-shop' AND instance = 'shop-1' AND dt BETWEEN '2026-11-20' AND '2026-11-21'

locals {
  # The objects' root, with or without a prefix (never "bucket//").
  table_root = local.prefix == "" ? "s3://${var.bucket_name}/" : "s3://${var.bucket_name}/${local.prefix}/"
}

resource "aws_glue_catalog_database" "this" {
  count = var.create_glue_table ? 1 : 0
  name  = var.glue_database_name
}

resource "aws_glue_catalog_table" "audit_log" {
  count         = var.create_glue_table ? 1 : 0
  name          = "audit_log"
  database_name = aws_glue_catalog_database.this[0].name
  table_type    = "EXTERNAL_TABLE"
  parameters = {
    EXTERNAL                      = "TRUE"
    "projection.enabled"          = "true"
    "projection.cluster.type"     = "injected"
    "projection.instance.type"    = "injected"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "1970-01-01,NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "storage.location.template"   = "${local.table_root}$${cluster}/$${instance}/dt=$${dt}/"
    "classification"              = "csv"
    "compressionType"             = "gzip"
    "skip.header.line.count"      = "0"
  }
  partition_keys {
    name = "cluster"
    type = "string"
  }
  partition_keys {
    name = "instance"
    type = "string"
  }
  partition_keys {
    name = "dt"
    type = "string"
  }
  storage_descriptor {
    location      = local.table_root
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    ser_de_info {
      # The audit plugin's line: fields by commas, the statement in single
      # quotes with backslash escapes.
      serialization_library = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
      parameters = {
        separatorChar = ","
        quoteChar     = "'"
        escapeChar    = "\\"
      }
    }
    # MariaDB plugin: timestamp is "YYYYMMDD HH:MM:SS"; Aurora MySQL: Unix
    # microseconds. Both as text; convert in the query.
    columns {
      name = "timestamp"
      type = "string"
    }
    columns {
      name = "serverhost"
      type = "string"
    }
    columns {
      name = "username"
      type = "string"
    }
    columns {
      name = "host"
      type = "string"
    }
    columns {
      name = "connectionid"
      type = "string"
    }
    columns {
      name = "queryid"
      type = "string"
    }
    columns {
      name = "operation"
      type = "string"
    }
    columns {
      name = "database"
      type = "string"
    }
    columns {
      name = "object"
      type = "string"
    }
    columns {
      name = "retcode"
      type = "string"
    }
  }
}

# The derived events (run --events): OCSF 1.3.0 Datastore Activity in
# Parquet, one partition per UTC day of the records, projected (nothing to
# load). docs/events.md has the columns.
#   SELECT time_dt, actor.user.name, query_info.query_string FROM auditship.events
#   WHERE eventday BETWEEN '20261101' AND '20261130' AND activity_id = 7
locals {
  events_root = "${local.table_root}_events/${var.redact_events ? "ocsf-redacted" : "ocsf"}/"
  event_columns = {
    activity_id   = "int"
    activity_name = "string"
    category_uid  = "int"
    category_name = "string"
    class_uid     = "int"
    class_name    = "string"
    type_uid      = "bigint"
    type_name     = "string"
    type_id       = "int"
    severity_id   = "int"
    severity      = "string"
    time          = "bigint"
    time_dt       = "timestamp"
    status_id     = "int"
    status        = "string"
    status_code   = "string"
    metadata      = "struct<version:string,product:struct<name:string,vendor_name:string>,uid:string,original_time:string,correlation_uid:string,log_provider:string,profiles:array<string>>"
    actor         = "struct<user:struct<name:string>>"
    src_endpoint  = "struct<ip:string,hostname:string,port:int>"
    dst_endpoint  = "struct<hostname:string,name:string,uid:string>"
    database      = "struct<name:string,type_id:int,type:string>"
    table         = "struct<name:string>"
    query_info    = "struct<query_string:string,uid:string>"
    cloud         = "struct<provider:string,region:string,account:struct<uid:string>>"
    raw_data      = "string"
    unmapped      = "struct<instance:string,cluster:string,dbi_resource_id:string,raw_key:string,raw_offset:bigint,raw_length:bigint,operation:string,statement:binary,parse_error:string>"
  }
  # The file's column order.
  event_column_order = [
    "activity_id", "activity_name", "category_uid", "category_name", "class_uid", "class_name", "type_uid",
    "type_name", "type_id", "severity_id", "severity", "time", "time_dt", "status_id", "status", "status_code",
    "metadata", "actor", "src_endpoint", "dst_endpoint", "database", "table", "query_info", "cloud", "raw_data",
    "unmapped",
  ]
}

resource "aws_glue_catalog_table" "events" {
  count         = local.events_table ? 1 : 0
  name          = "events"
  database_name = aws_glue_catalog_database.this[0].name
  table_type    = "EXTERNAL_TABLE"
  parameters = {
    EXTERNAL                            = "TRUE"
    "projection.enabled"                = "true"
    "projection.eventday.type"          = "date"
    "projection.eventday.format"        = "yyyyMMdd"
    "projection.eventday.range"         = "19700101,NOW"
    "projection.eventday.interval"      = "1"
    "projection.eventday.interval.unit" = "DAYS"
    "storage.location.template"         = "${local.events_root}eventday=$${eventday}/"
    "classification"                    = "parquet"
  }
  partition_keys {
    name = "eventday"
    type = "string"
  }
  storage_descriptor {
    location      = local.events_root
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    dynamic "columns" {
      for_each = local.event_column_order
      content {
        name = columns.value
        type = local.event_columns[columns.value]
      }
    }
  }
}
