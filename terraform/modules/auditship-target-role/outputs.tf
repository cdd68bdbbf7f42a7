output "role_arn" {
  description = "The role to name in the auditship module's targets (account_id and role_name)."
  value       = aws_iam_role.reader.arn
}
