# --- Naming and selection ---------------------------------------------------

variable "name" {
  description = "Name prefix for every resource this module creates (ECR repository, task, roles, alarms, schedule)."
  type        = string
  default     = "auditship"
}

variable "targets" {
  description = <<-EOT
    What to ship, one task (shard) per entry, keyed by a stable name (used in
    resource names, log streams and the per-shard alarm; renaming one
    replaces its task). Each has auditship selection flags and, for
    instances in another account or region, that account's id (the task
    assumes role_name there: create it with modules/auditship-target-role)
    and region. With mode = "scheduled" and more than one target, a Step
    Functions Map state runs one task per target in parallel. Example:
    { shop = { selection = ["--cluster", "prod-shop"] },
      payments = { selection = ["--tag", "audit=on"], account_id = "222222222222", region = "eu-central-1" } }.
    account_id must be known when planning (a literal or a variable).
  EOT
  type = map(object({
    selection   = list(string)
    account_id  = optional(string)
    role_name   = optional(string, "auditship-reader")
    external_id = optional(string)
    region      = optional(string)
  }))
  validation {
    condition     = length(var.targets) > 0 && alltrue([for t in var.targets : length(t.selection) > 0])
    error_message = "Give at least one target, each with at least one selection flag (--cluster, --instance, --tag)."
  }
  validation {
    condition     = alltrue([for k in keys(var.targets) : can(regex("^[a-z0-9][a-z0-9-]{0,30}$", k))])
    error_message = "Target names are 1 to 31 lower-case letters, digits and dashes (they name resources)."
  }
}

variable "rds_instance_arns" {
  description = "DB instance ARNs whose logs the task may list and download (in this account; other accounts' roles have their own). Keep the default for --cluster and --tag targets, whose members change with failover and new replicas; narrow it only when every target is a fixed --instance list. Describe* calls cannot be narrowed by IAM."
  type        = list(string)
  default     = ["*"]
  validation {
    condition     = length(var.rds_instance_arns) > 0
    error_message = "rds_instance_arns needs at least one ARN (an IAM statement without a resource is refused)."
  }
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

variable "interval_seconds" {
  description = "How often to ship, in seconds (a whole number of minutes): the schedule (rate(N minutes)), --interval in service mode, and the period the staleness and missed-run alarms assume, all from this one value."
  type        = number
  default     = 300
  validation {
    condition     = var.interval_seconds >= 60 && var.interval_seconds % 60 == 0 && var.interval_seconds <= 3600
    error_message = "interval_seconds is a whole number of minutes, from 60 to 3600 (the lag alarm's query looks back at most 3 hours)."
  }
}

variable "schedule_expression" {
  description = "Overrides the schedule made from interval_seconds (e.g. a cron expression that staggers this deployment against another); its period must still be interval_seconds. Null: rate(interval_seconds / 60 minutes)."
  type        = string
  default     = null
}

variable "image" {
  description = "Container image to run. Empty: the ECR repository this module creates, tag image_tag."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Tag of the image in the module's ECR repository (when image is empty). Tags are immutable there, so each deploy pushes a new one: the commit, say (git rev-parse --short=12 HEAD)."
  type        = string
  default     = null
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

variable "create_ecs_cluster" {
  description = "Create an ECS cluster for the tasks. False: run in ecs_cluster_arn."
  type        = bool
  default     = true
}

variable "ecs_cluster_arn" {
  description = "ECS cluster to run in when create_ecs_cluster is false."
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
  description = "Database user for --discover sql (and for `auditship doctor` run as a one-off task). Empty: no database login is configured."
  type        = string
  default     = ""
}

variable "discover_sql" {
  description = "The tasks find their instances by asking the database (auditship --discover sql): needs db_user and a password secret or db_iam_auth. False: the RDS API finds them, and the run tasks get no database settings (run never logs in)."
  type        = bool
  default     = false
}

variable "db_password_from_secret" {
  description = "Give the task db_user's password from the Secrets Manager secret db_password_secret_arn (as AUDITSHIP_DB_PASSWORD)."
  type        = bool
  default     = false
}

variable "db_password_secret_arn" {
  description = "Secrets Manager secret holding db_user's password, when db_password_from_secret is true."
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

variable "create_kms_key" {
  description = "With create_bucket: create the bucket's SSE-KMS key. False: kms_key_arn is the key (or, with bucket_sse_kms false, S3-managed keys)."
  type        = bool
  default     = true
}

variable "bucket_sse_kms" {
  description = "Objects are encrypted with a KMS key (the module's, or kms_key_arn): the task may use that key, and with create_vpc_endpoints a KMS endpoint is created. Must be true with create_kms_key."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "The bucket's KMS key when the module does not create it (create_kms_key false, bucket_sse_kms true)."
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
  description = "Object Lock default retention (0: no default retention). Object Lock itself is always enabled on a bucket the module creates, so adding retention later changes a setting and never replaces the bucket. The retention also holds every version of the checkpoints (rewritten each interval): they are kept, and under COMPLIANCE cannot be deleted, until it expires."
  type        = number
  default     = 0
}

variable "object_lock_mode" {
  description = "GOVERNANCE (a permitted principal may shorten or lift the lock) or COMPLIANCE (nobody, the root user included, until it expires: try it on a throwaway bucket first)."
  type        = string
  default     = "GOVERNANCE"
  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "object_lock_mode is GOVERNANCE or COMPLIANCE."
  }
}

# --- Alarms -----------------------------------------------------------------------

variable "create_alarm_topic" {
  description = "Create the SNS topic the alarms publish to (subscribe on-call to it). False: alarm_topic_arn, whose policy must let cloudwatch.amazonaws.com and events.amazonaws.com publish (output alarm_topic_policy_json is that statement)."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic for alarms when create_alarm_topic is false."
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

variable "send_heartbeat" {
  description = "Send a message to heartbeat_topic_arn after every successful task (teams wire it to chat)."
  type        = bool
  default     = false
}

variable "heartbeat_topic_arn" {
  description = "SNS topic for the heartbeat when send_heartbeat is true."
  type        = string
  default     = ""
}

# --- Athena ------------------------------------------------------------------------

variable "create_glue_table" {
  description = "Create a Glue database and table with partition projection over the key layout, for Athena."
  type        = bool
  default     = true
}

variable "derive_events" {
  description = "Also derive OCSF events (Parquet) from every object a run lands (run --events), under {prefix}/_events/; with create_glue_table, an Athena table over them. See docs/events.md."
  type        = bool
  default     = false
}

variable "redact_events" {
  description = "With derive_events: string and number literals in statements become ? in the events, and the raw line is left out (the raw trail keeps every byte); written under {prefix}/_events/ocsf-redacted/."
  type        = bool
  default     = false
}

variable "security_lake_location" {
  description = "With derive_events: write the events to this Amazon Security Lake custom source instead of the trail's bucket: the location its CreateCustomLogSource returned (s3://aws-security-data-lake-REGION-ID/ext/NAME/...); events go under region=/accountId=/eventDay=YYYYMMDD/ there. The Athena table over {prefix}/_events/ is then not made (Security Lake makes its own)."
  type        = string
  default     = null
  validation {
    condition     = var.security_lake_location == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.security_lake_location))
    error_message = "security_lake_location is an S3 URL: s3://BUCKET/ext/NAME/."
  }
}

variable "security_lake_role_arn" {
  description = "With security_lake_location: the provider role Security Lake made for the custom source, which the task assumes to write the events (its trust policy must allow the task role). Null: the task role writes there itself, and is granted s3:PutObject under the location."
  type        = string
  default     = null
}

variable "security_lake_external_id" {
  description = "With security_lake_role_arn: the external id the provider role's trust policy asks for."
  type        = string
  default     = null
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

variable "sign_digests" {
  description = "Seal a signed digest per instance and period with digest_signing_kms_key_arn (an asymmetric SIGN_VERIFY key, ECC_NIST_P256 or RSA): the task may kms:Sign and kms:GetPublicKey with it. See docs/digests.md."
  type        = bool
  default     = false
}

variable "digest_signing_kms_key_arn" {
  description = "With sign_digests: the KMS key that signs the digests. Auditors verify with its public key (kms get-public-key), which needs no access to the bucket's writer."
  type        = string
  default     = ""
}

variable "digest_period" {
  description = "With sign_digests: how long each digest's period is (1h, 15m, 60s; it must divide a day)."
  type        = string
  default     = "1h"
}
