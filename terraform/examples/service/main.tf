# A long-running ECS service instead of a schedule: one task per target runs
# `auditship run --interval 120s` (no task start, image pull or ENI per
# pass), in an ECS cluster that already exists.
#
#   terraform init && terraform apply -var 'subnet_ids=[…]' -var 'security_group_ids=[…]' -var ecs_cluster_arn=arn:…

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

variable "ecs_cluster_arn" {
  description = "The ECS cluster the services run in."
  type        = string
}

variable "image_tag" {
  description = "The image tag pushed to the module's repository (tags are immutable: one per deploy, e.g. the commit)."
  type        = string
}

data "aws_caller_identity" "current" {}

module "auditship" {
  source    = "../../modules/auditship"
  image_tag = var.image_tag
  mode      = "service"
  targets = {
    writers = { selection = ["--tag", "role=writer"] }
    readers = { selection = ["--tag", "role=reader"] }
  }
  interval_seconds   = 120
  create_ecs_cluster = false
  ecs_cluster_arn    = var.ecs_cluster_arn
  bucket_name        = "auditship-${data.aws_caller_identity.current.account_id}-service"
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

output "service_names" {
  description = "The ECS services, by target."
  value       = module.auditship.service_names
}
