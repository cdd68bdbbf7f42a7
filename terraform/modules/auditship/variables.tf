# --- Naming and selection ---------------------------------------------------

variable "name" {
  description = "Name prefix for every resource this module creates (ECR repository, task, roles, alarms, schedule)."
  type        = string
  default     = "auditship"
}

variable "shards" {
  description = <<-EOT
    Which instances to ship, as auditship selection flags. One entry is one
    task. With mode = "scheduled" and more than one shard, a Step Functions
    Map state runs one task per shard in parallel (large fleets). Example:
    [["--cluster", "prod-shop"], ["--tag", "audit=on"]].
  EOT
  type        = list(list(string))
  validation {
    condition     = length(var.shards) > 0 && alltrue([for s in var.shards : length(s) > 0])
    error_message = "Give at least one shard, each with at least one selection flag (--cluster, --instance, --tag)."
  }
}

variable "rds_instance_arns" {
  description = "DB instance ARNs whose logs the task may list and download. Narrow this to the selected instances; Describe* calls cannot be narrowed by IAM."
  type        = list(string)
  default     = ["*"]
}

variable "prefix" {
  description = "Key prefix for audit objects and checkpoints in the bucket (auditship --prefix)."
  type        = string
  default     = "rds-audit"
}

variable "extra_environment" {
  description = "More AUDITSHIP_* settings for the container, e.g. { AUDITSHIP_OBJECT_SIZE = \"67108864\" }."
  type        = map(string)
  default     = {}
}

# --- Running it ---------------------------------------------------------------

variable "mode" {
  description = "\"scheduled\": one task per schedule tick (EventBridge Scheduler). \"service\": a long-running ECS service running auditship run --interval (no ENI per run; one task per shard)."
  type        = string
  default     = "scheduled"
  validation {
    condition     = contains(["scheduled", "service"], var.mode)
    error_message = "mode is \"scheduled\" or \"service\"."
  }
}

variable "schedule_expression" {
  description = "How often to ship: an EventBridge Scheduler expression (scheduled mode) whose rate also sets --interval in service mode."
  type        = string
  default     = "rate(5 minutes)"
}

variable "interval_seconds" {
  description = "Seconds between passes in service mode, and the schedule interval the staleness and missed-run alarms assume. Keep it equal to schedule_expression."
  type        = number
  default     = 300
}

variable "image" {
  description = "Container image to run. Empty: the ECR repository this module creates, tag image_tag."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Tag of the image in the module's ECR repository (when image is empty)."
  type        = string
  default     = "latest"
}

variable "architecture" {
  description = "CPU architecture of the task: ARM64 (Graviton, cheaper) or X86_64."
  type        = string
  default     = "ARM64"
  validation {
    condition     = contains(["ARM64", "X86_64"], var.architecture)
    error_message = "architecture is ARM64 or X86_64."
  }
}

variable "cpu" {
  description = "Task CPU units (256 = 0.25 vCPU)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB."
  type        = number
  default     = 512
}

variable "ecs_cluster_arn" {
  description = "ECS cluster to run in. Empty: the module creates one."
  type        = string
  default     = ""
}

variable "subnet_ids" {
  description = "Private subnets for the task, in several availability zones so a Fargate capacity shortage in one zone does not stop shipping."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two availability zones."
  }
}

variable "security_group_ids" {
  description = "Security groups for the task (egress to the AWS endpoints on 443; to the databases' port for doctor / --discover sql)."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the task a public IP (only in public subnets without NAT or endpoints)."
  type        = bool
  default     = false
}

variable "max_run_seconds" {
  description = "auditship --max-run-seconds: stop starting work this long into a run so it ends before the next tick. Defaults to 80% of the interval."
  type        = number
  default     = null
}

variable "retry_attempts" {
  description = "EventBridge Scheduler retries of a task that could not be started (capacity, throttling)."
  type        = number
  default     = 3
}

variable "log_retention_days" {
  description = "Retention of the task's CloudWatch log group."
  type        = number
  default     = 90
}

# --- Database checks (doctor, --discover sql) --------------------------------

variable "db_user" {
  description = "Database user for `auditship doctor` / --discover sql. Empty: SQL checks are not configured."
  type        = string
  default     = ""
}

variable "db_password_secret_arn" {
  description = "Secrets Manager secret holding that user's password, given to the task as AUDITSHIP_DB_PASSWORD through ECS secrets. Empty: no password (use db_iam_auth)."
  type        = string
  default     = ""
}

variable "db_iam_auth" {
  description = "Log in to the databases with RDS IAM authentication tokens instead of a password (grants rds-db:connect for db_user)."
  type        = bool
  default     = false
}

variable "db_resource_ids" {
  description = "DbiResourceIds for rds-db:connect when db_iam_auth is on (IAM auth ARNs use the resource id, not the name)."
  type        = list(string)
  default     = []
}

# --- Bucket ---------------------------------------------------------------------

variable "create_bucket" {
  description = "Create the destination bucket with versioning, SSE-KMS, TLS-only and no-unconditional-overwrite policies, public access blocked and lifecycle rules. False: bring your own (bucket_name)."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Destination bucket name (created when create_bucket is true)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS. Empty with create_bucket: the module creates one."
  type        = string
  default     = ""
}

variable "transition_to_glacier_ir_days" {
  description = "Days after which audit objects move to S3 Glacier Instant Retrieval (0: never)."
  type        = number
  default     = 90
}

variable "expire_noncurrent_days" {
  description = "Days after which noncurrent (overwritten or deleted) versions expire."
  type        = number
  default     = 365
}

variable "object_lock_retention_days" {
  description = "Object Lock default retention in COMPLIANCE mode (0: no Object Lock). Only when the module creates the bucket; Object Lock cannot be turned off again."
  type        = number
  default     = 0
}

# --- Alarms -----------------------------------------------------------------------

variable "alarm_topic_arn" {
  description = "SNS topic for alarms. Empty: the module creates one (subscribe on-call to it)."
  type        = string
  default     = ""
}

variable "missed_runs" {
  description = "Alarm when no run succeeded within this many schedule intervals."
  type        = number
  default     = 3
}

variable "lag_threshold_seconds" {
  description = "Alarm when the oldest unshipped audit byte of any instance is older than this."
  type        = number
  default     = 3600
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the worker's EMF metrics (auditship --metrics-namespace)."
  type        = string
  default     = "auditship"
}

variable "runbook_url" {
  description = "Where the runbook lives (deploy/runbook.md of this repository, or your copy); alarm descriptions point at it."
  type        = string
  default     = "https://github.com/your-org/auditship/blob/main/deploy/runbook.md"
}

variable "heartbeat_topic_arn" {
  description = "SNS topic that receives a message after every successful run (teams wire it to chat). Empty: no heartbeat."
  type        = string
  default     = ""
}

# --- Athena ------------------------------------------------------------------------

variable "create_glue_table" {
  description = "Create a Glue database and table with partition projection over the key layout, for Athena."
  type        = bool
  default     = true
}

variable "glue_database_name" {
  description = "Glue database for the audit table."
  type        = string
  default     = "auditship"
}

# --- Networking ----------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the subnets; needed for VPC endpoints."
  type        = string
  default     = ""
}

variable "create_vpc_endpoints" {
  description = "Create VPC endpoints (S3 gateway; ECR, CloudWatch Logs and RDS interface endpoints) so pulls and uploads do not go through NAT."
  type        = bool
  default     = false
}

variable "route_table_ids" {
  description = "Route tables of the task subnets, for the S3 gateway endpoint."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
