# Alarms -> SNS. Each says what it means and the first command to run; the
# runbook (deploy/runbook.md) has the rest.

resource "aws_sns_topic" "alarms" {
  count = var.create_alarm_topic ? 1 : 0
  name  = "${var.name}-alarms"
  tags  = var.tags
}

# Who may publish to the alarm topic. A topic brought by the caller needs
# the same statement (output alarm_topic_policy_json): without it the
# EventBridge rules' messages are dropped.
data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "AlarmsAndEvents"
    actions   = ["sns:Publish"]
    resources = [local.alarm_topic_arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count  = var.create_alarm_topic ? 1 : 0
  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

locals {
  selection_hint = join(" ", values(var.targets)[0].selection)
  # Metrics Insights over every instance's EMF line.
  every_instance = "FROM SCHEMA(\"${var.metrics_namespace}\", cluster, instance)"
  # Scheduled tasks are grouped by family, service tasks by service.
  # By prefix, not one name per target: a pattern is limited to 2048
  # characters, and names are known when planning.
  task_groups = [{ prefix = "family:${var.name}-" }, { prefix = "service:${var.name}-" }]
  # An auditship task of this module that stopped; each rule adds how.
  task_stopped = {
    source      = ["aws.ecs"]
    detail-type = ["ECS Task State Change"]
  }
  task_stopped_detail = { lastStatus = ["STOPPED"], group = local.task_groups }
}

# 1. A task exited non-zero: exit 1 transient, 2 needs a person, 3 data lost.
resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${var.name}-task-failed"
  description = "auditship task exited non-zero (1 transient, 2 needs a person, 3 audit data lost). First: auditship status ${local.selection_hint}. Runbook: ${var.runbook_url}"
  event_pattern = jsonencode(merge(local.task_stopped, {
    detail = merge(local.task_stopped_detail, { containers = { name = ["auditship"], exitCode = [{ "anything-but" = 0 }] } })
  }))
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

# 1b. A task that never started (image not pushed, no Fargate capacity, a
#     secret it cannot read) has no exit code: ECS stops it with
#     TaskFailedToStart.
resource "aws_cloudwatch_event_rule" "task_not_started" {
  name        = "${var.name}-task-not-started"
  description = "An auditship task could not start: nothing ships until it can. Runbook: ${var.runbook_url}#no-successful-run"
  event_pattern = jsonencode(merge(local.task_stopped, {
    detail = merge(local.task_stopped_detail, { stopCode = ["TaskFailedToStart"] })
  }))
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "task_not_started" {
  rule = aws_cloudwatch_event_rule.task_not_started.name
  arn  = local.alarm_topic_arn
  input_transformer {
    input_paths    = { group = "$.detail.group", reason = "$.detail.stoppedReason" }
    input_template = "\"auditship (<group>) could not start: <reason>. Nothing ships until it can (image pushed? Fargate capacity? the secret readable by the execution role?). Runbook: ${var.runbook_url}#no-successful-run\""
  }
}

# 2. No successful run of a target within N intervals (the schedule stopped,
#    its task does not start, or every run fails), one alarm per target so a
#    dead shard cannot hide behind healthy ones. A run that stops at its
#    time limit after shipping something succeeds (it is catching up).
resource "aws_cloudwatch_metric_alarm" "missed_runs" {
  for_each            = var.targets
  alarm_name          = "${var.name}-${each.key}-missed-runs"
  alarm_description   = "No auditship run of target ${each.key} succeeded in ${var.missed_runs} intervals: its audit logs are not being shipped and rotation may delete them. First: auditship doctor ${join(" ", each.value.selection)}. Runbook: ${var.runbook_url}#no-successful-run"
  namespace           = var.metrics_namespace
  metric_name         = "RunSucceeded"
  dimensions          = { command = "run", shard = each.key }
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
# 5. Events behind: with derive_events, raw objects have waited for their
# events for several runs (the raw trail is complete; queries miss them).
resource "aws_cloudwatch_metric_alarm" "events_behind" {
  count               = var.derive_events ? 1 : 0
  alarm_name          = "${var.name}-events-behind"
  alarm_description   = "Shipped audit objects have had no derived events for ${var.missed_runs} intervals (the raw trail is complete; event queries miss them). First: auditship events ${local.selection_hint}. Runbook: ${var.runbook_url}#events-behind"
  evaluation_periods  = var.missed_runs
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  metric_query {
    id          = "awaiting"
    return_data = true
    period      = max(60, var.interval_seconds)
    expression  = "SELECT MAX(ObjectsAwaitingEvents) ${local.every_instance}"
  }
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "task_succeeded" {
  count       = var.send_heartbeat ? 1 : 0
  name        = "${var.name}-task-succeeded"
  description = "auditship task exited 0"
  event_pattern = jsonencode(merge(local.task_stopped, {
    detail = merge(local.task_stopped_detail, { containers = { name = ["auditship"], exitCode = [0] } })
  }))
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "task_succeeded" {
  count = var.send_heartbeat ? 1 : 0
  rule  = aws_cloudwatch_event_rule.task_succeeded[0].name
  arn   = var.heartbeat_topic_arn
  input_transformer {
    input_paths    = { group = "$.detail.group", stopped = "$.detail.stoppedAt" }
    input_template = "\"auditship (<group>) shipped successfully at <stopped>\""
  }
}
