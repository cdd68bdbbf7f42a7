# A worked example: ship the audit logs of an Aurora MySQL cluster and of
# tagged RDS for MariaDB instances every 5 minutes, in two targets run by a
# Step Functions Map, into a new versioned, KMS-encrypted bucket with Object
# Lock enabled (no default retention), with alarms to an SNS topic and an
# Athena table.
#
#   TAG=$(git rev-parse --short=12 HEAD)
#   terraform init && terraform apply -var image_tag="$TAG" -var vpc_id=… -var 'private_subnet_ids=[…]' …
#   docker buildx build --platform linux/arm64 --push -t "$(terraform output -raw ecr_repository_url):$TAG" ../../..

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "Region of the databases and the bucket."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC the databases live in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two availability zones."
  type        = list(string)
}

variable "private_route_table_ids" {
  description = "Route tables of those subnets (for the S3 gateway endpoint)."
  type        = list(string)
}

variable "db_password_secret_arn" {
  description = "Secrets Manager secret with the auditship_check user's password (for doctor)."
  type        = string
  default     = ""
}

resource "aws_security_group" "auditship" {
  name        = "auditship"
  description = "auditship tasks: HTTPS out to AWS, MySQL out to the databases"
  vpc_id      = var.vpc_id
  egress {
    description = "HTTPS to AWS endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "MySQL to the databases (doctor, --discover sql)"
    from_port   = 3306
    to_port     = 3306
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }
}

variable "image_tag" {
  description = "The image tag pushed to the module's repository (tags are immutable: one per deploy, e.g. the commit)."
  type        = string
}

data "aws_caller_identity" "current" {}

module "auditship" {
  source    = "../../modules/auditship"
  image_tag = var.image_tag

  name = "auditship"
  targets = {
    shop   = { selection = ["--cluster", "prod-shop"] }
    tagged = { selection = ["--tag", "audit=on"] }
  }
  # Bucket names are global: the account id keeps this one yours. Object
  # Lock is on (it cannot be added later without a new bucket); a default
  # retention is a separate choice: try GOVERNANCE first, as COMPLIANCE
  # objects cannot be deleted by anyone until they expire.
  bucket_name                = "auditship-${data.aws_caller_identity.current.account_id}-${var.region}"
  object_lock_retention_days = 0
  interval_seconds           = 300

  subnet_ids           = var.private_subnet_ids
  security_group_ids   = [aws_security_group.auditship.id]
  vpc_id               = var.vpc_id
  create_vpc_endpoints = true
  route_table_ids      = var.private_route_table_ids

  # For `auditship doctor` as a one-off task (deploy/runbook.md); the
  # scheduled runs find instances through the RDS API and never log in.
  db_user                 = "auditship_check"
  db_password_from_secret = var.db_password_secret_arn != ""
  db_password_secret_arn  = var.db_password_secret_arn

  lag_threshold_seconds = 1800
  runbook_url           = "https://github.com/example-corp/auditship/blob/main/deploy/runbook.md"
  tags                  = { team = "sre", purpose = "audit" }
}

output "ecr_repository_url" {
  description = "Where to push the image."
  value       = module.auditship.ecr_repository_url
}

output "alarm_topic_arn" {
  description = "Subscribe on-call to this topic."
  value       = module.auditship.alarm_topic_arn
}

output "athena_table" {
  description = "Query the audit records with Athena."
  value       = module.auditship.glue_table
}
