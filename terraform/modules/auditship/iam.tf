# Roles. The task role grants exactly the API calls the binary makes; the
# statements between the BEGIN/END markers are compared with the code by
# tests/deploy.rs, so the two cannot drift.

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  # BEGIN auditship task actions
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
  statement {
    sid = "ListPrefix"
    # ListBucketVersions: verify names deleted and overwritten objects and
    # digests by their versions (with versioning, which Object Lock needs).
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.bucket_arn]
    # HeadBucket carries no prefix; every listing carries this one.
    condition {
      test     = "StringLikeIfExists"
      variable = "s3:prefix"
      values   = [local.prefix == "" ? "*" : "${local.prefix}/*"]
    }
  }
  statement {
    sid       = "BucketProtectionForDoctor"
    actions   = ["s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"]
    resources = [local.bucket_arn]
  }
  statement {
    sid = "ObjectsAndCheckpoints"
    # PutObjectRetention: objects and digests written with
    # --object-lock-mode carry their retention.
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload"]
    resources = [local.objects_arn]
  }
  dynamic "statement" {
    for_each = var.db_iam_auth ? [1] : []
    content {
      sid       = "DatabaseIamAuth"
      actions   = ["rds-db:connect"]
      resources = [for id in var.db_resource_ids : "arn:${local.partition}:rds-db:${local.region}:${local.account_id}:dbuser:${id}/${var.db_user}"]
    }
  }
  dynamic "statement" {
    for_each = length(local.target_roles) > 0 ? [1] : []
    content {
      sid       = "ReadOtherAccounts"
      actions   = ["sts:AssumeRole"]
      resources = values(local.target_roles)
    }
  }
  dynamic "statement" {
    for_each = var.sign_digests ? [1] : []
    content {
      sid       = "SignDigests"
      actions   = ["kms:Sign", "kms:GetPublicKey"]
      resources = [var.digest_signing_kms_key_arn]
    }
  }
  dynamic "statement" {
    for_each = local.security_lake_writes && var.security_lake_role_arn != null ? [1] : []
    content {
      sid       = "WriteEventsThroughSecurityLakeRole"
      actions   = ["sts:AssumeRole"]
      resources = [var.security_lake_role_arn]
    }
  }
  dynamic "statement" {
    for_each = local.security_lake_writes && var.security_lake_role_arn == null ? [1] : []
    content {
      sid       = "WriteEventsToSecurityLake"
      actions   = ["s3:PutObject"]
      resources = ["arn:${local.partition}:s3:::${local.security_lake_path}*"]
    }
  }
  # END auditship task actions
  dynamic "statement" {
    for_each = var.bucket_sse_kms ? [1] : []
    content {
      sid       = "BucketEncryption"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [local.kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "auditship"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# --- Execution role: pull the image, write logs, read the DB password ---------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secret" {
  count = var.db_password_from_secret ? 1 : 0
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_password_secret_arn]
  }
}

resource "aws_iam_role_policy" "execution_secret" {
  count  = var.db_password_from_secret ? 1 : 0
  name   = "db-password"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secret[0].json
}

# --- Scheduler and Step Functions: start tasks ------------------------------------

data "aws_iam_policy_document" "start_tasks" {
  statement {
    sid       = "RunTasks"
    actions   = ["ecs:RunTask"]
    resources = [for td in aws_ecs_task_definition.shard : "${td.arn_without_revision}:*"]
  }
  statement {
    sid       = "WatchTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["*"]
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
  }
  statement {
    sid       = "StartStateMachine"
    actions   = ["states:StartExecution"]
    resources = ["arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${var.name}"]
  }
  # Step Functions' .sync integration watches the task through this rule.
  statement {
    sid       = "SyncRule"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"]
  }
}

data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com", "states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "start_tasks" {
  count              = var.mode == "scheduled" ? 1 : 0
  name               = "${var.name}-start-tasks"
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "start_tasks" {
  count  = var.mode == "scheduled" ? 1 : 0
  name   = "start-tasks"
  role   = aws_iam_role.start_tasks[0].id
  policy = data.aws_iam_policy_document.start_tasks.json
}
