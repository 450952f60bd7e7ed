"""EC2 Query requests as botocore makes them, to compare hubspoke's EC2 client with.

usage: ec2_botocore.py '<json>' where the JSON is one of
  {"serialize": "<Operation>", "params": {...}}
      the request's parameters as botocore's EC2 serializer flattens them, as
      [[key, value], ...] (Action and Version included);
  {"revoke": "<DescribeSecurityGroups answer, XML>"}
      the answer parsed by botocore's EC2 parser, and the first group's rules serialized as
      RevokeSecurityGroupIngress/RevokeSecurityGroupEgress (GroupId and IpPermissions, as
      a client passing the described rules back would): {"ingress": [...], "egress": [...]};
  {"sign": {"url", "body", "region", "access_key", "secret_key", "session_token", "time"}}
      the headers SigV4Auth (service ec2) adds to a POST of the body with EC2's content
      type, at a fixed clock: {header (lower case): value}.
"""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
import botocore.credentials
import botocore.parsers
import botocore.serialize
import botocore.session
from botocore.awsrequest import AWSRequest

args = json.loads(sys.argv[1])
model = botocore.session.get_session().get_service_model("ec2")
serializer = botocore.serialize.create_serializer("ec2")


def serialize(operation, params):
    request = serializer.serialize_to_request(params, model.operation_model(operation))
    return [[k, str(v)] for k, v in request["body"].items()]


if "serialize" in args:
    print(json.dumps(serialize(args["serialize"], args["params"])))
elif "revoke" in args:
    shape = model.operation_model("DescribeSecurityGroups").output_shape
    parsed = botocore.parsers.create_parser("ec2").parse(
        {"body": args["revoke"].encode("utf-8"), "headers": {}, "status_code": 200}, shape
    )
    group = parsed["SecurityGroups"][0]
    out = {}
    for key, operation, rules in [
        ("ingress", "RevokeSecurityGroupIngress", "IpPermissions"),
        ("egress", "RevokeSecurityGroupEgress", "IpPermissionsEgress"),
    ]:
        out[key] = serialize(
            operation, {"GroupId": group["GroupId"], "IpPermissions": group[rules]}
        )
    print(json.dumps(out))
else:
    s = args["sign"]
    creds = botocore.credentials.Credentials(
        s["access_key"], s["secret_key"], s.get("session_token")
    )
    request = AWSRequest(
        method="POST",
        url=s["url"],
        data=s["body"].encode("utf-8"),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    fixed = datetime.datetime.fromtimestamp(s["time"], datetime.timezone.utc)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=fixed):
        botocore.auth.SigV4Auth(creds, "ec2", s["region"]).add_auth(request)
    print(json.dumps({k.lower(): v for k, v in request.headers.items()}))
