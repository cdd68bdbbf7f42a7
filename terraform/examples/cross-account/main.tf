# Instances in another account (and region): the task in the central
# account assumes auditship-reader there, created by the
# auditship-target-role module through a provider for that account. The
# bucket stays central.
#
#   terraform init && terraform apply -var 'subnet_ids=[…]' -var 'security_group_ids=[…]' \
#     -var payments_account_id=222222222222

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

variable "payments_account_id" {
  description = "The account whose instances are read."
  type        = string
}

provider "aws" {
  region = "eu-west-1"
}

provider "aws" {
  alias  = "payments"
  region = "eu-central-1"
  assume_role {
    role_arn = "arn:aws:iam::${var.payments_account_id}:role/OrganizationAccountAccessRole"
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
  targets = {
    shop = { selection = ["--cluster", "prod-shop"] }
    payments = {
      selection   = ["--tag", "audit=on"]
      account_id  = var.payments_account_id
      region      = "eu-central-1"
      external_id = "auditship-payments"
    }
  }
  bucket_name        = "auditship-${data.aws_caller_identity.current.account_id}"
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
}

module "payments_reader" {
  source           = "../../modules/auditship-target-role"
  providers        = { aws = aws.payments }
  trusted_role_arn = module.auditship.task_role_arn
  external_id      = "auditship-payments"
}
