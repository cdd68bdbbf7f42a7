variable "name" {
  description = "Name of the role (the auditship module's targets[*].role_name; default auditship-reader)."
  type        = string
  default     = "auditship-reader"
}

variable "trusted_role_arn" {
  description = "The auditship task role allowed to assume this role (the auditship module's output task_role_arn)."
  type        = string
}

variable "external_id" {
  description = "External id the task must present (the auditship module's targets[*].external_id); null: none."
  type        = string
  default     = null
}

variable "rds_instance_arns" {
  description = "DB instance ARNs whose audit logs may be listed and downloaded. The default covers every instance of the account, so a cluster's or a tag's members may change; narrow it for a fixed set."
  type        = list(string)
  default     = ["*"]
  validation {
    condition     = length(var.rds_instance_arns) > 0
    error_message = "rds_instance_arns needs at least one ARN (an IAM statement without a resource is refused)."
  }
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
