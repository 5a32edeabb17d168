"""Prints TEMPLATE (a SAM template) as the CloudFormation JSON that AWS deploys.

Uses AWS's own SAM translator, so policy templates (SQSSendMessagePolicy, ...) expand to the
statements IAM will see; the IAM test (tests/tests/iam_from_code) compares them with the code, and
the local runner (local_aws::iam) gives each function a role with exactly these policies.
Usage: sam_expand.py TEMPLATE
"""

import json
import sys

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies(ManagedPolicyLoader):
    """Offline: the template names no managed policy by name, so none needs looking up."""

    def __init__(self):
        super().__init__(iam_client=None)

    def load(self):
        return {}


def main(path):
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # `sam package` replaces a local CodeUri with the S3 object it uploaded; do the same, since
    # the translator accepts only S3 locations and the code's location does not change IAM.
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = f"s3://packaged/{name}.zip"
    json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
