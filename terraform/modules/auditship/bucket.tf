# The destination bucket, when the module creates it: versioned, SSE-KMS,
# TLS only, no unconditional overwrite, no public access, colder storage
# with age, optional Object Lock.

resource "aws_kms_key" "bucket" {
  count               = local.creates_kms_key ? 1 : 0
  description         = "${var.name}: audit log bucket ${var.bucket_name}"
  enable_key_rotation = true
  tags                = var.tags
}

resource "aws_s3_bucket" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = var.bucket_name
  # Always on (it needs versioning, which the bucket has anyway): turning it
  # on later would replace the bucket. Retention is a separate setting.
  object_lock_enabled = true
  tags                = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  count                   = var.create_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.bucket_sse_kms ? "aws:kms" : "AES256"
      kms_master_key_id = var.bucket_sse_kms ? local.kms_key_arn : null
    }
    bucket_key_enabled = var.bucket_sse_kms
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  rule {
    id     = "audit-objects"
    status = "Enabled"
    filter {
      prefix = local.prefix == "" ? "" : "${local.prefix}/"
    }
    dynamic "transition" {
      for_each = var.transition_to_glacier_ir_days > 0 ? [1] : []
      content {
        days          = var.transition_to_glacier_ir_days
        storage_class = "GLACIER_IR"
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.expire_noncurrent_days
    }
    # A run killed mid-upload leaves its multipart upload open: harmless
    # (never completed), and removed here.
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

resource "aws_s3_bucket_object_lock_configuration" "this" {
  count  = var.create_bucket && var.object_lock_retention_days > 0 ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  count = var.create_bucket ? 1 : 0
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  # Every write must say what it expects (If-None-Match: the key is new;
  # If-Match: the version it replaces). Multipart parts carry no condition
  # and are exempt; their CompleteMultipartUpload is not.
  statement {
    sid       = "NoUnconditionalOverwrite"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = [local.objects_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["true"]
    }
    condition {
      test     = "Null"
      variable = "s3:if-match"
      values   = ["true"]
    }
    condition {
      test     = "Bool"
      variable = "s3:ObjectCreationOperation"
      values   = ["true"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count      = var.create_bucket ? 1 : 0
  bucket     = aws_s3_bucket.this[0].id
  policy     = data.aws_iam_policy_document.bucket[0].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
