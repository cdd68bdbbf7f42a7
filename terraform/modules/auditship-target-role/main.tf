# The role auditship assumes in an account whose instances it reads (a
# `targets` entry with account_id in the auditship module). Apply this in
# that account. It grants exactly the RDS calls the worker makes there; the
# bucket stays in the auditship account, so the role needs no S3 access.

data "aws_partition" "current" {}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.trusted_role_arn]
    }
    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "reader" {
  name                 = var.name
  description          = "auditship reads RDS audit logs from here for ${var.trusted_role_arn}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "read" {
  # BEGIN auditship target actions
  statement {
    sid       = "DiscoverInstances"
    actions   = ["rds:DescribeDBInstances", "rds:DescribeDBClusters"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadAuditLogs"
    actions   = ["rds:DescribeDBLogFiles", "rds:DownloadCompleteDBLogFile"]
    resources = var.rds_instance_arns
  }
  # END auditship target actions
}

resource "aws_iam_role_policy" "read" {
  name   = "auditship-read-audit-logs"
  role   = aws_iam_role.reader.id
  policy = data.aws_iam_policy_document.read.json
}
