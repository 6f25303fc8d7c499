"""schemathesis hooks for .ci/contract.

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
