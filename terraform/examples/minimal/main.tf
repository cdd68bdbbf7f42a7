# The least there is to say: one Aurora cluster, every 5 minutes, into a new
# bucket, with the module's defaults for the rest (alarms to a new SNS
# topic, an Athena table).
#
#   terraform init && terraform apply -var 'subnet_ids=["subnet-…","subnet-…"]' -var 'security_group_ids=["sg-…"]'

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
  description = "Private subnets in at least two availability zones, with a route to the AWS endpoints."
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

module "auditship" {
  source             = "../../modules/auditship"
  image_tag          = var.image_tag
  targets            = { shop = { selection = ["--cluster", "prod-shop"] } }
  bucket_name        = "auditship-${data.aws_caller_identity.current.account_id}"
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

output "alarm_topic_arn" {
  description = "Subscribe on-call to this topic."
  value       = module.auditship.alarm_topic_arn
}
