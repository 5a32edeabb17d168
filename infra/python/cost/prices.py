"""AWS list prices (us-east-1, on-demand, first pricing tier, as published in 2026) that `make cost`
bills the counted calls at. Each is per one unit named in the constant."""

# API Gateway HTTP API: per request (each 512 KB of a request counts as one).
API_GATEWAY_HTTP_REQUEST = 1.00 / 1e6
API_GATEWAY_HTTP_CHUNK = 512 * 1024

# Lambda on arm64 (Graviton): per request, and per GB-second of billed duration (init included).
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_ARM64_GB_SECOND = 0.0000133334

# SQS: per request; each 64 KB chunk of a request's payload is billed as one request.
SQS_STANDARD_REQUEST = 0.40 / 1e6
SQS_FIFO_REQUEST = 0.50 / 1e6
SQS_CHUNK = 64 * 1024

# DynamoDB on-demand (since the 2024-11 price change): per write and per read request unit.
DYNAMODB_WRITE_UNIT = 0.625 / 1e6
DYNAMODB_READ_UNIT = 0.125 / 1e6

# Secrets Manager: per API call ($0.05 per 10,000); storage is per secret and month.
SECRETS_MANAGER_CALL = 0.05 / 10_000
SECRETS_MANAGER_SECRET_MONTH = 0.40
