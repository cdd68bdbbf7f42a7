# VPC endpoints, so image pulls, log writes, RDS API calls and uploads do not
# go through (and pay for) a NAT gateway.

data "aws_vpc" "this" {
  count = var.create_vpc_endpoints ? 1 : 0
  id    = var.vpc_id
}

resource "aws_vpc_endpoint" "s3" {
  count             = var.create_vpc_endpoints ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.route_table_ids
  tags              = var.tags
}

resource "aws_security_group" "endpoints" {
  count       = var.create_vpc_endpoints ? 1 : 0
  name        = "${var.name}-endpoints"
  description = "HTTPS from the VPC to the interface endpoints auditship uses"
  vpc_id      = var.vpc_id
  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this[0].cidr_block]
  }
  tags = var.tags
}

locals {
  interface_endpoints = var.create_vpc_endpoints ? toset(concat(
    ["ecr.api", "ecr.dkr", "logs", "rds"],
    var.db_password_from_secret ? ["secretsmanager"] : [],
    var.bucket_sse_kms ? ["kms"] : [],
    length(local.target_roles) > 0 ? ["sts"] : [],
  )) : toset([])
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
  tags                = var.tags
}
