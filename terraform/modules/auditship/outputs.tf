output "task_definition_arns" {
  description = "Task definition per shard."
  value       = { for k, td in aws_ecs_task_definition.shard : k => td.arn }
}

output "schedule_name" {
  description = "EventBridge Scheduler schedule (scheduled mode)."
  value       = one(aws_scheduler_schedule.this[*].name)
}

output "state_machine_arn" {
  description = "Step Functions state machine that fans out over the shards (scheduled mode, several shards)."
  value       = one(aws_sfn_state_machine.shards[*].arn)
}

output "service_names" {
  description = "ECS services (service mode)."
  value       = { for k, s in aws_ecs_service.shard : k => s.name }
}

output "alarm_arns" {
  description = "CloudWatch alarms and the task-failure EventBridge rule, by purpose."
  value = {
    task_failed      = aws_cloudwatch_event_rule.task_failed.arn
    task_not_started = aws_cloudwatch_event_rule.task_not_started.arn
    missed_runs      = { for k, a in aws_cloudwatch_metric_alarm.missed_runs : k => a.arn }
    lag              = aws_cloudwatch_metric_alarm.lag.arn
    gap              = aws_cloudwatch_metric_alarm.gap.arn
  }
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to."
  value       = local.alarm_topic_arn
}

output "bucket_name" {
  description = "Destination bucket."
  value       = var.bucket_name
}

output "ecr_repository_url" {
  description = "Push the image here, under the image_tag you deploy (docker buildx build --platform linux/arm64 --push -t <url>:<image_tag> .)."
  value       = aws_ecr_repository.this.repository_url
}

output "task_role_arn" {
  description = "The task's role (least privilege: the API calls the worker makes)."
  value       = aws_iam_role.task.arn
}

output "glue_table" {
  description = "Athena table over the audit objects (database.table)."
  value       = var.create_glue_table ? "${aws_glue_catalog_database.this[0].name}.${aws_glue_catalog_table.audit_log[0].name}" : null
}

output "alarm_topic_policy_json" {
  description = "The SNS topic policy that lets the alarms and EventBridge rules publish: attach it to a topic you bring (create_alarm_topic = false)."
  value       = data.aws_iam_policy_document.alarm_topic.json
}

output "target_role_arns" {
  description = "Per target in another account: the role the task assumes there (create it with modules/auditship-target-role, trusting task_role_arn)."
  value       = local.target_roles
}

output "execution_role_arn" {
  description = "The tasks' execution role (pulls the image, writes logs, reads the DB password secret)."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the tasks (JSON lines)."
  value       = aws_cloudwatch_log_group.this.name
}

output "kms_key_arn" {
  description = "The bucket's KMS key (the module's or the one given), if any."
  value       = var.bucket_sse_kms ? local.kms_key_arn : null
}

output "events_table" {
  description = "The Athena table over the derived events (database.table), when derive_events and create_glue_table are true and the events stay in the trail's bucket (no security_lake_location)."
  value       = local.events_table ? "${aws_glue_catalog_database.this[0].name}.${aws_glue_catalog_table.events[0].name}" : null
}
