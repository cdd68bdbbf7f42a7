# auditship on ECS Fargate: image, task, schedule (or service), alarms,
# bucket, Athena table, endpoints. See ../../../README.md ("Deploy").

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  image       = var.image != "" ? var.image : "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
  cluster_arn = var.ecs_cluster_arn != "" ? var.ecs_cluster_arn : aws_ecs_cluster.this[0].arn

  bucket_arn  = "arn:${local.partition}:s3:::${var.bucket_name}"
  prefix      = trim(var.prefix, "/")
  kms_key_arn = var.kms_key_arn != "" ? var.kms_key_arn : (var.create_bucket ? aws_kms_key.bucket[0].arn : "")

  # A run must end before the next tick starts another.
  max_run_seconds = coalesce(var.max_run_seconds, floor(var.interval_seconds * 0.8))

  environment = merge({
    AUDITSHIP_BUCKET            = var.bucket_name
    AUDITSHIP_PREFIX            = local.prefix
    AUDITSHIP_LOG_FORMAT        = "json"
    AUDITSHIP_METRICS           = "emf"
    AUDITSHIP_METRICS_NAMESPACE = var.metrics_namespace
    AUDITSHIP_MAX_RUN_SECONDS   = tostring(local.max_run_seconds)
    }, var.db_user == "" ? {} : {
    AUDITSHIP_DB_USER     = var.db_user
    AUDITSHIP_DB_IAM_AUTH = var.db_iam_auth ? "true" : "false"
  }, var.extra_environment)

  # One command per shard; the service mode repeats it every interval.
  commands = [
    for shard in var.shards : concat(
      ["run"],
      shard,
      var.mode == "service" ? ["--interval", "${var.interval_seconds}s"] : []
    )
  ]

  alarm_topic_arn = var.alarm_topic_arn != "" ? var.alarm_topic_arn : aws_sns_topic.alarms[0].arn
  log_group_name  = "/ecs/${var.name}"
}

# --- Image ------------------------------------------------------------------

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "MUTABLE"
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
      description  = "Keep the 20 newest images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

# --- Task -------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  count = var.ecs_cluster_arn == "" ? 1 : 0
  name  = var.name
  tags  = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_ecs_task_definition" "shard" {
  count                    = length(var.shards)
  family                   = "${var.name}-${count.index}"
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
    command                = local.commands[count.index]
    readonlyRootFilesystem = true
    stopTimeout            = 30
    environment            = [for k, v in local.environment : { name = k, value = v }]
    secrets = var.db_password_secret_arn == "" ? [] : [{
      name      = "AUDITSHIP_DB_PASSWORD"
      valueFrom = var.db_password_secret_arn
    }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "shard-${count.index}"
      }
    }
  }])
  tags = var.tags
}

# The service mode: one long-running task per shard, `run --interval`.
resource "aws_ecs_service" "shard" {
  count           = var.mode == "service" ? length(var.shards) : 0
  name            = "${var.name}-${count.index}"
  cluster         = local.cluster_arn
  task_definition = aws_ecs_task_definition.shard[count.index].arn
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
