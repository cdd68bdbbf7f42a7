# Scheduled mode: EventBridge Scheduler starts the task directly (one shard)
# or a Step Functions state machine whose Map state runs one task per shard.

locals {
  scheduled = var.mode == "scheduled"
  fan_out   = local.scheduled && length(var.shards) > 1
  task_network = {
    AwsvpcConfiguration = {
      Subnets        = var.subnet_ids
      SecurityGroups = var.security_group_ids
      AssignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED"
    }
  }
}

resource "aws_scheduler_schedule" "this" {
  count                        = local.scheduled ? 1 : 0
  name                         = var.name
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = local.fan_out ? aws_sfn_state_machine.shards[0].arn : local.cluster_arn
    role_arn = aws_iam_role.start_tasks[0].arn
    # Retries cover a task that could not be started (capacity, throttling);
    # a task that ran and failed is the next tick's business.
    retry_policy {
      maximum_retry_attempts       = var.retry_attempts
      maximum_event_age_in_seconds = max(60, floor(var.interval_seconds / 2))
    }
    dynamic "ecs_parameters" {
      for_each = local.fan_out ? [] : [1]
      content {
        task_definition_arn = aws_ecs_task_definition.shard[0].arn
        launch_type         = "FARGATE"
        platform_version    = "LATEST"
        network_configuration {
          subnets          = var.subnet_ids
          security_groups  = var.security_group_ids
          assign_public_ip = var.assign_public_ip
        }
      }
    }
    input = local.fan_out ? jsonencode({ tasks = aws_ecs_task_definition.shard[*].arn }) : null
  }
}

resource "aws_sfn_state_machine" "shards" {
  count    = local.fan_out ? 1 : 0
  name     = var.name
  role_arn = aws_iam_role.start_tasks[0].arn
  definition = jsonencode({
    Comment = "One auditship task per shard, in parallel; fails if any task exits non-zero."
    StartAt = "Shards"
    States = {
      Shards = {
        Type      = "Map"
        ItemsPath = "$.tasks"
        ItemProcessor = {
          ProcessorConfig = { Mode = "INLINE" }
          StartAt         = "Ship"
          States = {
            Ship = {
              Type     = "Task"
              Resource = "arn:${local.partition}:states:::ecs:runTask.sync"
              Parameters = {
                Cluster              = local.cluster_arn
                "TaskDefinition.$"   = "$"
                LaunchType           = "FARGATE"
                NetworkConfiguration = local.task_network
              }
              Retry = [{
                ErrorEquals     = ["ECS.AmazonECSException", "ECS.ThrottlingException"]
                IntervalSeconds = 10
                MaxAttempts     = var.retry_attempts
                BackoffRate     = 2
              }]
              Next = "Exited0"
            }
            Exited0 = {
              Type = "Choice"
              Choices = [{
                Variable      = "$.Containers[0].ExitCode"
                NumericEquals = 0
                Next          = "Shipped"
              }]
              Default = "Failed"
            }
            Shipped = { Type = "Succeed" }
            Failed = {
              Type  = "Fail"
              Error = "AuditshipExitedNonZero"
              Cause = "An auditship task exited non-zero: see the runbook for its exit code."
            }
          }
        }
        End = true
      }
    }
  })
  tags = var.tags
}
