#!/usr/bin/env bash
# `npm run lint:cfn`: packages both stacks, in both account shapes, and lints the four CloudFormation
# templates with cfn-lint.
#
# The packaging runs in a service folder of its own, linked to this checkout's sources (the configuration copied): osls writes its
# service state to `<service folder>/.serverless/` whatever `--package` says, and deletes that folder when
# a package run starts. The test suites package in the checkout at the same time (.ci/run runs this
# beside them); in one folder, their runs and these deleted each other's state mid-write.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
D=${TMPDIR:-/tmp}/s3-dr-cfn-lint
rm -rf "$D"
mkdir -p "$D/service"
# osls wants its configuration file itself in the folder (a link is "not a service directory").
cp "$root/serverless.yml" "$root/package.json" "$root/tsconfig.json" "$D/service/"
for f in node_modules functions lib scripts; do ln -s "$root/$f" "$D/service/$f"; done
cd "$D/service"
sls=node_modules/.bin/sls
$sls package --stage dev --package "$D/primary"
$sls package --stage dev --package "$D/dr" --param=stackRole=dr --param=adminPrincipalArn=arn:aws:iam::123456789012:role/s3dr-admin
$sls package --stage dev --package "$D/primary-dr-account" --param=drAccountId=222233334444 \
  --param=kmsKeyArn=arn:aws:kms:eu-central-1:222233334444:key/11111111-2222-3333-4444-555555555555
$sls package --stage dev --package "$D/dr-account" --param=stackRole=dr --param=primaryAccountId=123456789012 \
  --param=createDrKmsKey=true --param=adminPrincipalArn=arn:aws:iam::222233334444:role/s3dr-admin
cfn-lint --ignore-checks W1001 W3005 W8003 -- "$D"/{primary,dr,primary-dr-account,dr-account}/cloudformation-template-update-stack.json
