# auditship on ECS Fargate: image, task, schedule (or service), alarms,
# bucket, Athena table, endpoints. See ../../../README.md ("Deploy").

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  image       = var.image != "" ? var.image : "${aws_ecr_repository.this.repository_url}:${coalesce(var.image_tag, "unset")}"
  cluster_arn = var.create_ecs_cluster ? aws_ecs_cluster.this[0].arn : var.ecs_cluster_arn

  bucket_arn = "arn:${local.partition}:s3:::${var.bucket_name}"
  prefix     = trim(var.prefix, "/")
  # Where objects and checkpoints live: "bucket/prefix/*", or "bucket/*"
  # with no prefix (never "bucket//*").
  objects_arn = local.prefix == "" ? "${local.bucket_arn}/*" : "${local.bucket_arn}/${local.prefix}/*"
  # Whether a KMS key is in play is decided by booleans only: a key ARN
  # created in the same apply is unknown when planning.
  creates_kms_key = var.create_bucket && var.create_kms_key
  kms_key_arn     = local.creates_kms_key ? aws_kms_key.bucket[0].arn : var.kms_key_arn

  # Targets in another account: the role the task assumes there.
  target_roles = {
    for k, t in var.targets : k => "arn:${local.partition}:iam::${t.account_id}:role/${t.role_name}" if t.account_id != null
  }

  # A run must end before the next tick starts another.
  max_run_seconds = coalesce(var.max_run_seconds, floor(var.interval_seconds * 0.8))

  # Run tasks get database settings only for --discover sql: `run` never
  # logs in otherwise, and a user without a password would fail every run.
  environment = merge({
    AUDITSHIP_BUCKET            = var.bucket_name
    AUDITSHIP_BUCKET_REGION     = local.region
    AUDITSHIP_PREFIX            = local.prefix
    AUDITSHIP_LOG_FORMAT        = "json"
    AUDITSHIP_METRICS           = "emf"
    AUDITSHIP_METRICS_NAMESPACE = var.metrics_namespace
    AUDITSHIP_MAX_RUN_SECONDS   = tostring(local.max_run_seconds)
    }, var.discover_sql ? {
    AUDITSHIP_DISCOVER    = "sql"
    AUDITSHIP_DB_USER     = var.db_user
    AUDITSHIP_DB_IAM_AUTH = var.db_iam_auth ? "true" : "false"
    } : {}, var.sign_digests ? {
    AUDITSHIP_SIGNING_KMS_KEY_ID = var.digest_signing_kms_key_arn
    AUDITSHIP_DIGEST_PERIOD      = var.digest_period
    } : {}, var.derive_events ? {
    AUDITSHIP_EVENTS = "true"
    } : {}, var.derive_events && var.redact_events ? {
    AUDITSHIP_REDACT = "literals"
    } : {}, var.derive_events && var.security_lake_location != null ? {
    AUDITSHIP_SECURITY_LAKE_LOCATION = var.security_lake_location
    } : {}, var.derive_events && var.security_lake_role_arn != null ? {
    AUDITSHIP_SECURITY_LAKE_ROLE_ARN = var.security_lake_role_arn
    } : {}, var.derive_events && var.security_lake_external_id != null ? {
    AUDITSHIP_SECURITY_LAKE_EXTERNAL_ID = var.security_lake_external_id
  } : {}, var.extra_environment)

  # Per target: its own settings on top (shard name for the metrics, the
  # region and the role of another account).
  target_environment = {
    for k, t in var.targets : k => merge(local.environment, { AUDITSHIP_SHARD = k },
      t.region == null ? {} : { AUDITSHIP_REGION = t.region },
      t.account_id == null ? {} : { AUDITSHIP_ASSUME_ROLE = local.target_roles[k] },
    t.external_id == null ? {} : { AUDITSHIP_EXTERNAL_ID = t.external_id })
  }

  # One command per target; the service mode repeats it every interval.
  commands = {
    for k, t in var.targets : k => concat(
      ["run"],
      t.selection,
      var.mode == "service" ? ["--interval", "${var.interval_seconds}s"] : []
    )
  }

  # Events into a Security Lake custom source rather than the trail's bucket.
  security_lake_writes = var.derive_events && var.security_lake_location != null
  security_lake_path   = var.security_lake_location == null ? "" : "${trimsuffix(trimprefix(var.security_lake_location, "s3://"), "/")}/"
  # The Athena table over {prefix}/_events/ (Security Lake makes its own).
  events_table = var.create_glue_table && var.derive_events && var.security_lake_location == null

  alarm_topic_arn = var.create_alarm_topic ? aws_sns_topic.alarms[0].arn : var.alarm_topic_arn
  log_group_name  = "/ecs/${var.name}"
}

# Combinations of inputs that would fail later, at apply or at run time.
resource "terraform_data" "input_checks" {
  lifecycle {
    precondition {
      condition     = !var.discover_sql || (var.db_user != "" && (var.db_password_from_secret || var.db_iam_auth))
      error_message = "discover_sql needs db_user and a password (db_password_from_secret with db_password_secret_arn) or db_iam_auth."
    }
    precondition {
      condition     = !var.db_password_from_secret || var.db_password_secret_arn != ""
      error_message = "db_password_from_secret needs db_password_secret_arn."
    }
    precondition {
      condition     = !var.db_iam_auth || (var.db_user != "" && length(var.db_resource_ids) > 0)
      error_message = "db_iam_auth needs db_user and db_resource_ids (the DbiResourceIds rds-db:connect is granted on)."
    }
    precondition {
      condition     = !local.creates_kms_key || var.bucket_sse_kms
      error_message = "create_kms_key makes an SSE-KMS bucket: keep bucket_sse_kms true."
    }
    precondition {
      condition     = local.creates_kms_key || !var.bucket_sse_kms || var.kms_key_arn != ""
      error_message = "bucket_sse_kms without create_kms_key needs kms_key_arn (or set bucket_sse_kms false for S3-managed keys)."
    }
    precondition {
      condition     = !var.sign_digests || var.digest_signing_kms_key_arn != ""
      error_message = "sign_digests needs digest_signing_kms_key_arn (an asymmetric SIGN_VERIFY KMS key)."
    }
    precondition {
      condition     = var.derive_events || (var.security_lake_location == null && var.security_lake_role_arn == null)
      error_message = "security_lake_location and security_lake_role_arn say where derived events go: they need derive_events = true."
    }
    precondition {
      condition     = var.security_lake_role_arn == null || var.security_lake_location != null
      error_message = "security_lake_role_arn needs security_lake_location (the custom source's s3:// location)."
    }
    precondition {
      condition     = var.security_lake_external_id == null || var.security_lake_role_arn != null
      error_message = "security_lake_external_id goes with security_lake_role_arn."
    }
    precondition {
      condition     = var.create_alarm_topic || var.alarm_topic_arn != ""
      error_message = "create_alarm_topic = false needs alarm_topic_arn."
    }
    precondition {
      condition     = !var.send_heartbeat || var.heartbeat_topic_arn != ""
      error_message = "send_heartbeat needs heartbeat_topic_arn."
    }
    precondition {
      condition     = var.missed_runs >= 1 && var.missed_runs * var.interval_seconds <= 86400
      error_message = "missed_runs intervals must span at most a day (CloudWatch's limit on an alarm's evaluation window)."
    }
    precondition {
      condition     = var.image != "" || var.image_tag != null
      error_message = "Give image_tag (the tag you push to the module's repository, e.g. the commit) or image."
    }
    precondition {
      condition     = var.create_ecs_cluster || var.ecs_cluster_arn != ""
      error_message = "create_ecs_cluster = false needs ecs_cluster_arn."
    }
  }
}

# --- Image ------------------------------------------------------------------

resource "aws_ecr_repository" "this" {
  name = var.name
  # A tag names one image for good: a task that starts later runs what was
  # tested, and a deploy is a new tag (image_tag).
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      # Untagged ones only: a tag may still be what the task runs.
      description = "Remove untagged images after 14 days"
      selection   = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 14 }
      action      = { type = "expire" }
    }]
  })
}

# --- Task -------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  count = var.create_ecs_cluster ? 1 : 0
  name  = var.name
  tags  = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_ecs_task_definition" "shard" {
  for_each                 = var.targets
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  runtime_platform {
    cpu_architecture        = var.architecture
    operating_system_family = "LINUX"
  }
  container_definitions = jsonencode([{
    name                   = "auditship"
    image                  = local.image
    essential              = true
    command                = local.commands[each.key]
    readonlyRootFilesystem = true
    stopTimeout            = 30
    environment            = [for k, v in local.target_environment[each.key] : { name = k, value = v }]
    # The password is there for --discover sql and for doctor run as a
    # one-off task with --db-user (deploy/runbook.md).
    secrets = var.db_password_from_secret ? [{
      name      = "AUDITSHIP_DB_PASSWORD"
      valueFrom = var.db_password_secret_arn
    }] : []
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
  tags = var.tags
}

# The service mode: one long-running task per shard, `run --interval`.
resource "aws_ecs_service" "shard" {
  for_each        = var.mode == "service" ? var.targets : {}
  name            = "${var.name}-${each.key}"
  cluster         = local.cluster_arn
  task_definition = aws_ecs_task_definition.shard[each.key].arn
  desired_count   = 1
  launch_type     = "FARGATE"
  # One writer per shard at a time is enough; overlapping ones are safe anyway.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = var.assign_public_ip
  }
  tags = var.tags
}
