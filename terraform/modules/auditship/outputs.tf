output "task_definition_arns" {
  description = "Task definition per shard."
  value       = aws_ecs_task_definition.shard[*].arn
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
  value       = aws_ecs_service.shard[*].name
}

output "alarm_arns" {
  description = "CloudWatch alarms and the task-failure EventBridge rule, by purpose."
  value = {
    task_failed = aws_cloudwatch_event_rule.task_failed.arn
    missed_runs = aws_cloudwatch_metric_alarm.missed_runs.arn
    lag         = aws_cloudwatch_metric_alarm.lag.arn
    gap         = aws_cloudwatch_metric_alarm.gap.arn
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
  description = "Push the image here (docker buildx build --platform linux/arm64 --push -t <url>:latest .)."
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
