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
