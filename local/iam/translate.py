"""Prints template.yaml as the SAM transform deploys it (CloudFormation JSON), without calling AWS.

Usage: .venv/bin/python local/iam/translate.py [template.yaml] [--region us-east-1] [--parameter Name=Value ...]

The roles in the output are the ones CloudFormation would create: SAM's policy templates (S3CrudPolicy,
DynamoDBWritePolicy, ...) are expanded here by samtranslator itself, and the managed policies it attaches
are named by ARN. This is what `sam validate` does offline (samcli/lib/translate/sam_template_validator.py),
minus the one AWS call it can make: IAM ListPolicies, which its ManagedPolicyLoader uses to map a managed
policy *name* in `Policies:` to its ARN. samtranslator first looks names up in its own bundled map; the
static loader below answers the rest and fails loudly instead of reaching for AWS.
"""

import argparse
import json
import sys

from boto3.session import Session
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

# Names of AWS managed policies a template may list in `Policies:` that samtranslator's bundled map lacks.
# Empty while template.yaml names none; add `"Name": "arn:aws:iam::aws:policy/Name"` when it does.
STATIC_MANAGED_POLICIES: dict[str, str] = {}


class StaticManagedPolicyLoader:
    """The shape of samtranslator's ManagedPolicyLoader (`load() -> name → ARN`), with no IAM client."""

    def load(self) -> dict[str, str]:
        return dict(STATIC_MANAGED_POLICIES)


def with_placeholder_artifacts(template: dict) -> dict:
    """Local paths (CodeUri: functions/) are not valid to the translator before packaging; like
    `sam validate`, stand an S3 URI in for them. Nothing IAM-related depends on where the code lives."""
    placeholders = {
        "AWS::Serverless::Function": "CodeUri",
        "AWS::Serverless::LayerVersion": "ContentUri",
        "AWS::Serverless::StateMachine": "DefinitionUri",
        "AWS::Serverless::Api": "DefinitionUri",
        "AWS::Serverless::HttpApi": "DefinitionUri",
    }
    # A path in Globals (Function: CodeUri) is merged into every function by the transform: stand in there too.
    globals_ = template.get("Globals", {})
    sections = [(resource.get("Type"), resource.get("Properties", {})) for resource in template.get("Resources", {}).values()]
    sections += [(f"AWS::Serverless::{kind}", properties) for kind, properties in globals_.items()]
    for resource_type, properties in sections:
        key = placeholders.get(resource_type)
        if key and isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = "s3://bucket/value"
    return template


def translate(template_text: str, region: str, parameters: dict[str, str]) -> dict:
    # A Session with an explicit region only names the region (and so the partition); it makes no calls.
    session = Session(region_name=region)
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[], boto_session=session)
    loader = StaticManagedPolicyLoader()
    return translator.translate(
        sam_template=with_placeholder_artifacts(yaml_parse(template_text)),
        parameter_values=parameters,
        get_managed_policy_map=loader.load,
    )


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("template", nargs="?", default="template.yaml")
    args.add_argument("--region", default="us-east-1")
    args.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    options = args.parse_args()
    parameters = dict(item.split("=", 1) for item in options.parameter)
    with open(options.template, encoding="utf-8") as handle:
        translated = translate(handle.read(), options.region, parameters)
    json.dump(translated, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
