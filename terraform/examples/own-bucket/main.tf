# A bucket, KMS key and alarm topic the caller manages (here created in the
# same apply, so their ARNs are unknown when planning: the module decides
# what to create from booleans only).
#
#   terraform init && terraform apply -var 'subnet_ids=[…]' -var 'security_group_ids=[…]'

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}

variable "subnet_ids" {
  description = "Private subnets in at least two availability zones."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups allowing HTTPS out."
  type        = list(string)
}

variable "image_tag" {
  description = "The image tag pushed to the module's repository (tags are immutable: one per deploy, e.g. the commit)."
  type        = string
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "audit" {
  description         = "audit log bucket"
  enable_key_rotation = true
}

resource "aws_s3_bucket" "audit" {
  bucket              = "audit-archive-${data.aws_caller_identity.current.account_id}"
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "audit" {
  bucket = aws_s3_bucket.audit.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_sns_topic" "oncall" {
  name = "oncall"
}

module "auditship" {
  source             = "../../modules/auditship"
  image_tag          = var.image_tag
  targets            = { shop = { selection = ["--cluster", "prod-shop"] } }
  create_bucket      = false
  bucket_name        = aws_s3_bucket.audit.bucket
  create_kms_key     = false
  kms_key_arn        = aws_kms_key.audit.arn
  create_alarm_topic = false
  alarm_topic_arn    = aws_sns_topic.oncall.arn
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

# The alarms and EventBridge rules must be allowed to publish to the topic.
resource "aws_sns_topic_policy" "oncall" {
  arn    = aws_sns_topic.oncall.arn
  policy = module.auditship.alarm_topic_policy_json
}
