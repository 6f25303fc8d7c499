"""schemathesis hooks for .ci/contract (two gaps in the tool, neither a leniency towards the server).

schemathesis 4.32's stateful phase can fill a header from a value it captured in a JSON
response (it links the `X-Request-Id` parameter to a resource it infers from the name), and
then hands the raw JSON value, an integer, to `requests`, which refuses it before anything is
sent ("Header part (287) ... must be of type str or bytes"). That is a failure of the tool, not
of the server. An HTTP header is text: send such a value as its JSON text, as any client would.
"""

import json

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    if not case.headers:
        return
    for name, value in list(case.headers.items()):
        if not isinstance(value, (str, bytes)):
            case.headers[name] = json.dumps(value)


# The archive `POST /tenants/import` takes is application/x-tar, a media type schemathesis has
# no serializer for; send generated bodies as the raw bytes it sends for octet-stream, so the
# import route is fuzzed too (any such body must be a clean 4xx).
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")
