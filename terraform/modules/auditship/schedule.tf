# Scheduled mode: EventBridge Scheduler starts the task directly (one shard)
# or a Step Functions state machine whose Map state runs one task per target.

locals {
  scheduled = var.mode == "scheduled"
  fan_out   = local.scheduled && length(var.targets) > 1
  # EventBridge wants the singular for one.
  rate = var.interval_seconds == 60 ? "rate(1 minute)" : "rate(${var.interval_seconds / 60} minutes)"
  # The one target's task when there is no fan-out.
  only_task = values(aws_ecs_task_definition.shard)[0]
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
  schedule_expression          = coalesce(var.schedule_expression, local.rate)
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
        task_definition_arn = local.only_task.arn
        launch_type         = "FARGATE"
        platform_version    = "LATEST"
        network_configuration {
          subnets          = var.subnet_ids
          security_groups  = var.security_group_ids
          assign_public_ip = var.assign_public_ip
        }
      }
    }
    input = local.fan_out ? jsonencode({
      tasks = [for k, td in aws_ecs_task_definition.shard : { target = k, task_definition = td.arn }]
    }) : null
  }
}

resource "aws_sfn_state_machine" "shards" {
  count    = local.fan_out ? 1 : 0
  name     = var.name
  role_arn = aws_iam_role.start_tasks[0].arn
  definition = jsonencode({
    Comment = "One auditship task per target, in parallel. Each target's outcome is caught on its own (a failing one never stops its siblings); the execution fails after the Map if any task exited non-zero or could not run, its cause listing each target's exit code."
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
                "TaskDefinition.$"   = "$.task_definition"
                LaunchType           = "FARGATE"
                NetworkConfiguration = local.task_network
              }
              # A task stuck starting must not hold the execution past the
              # next tick.
              TimeoutSeconds = local.max_run_seconds + 300
              ResultPath     = "$.run"
              # RunTask refused (no Fargate capacity, throttling), or
              # answered with failures (AmazonECS.Unknown): try again.
              Retry = [{
                ErrorEquals     = ["ECS.AmazonECSException", "ECS.ThrottlingException", "AmazonECS.Unknown"]
                IntervalSeconds = 10
                MaxAttempts     = var.retry_attempts
                BackoffRate     = 2
              }]
              # A container that exits non-zero fails the state with
              # States.TaskFailed, the task description as a JSON string
              # in Cause; anything else means the task did not run.
              Catch = [
                { ErrorEquals = ["States.TaskFailed"], ResultPath = "$.error", Next = "Stopped" },
                { ErrorEquals = ["States.ALL"], ResultPath = "$.error", Next = "NotRun" },
              ]
              Next = "Exited"
            }
            Exited = {
              Type = "Choice"
              Choices = [
                { Variable = "$.run.Containers[0].ExitCode", IsPresent = false, Next = "NoExitCode" },
                { Variable = "$.run.Containers[0].ExitCode", NumericEquals = 0, Next = "Ok" },
              ]
              Default = "NonZero"
            }
            Ok = {
              Type       = "Pass"
              Parameters = { "target.$" = "$.target", "exit_code.$" = "$.run.Containers[0].ExitCode", failed = false }
              End        = true
            }
            NonZero = {
              Type       = "Pass"
              Parameters = { "target.$" = "$.target", "exit_code.$" = "$.run.Containers[0].ExitCode", failed = true }
              End        = true
            }
            Stopped = {
              Type       = "Pass"
              Parameters = { "target.$" = "$.target", "task.$" = "States.StringToJson($.error.Cause)" }
              Next       = "StoppedWithExitCode"
            }
            StoppedWithExitCode = {
              Type    = "Choice"
              Choices = [{ Variable = "$.task.Containers[0].ExitCode", IsPresent = true, Next = "StoppedNonZero" }]
              Default = "NoExitCode"
            }
            StoppedNonZero = {
              Type       = "Pass"
              Parameters = { "target.$" = "$.target", "exit_code.$" = "$.task.Containers[0].ExitCode", failed = true }
              End        = true
            }
            NoExitCode = {
              Type       = "Pass"
              Parameters = { "target.$" = "$.target", error = "the task stopped without an exit code", failed = true }
              End        = true
            }
            NotRun = {
              Type       = "Pass"
              Parameters = { "target.$" = "$.target", "error.$" = "$.error.Error", failed = true }
              End        = true
            }
          }
        }
        ResultSelector = { "failed.$" = "$[*].failed", "shards.$" = "$" }
        Next           = "Decide"
      }
      Decide = {
        Type       = "Pass"
        Parameters = { "any_failed.$" = "States.ArrayContains($.failed, true)", "shards.$" = "$.shards" }
        Next       = "AnyFailed"
      }
      AnyFailed = {
        Type    = "Choice"
        Choices = [{ Variable = "$.any_failed", BooleanEquals = true, Next = "Failed" }]
        Default = "Shipped"
      }
      Shipped = { Type = "Succeed" }
      # A failed execution has no output: the cause carries each target's
      # outcome (exit codes: see the runbook).
      Failed = {
        Type      = "Fail"
        Error     = "AuditshipShardFailed"
        CausePath = "States.JsonToString($.shards)"
      }
    }
  })
  tags = var.tags
}
