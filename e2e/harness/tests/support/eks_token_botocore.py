"""An EKS token made the way `aws eks get-token` makes it, with botocore's presigner:
GetCallerIdentity on the regional STS endpoint, presigned for 60 s with the
x-k8s-aws-id header signed, 'k8s-aws-v1.' + unpadded URL-safe base64 of the URL.
The clock is fixed so the result can be compared byte for byte.

usage: eks_token_botocore.py '{"access_key": ..., "secret_key": ..., "session_token": ...,
                               "region": ..., "cluster": ..., "time": <unix seconds>}'
"""
import base64
import datetime
import json
import sys
from unittest import mock

import botocore.auth
import botocore.session

args = json.loads(sys.argv[1])
session = botocore.session.get_session()
session.set_credentials(args["access_key"], args["secret_key"], args.get("session_token"))
region = args["region"]
client = session.create_client(
    "sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com"
)


def add_cluster_id(request, **kwargs):
    request.headers["x-k8s-aws-id"] = args["cluster"]


client.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_id)
fixed = datetime.datetime.fromtimestamp(args["time"], datetime.timezone.utc)
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=fixed):
    url = client.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
    )
print(url)
print("k8s-aws-v1." + base64.urlsafe_b64encode(url.encode("utf-8")).decode("utf-8").rstrip("="))
