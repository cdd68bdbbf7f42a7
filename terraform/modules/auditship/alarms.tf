# Alarms -> SNS. Each says what it means and the first command to run; the
# runbook (deploy/runbook.md) has the rest.

resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == "" ? 1 : 0
  name  = "${var.name}-alarms"
  tags  = var.tags
}

data "aws_iam_policy_document" "alarm_topic" {
  count = var.alarm_topic_arn == "" ? 1 : 0
  statement {
    sid       = "AlarmsAndEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count  = var.alarm_topic_arn == "" ? 1 : 0
  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic[0].json
}

locals {
  selection_hint = join(" ", var.shards[0])
  # Metrics Insights over every instance's EMF line.
  every_instance = "FROM SCHEMA(\"${var.metrics_namespace}\", cluster, instance)"
  # Scheduled tasks are grouped by family, service tasks by service.
  task_groups = concat(
    [for f in aws_ecs_task_definition.shard[*].family : "family:${f}"],
    [for i in range(length(var.shards)) : "service:${var.name}-${i}"],
  )
}

# 1. A task exited non-zero: exit 1 transient, 2 needs a person, 3 data lost.
resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${var.name}-task-failed"
  description = "auditship task exited non-zero (1 transient, 2 needs a person, 3 audit data lost). First: auditship status ${local.selection_hint}. Runbook: ${var.runbook_url}"
  event_pattern = jsonencode({
    source      = ["aws.ecs"]
    detail-type = ["ECS Task State Change"]
    detail = {
      lastStatus = ["STOPPED"]
      group      = local.task_groups
      containers = { name = ["auditship"], exitCode = [{ "anything-but" = 0 }] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "task_failed" {
  rule = aws_cloudwatch_event_rule.task_failed.name
  arn  = local.alarm_topic_arn
  input_transformer {
    input_paths = {
      task   = "$.detail.taskArn"
      group  = "$.detail.group"
      reason = "$.detail.stoppedReason"
      code   = "$.detail.containers[0].exitCode"
    }
    input_template = "\"auditship (<group>) exited <code>: 1 = transient (the next run retries; page if it repeats), 2 = needs a person (permissions, configuration), 3 = audit data lost. Reason: <reason>. Task: <task>. First: auditship status ${local.selection_hint}. Runbook: ${var.runbook_url}\""
  }
}

# 2. No successful run within N intervals (the schedule stopped, tasks do not
#    start, or every run fails).
resource "aws_cloudwatch_metric_alarm" "missed_runs" {
  alarm_name          = "${var.name}-missed-runs"
  alarm_description   = "No auditship run succeeded in ${var.missed_runs} intervals: audit logs are not being shipped and rotation may delete them. First: auditship doctor ${local.selection_hint}. Runbook: ${var.runbook_url}#no-successful-run"
  namespace           = var.metrics_namespace
  metric_name         = "RunSucceeded"
  dimensions          = { command = "run" }
  statistic           = "Sum"
  period              = max(60, var.interval_seconds)
  evaluation_periods  = var.missed_runs
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = var.tags
}

# 3. Staleness: the oldest unshipped audit byte of any instance is too old.
resource "aws_cloudwatch_metric_alarm" "lag" {
  alarm_name          = "${var.name}-lag"
  alarm_description   = "Audit data older than ${var.lag_threshold_seconds}s is not yet in S3 (runs fall behind or fail for one instance); rotation may delete it before it ships. First: auditship status ${local.selection_hint}. Runbook: ${var.runbook_url}#staleness"
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.lag_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  metric_query {
    id          = "lag"
    return_data = true
    period      = max(60, var.interval_seconds)
    expression  = "SELECT MAX(LagSeconds) ${local.every_instance}"
  }
  tags = var.tags
}

# 4. Gap: a file rotated away before it shipped. Data is lost; it pages once.
resource "aws_cloudwatch_metric_alarm" "gap" {
  alarm_name          = "${var.name}-gap"
  alarm_description   = "Audit data was lost: a file was rotated away before it was shipped (the run exited 3 and names the file). First: auditship verify ${local.selection_hint}. Runbook: ${var.runbook_url}#exit-3-data-lost"
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  metric_query {
    id          = "gaps"
    return_data = true
    period      = max(60, var.interval_seconds)
    expression  = "SELECT SUM(Gaps) ${local.every_instance}"
  }
  tags = var.tags
}

# Optional heartbeat: every successful task, for a chat channel.
resource "aws_cloudwatch_event_rule" "task_succeeded" {
  count       = var.heartbeat_topic_arn == "" ? 0 : 1
  name        = "${var.name}-task-succeeded"
  description = "auditship task exited 0"
  event_pattern = jsonencode({
    source      = ["aws.ecs"]
    detail-type = ["ECS Task State Change"]
    detail = {
      lastStatus = ["STOPPED"]
      group      = local.task_groups
      containers = { name = ["auditship"], exitCode = [0] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "task_succeeded" {
  count = var.heartbeat_topic_arn == "" ? 0 : 1
  rule  = aws_cloudwatch_event_rule.task_succeeded[0].name
  arn   = var.heartbeat_topic_arn
  input_transformer {
    input_paths    = { group = "$.detail.group", stopped = "$.detail.stoppedAt" }
    input_template = "\"auditship (<group>) shipped successfully at <stopped>\""
  }
}
