"""Local IAM: every request is authenticated and authorised as AWS would, before moto sees it.

Identities
- the administrator: access key `test`, secret `test` (the local default credentials: test tooling,
  provisioning, the README's CRM examples). Signed requests with it may do anything.
- role sessions the local runner registers, one per function, with the key pair, session token and
  policies of that function's role (SAM's translator's output with names resolved):

    POST /_local/iam/sessions {"role_name": "...", "session_name": "...", "access_key_id": "ASIA...",
                               "secret_access_key": "...", "session_token": "...",
                               "policies": [<policy document>, ...],
                               "managed_policy_arns": ["arn:aws:iam::aws:policy/...", ...]}
        -> 201 {"arn": "arn:aws:sts::123456789012:assumed-role/<role_name>/<session_name>"}
    GET  /_local/iam/denials?role=<substring of the role name>
        -> 200 {"denials": [{"principal", "action", "resource"}, ...]} (the last 1,000)

The two moto processes each hold their own registry, so the runner registers every session with
both; the caller chooses the keys, which is why the same credentials are valid in both (moto's own
STS would mint a different random key pair in each process).

Why not moto's own enforcement (INITIAL_NO_AUTH_ACTION_COUNT): moto 5.2.5 names the resource only
for SQS (DynamoDB and Secrets Manager requests are checked against "*", so a grant on a table ARN
never matches), checks TransactWriteItems and the batch calls as actions of their own (AWS checks
PutItem/UpdateItem/... per item, SendMessage per batch), answers the JSON-protocol services with an
XML error the SDK does not parse as AWS's, and re-reads every user and policy on every request.

S3 (path-style, as the functions' adapter and the tests address it) and KMS are enforced too. An
S3 request is authorised as AWS authorises it: GetObject/HeadObject as s3:GetObject on the object's
ARN, PutObject (and multipart uploads) as s3:PutObject, DeleteObject and each key of a
DeleteObjects as s3:DeleteObject, ListObjectsV2 as s3:ListBucket on the bucket. Writing to or
reading from a bucket whose default encryption is SSE-KMS also needs kms:GenerateDataKey or
kms:Decrypt on its key, as in AWS. Presigned URLs (SigV4 in the query string) are verified the
same way, and refused once expired (X-Amz-Expires). A DeleteObjects with one key the role may not
delete is refused whole (AWS would delete the others and list that key under Errors).

What AWS does and this does too: SigV4 signatures are verified (wrong secret -> the service's
signature error), an unknown key or session token is refused, an explicit Deny wins, actions match
case-insensitively and resources case-sensitively with `*`/`?` wildcards, and a denial is answered
in the service's own error shape (AccessDeniedException for DynamoDB and Secrets Manager,
AccessDenied for SQS). Not modelled: conditions, NotAction/NotResource, resource-based policies,
permission boundaries; a policy using them is refused at registration rather than half-applied.
"""
import collections
import datetime
import hashlib
import hmac
import json
import re
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlparse

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.aws_managed_policies import aws_managed_policies_data

from . import aws_errors, aws_request

PREFIX = "/_local/iam"
ADMIN_ACCESS_KEY = "test"
ADMIN_SECRET = "test"
ACCOUNT = DEFAULT_ACCOUNT_ID

# Decisions cached per principal; a stack's roles touch a handful of (action, resource) pairs.
_CACHE_LIMIT = 4096
_DENIALS_KEPT = 1000

_TARGET_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "AmazonSQS": "sqs",
    "secretsmanager": "secretsmanager",
    "TrentService": "kms",
}
# Batch calls IAM checks as the single call (SendMessageBatch needs sqs:SendMessage).
_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# A transaction needs the item-level action for each of its items.
_TRANSACT_ITEM = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_CORAL = "com.amazon.coral.service"


class BadRegistration(ValueError):
    pass


def _glob(pattern, ignore_case):
    text = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{text}$", re.IGNORECASE if ignore_case else 0)


def _many(value):
    return value if isinstance(value, list) else [value]


class _Statement:
    def __init__(self, statement):
        if not isinstance(statement, dict):
            raise BadRegistration(f"a statement must be an object: {statement!r}")
        unsupported = {"NotAction", "NotResource", "Condition", "Principal", "NotPrincipal"}
        used = unsupported.intersection(statement)
        if used:
            raise BadRegistration(f"local IAM does not evaluate {sorted(used)}: {statement!r}")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise BadRegistration(f"Effect must be Allow or Deny: {statement!r}")
        actions, resources = statement.get("Action"), statement.get("Resource")
        for name, value in (("Action", actions), ("Resource", resources)):
            if not value or not all(isinstance(v, str) for v in _many(value)):
                raise BadRegistration(f"{name} must be a string or strings: {statement!r}")
        self.allow = effect == "Allow"
        self.actions = [_glob(a, True) for a in _many(actions)]
        self.resources = [_glob(r, False) for r in _many(resources)]

    def covers(self, action, resource):
        return any(a.match(action) for a in self.actions) and any(
            r.match(resource) for r in self.resources
        )


class Principal:
    """One role session: its credentials and its policies, compiled once."""

    def __init__(self, body):
        def text(name):
            value = body.get(name)
            if not isinstance(value, str) or not value:
                raise BadRegistration(f"{name} must be a non-empty string")
            return value

        self.role_name = text("role_name")
        self.access_key_id = text("access_key_id")
        self.secret = text("secret_access_key")
        self.session_token = text("session_token")
        self.arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_name}/{text('session_name')}"
        documents = list(body.get("policies") or [])
        managed = json.loads(aws_managed_policies_data)
        for arn in body.get("managed_policy_arns") or []:
            name = str(arn).rsplit("/", 1)[-1]
            if not str(arn).startswith("arn:aws:iam::aws:policy/") or name not in managed:
                raise BadRegistration(f"unknown AWS managed policy {arn}")
            documents.append(managed[name]["Document"])
        self.statements = []
        for document in documents:
            if not isinstance(document, dict):
                raise BadRegistration(f"a policy document must be an object: {document!r}")
            self.statements.extend(_Statement(s) for s in _many(document.get("Statement") or []))
        self._decisions = {}

    def decide(self, action, resource):
        """'allow', 'deny' (explicit) or 'implicit' (no statement allows it)."""
        key = (action, resource)
        decision = self._decisions.get(key)
        if decision is None:
            decision = "implicit"
            for statement in self.statements:
                if statement.covers(action, resource):
                    if not statement.allow:
                        decision = "deny"
                        break
                    decision = "allow"
            if len(self._decisions) >= _CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision


class Iam:
    def __init__(self):
        self._lock = threading.Lock()
        self._principals = {}
        self._denials = collections.deque(maxlen=_DENIALS_KEPT)

    # --- admin endpoint -------------------------------------------------------------------
    def admin(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == f"{PREFIX}/sessions" and method == "POST":
            try:
                body = json.loads(aws_request.read_body(environ) or b"null")
                if not isinstance(body, dict):
                    raise BadRegistration("the body must be a JSON object")
                principal = Principal(body)
            except (ValueError, BadRegistration) as err:
                return _json(start_response, 400, {"error": str(err)})
            with self._lock:
                self._principals[principal.access_key_id] = principal
            return _json(start_response, 201, {"arn": principal.arn})
        if path == f"{PREFIX}/denials" and method == "GET":
            role = parse_qs(environ.get("QUERY_STRING", "")).get("role", [""])[0]
            with self._lock:
                denials = [d for d in self._denials if role in d["principal"]]
            return _json(start_response, 200, {"denials": denials})
        return _json(start_response, 404, {"error": f"no {method} {path}"})

    # --- request path ---------------------------------------------------------------------
    def wrap(self, app):
        """A WSGI app that answers requests IAM would refuse, and passes the rest to `app`."""

        def enforce(environ, start_response):
            refusal = self._check(environ)
            if refusal is None:
                return app(environ, start_response)
            return _refuse(start_response, *refusal)

        return enforce

    def _check(self, environ):
        """None when AWS would serve the request, else (protocol, status, code, message)."""
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api") or path.startswith("/_local"):
            return None  # the emulator's own endpoints, not AWS APIs
        auth = environ.get("HTTP_AUTHORIZATION", "")
        fields = _authorization(auth)
        presigned = None
        if fields is None:
            presigned = _presigned(environ)
            fields = presigned and presigned[:6]
        protocol = _protocol(environ, fields)
        if not fields:
            return (protocol, *_missing_token(protocol))
        key_id, date, region, service, signed_headers, signature = fields
        if presigned is not None and presigned[6]:
            return (protocol, 403, "AccessDenied", "Request has expired", None)
        body = aws_request.read_body(environ)
        if key_id == ADMIN_ACCESS_KEY:
            if not _signature_matches(
                environ, body, date, region, service, ADMIN_SECRET, signed_headers, signature
            ):
                return (protocol, *_bad_signature(protocol))
            return None
        principal = self._principals.get(key_id)
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
        if presigned is not None:
            token = _query(environ).get("X-Amz-Security-Token")
        if principal is None or not hmac.compare_digest(
            (token or "").encode(), principal.session_token.encode()
        ):
            return (protocol, *_unknown_key(protocol))
        if not _signature_matches(
            environ, body, date, region, service, principal.secret, signed_headers, signature
        ):
            return (protocol, *_bad_signature(protocol))
        for action, resource in self._requested(environ, body, service, region):
            decision = principal.decide(action, resource)
            if decision != "allow":
                with self._lock:
                    self._denials.append(
                        {"principal": principal.arn, "action": action, "resource": resource}
                    )
                return (protocol, *_access_denied(protocol, principal.arn, action, resource,
                                                  decision == "deny"))
        return None

    def _requested(self, environ, body, service, region):
        """The (IAM action, resource ARN) pairs the request needs, as AWS evaluates them."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix, _, operation = target.partition(".")
        if operation:
            service = _TARGET_SERVICES.get(prefix, service)
            params = aws_request.payload(body)
        else:
            form = parse_qs(body.decode("utf-8", "replace")) if body else {}
            form.update(parse_qs(environ.get("QUERY_STRING", "")))
            params = {k: v[0] for k, v in form.items() if v}
            operation = params.get("Action", "")
        if service == "dynamodb":
            return _dynamodb(operation, params, region)
        if service == "sqs":
            return _sqs(operation, params, region, environ.get("PATH_INFO", ""))
        if service == "s3":
            return _s3(environ, body, region)
        if service == "kms":
            return [(f"kms:{operation}", _key_arn(params.get("KeyId"), region))]
        if service == "secretsmanager":
            secret_id = params.get("SecretId")
            if isinstance(secret_id, str):
                return [(f"secretsmanager:{operation}", self._secret_arn(secret_id, region))]
            return [(f"secretsmanager:{operation}", "*")]
        return [(f"{service}:{operation}", "*")]

    def _secret_arn(self, secret_id, region):
        """The full ARN (with AWS's random suffix) a policy names, for a name or an ARN. Looked
        up on every call, not cached: a secret deleted and created again gets a new suffix."""
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[ACCOUNT][region].secrets.get(secret_id)
        if secret is not None:
            return secret.arn
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret_id}"


def _query(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))


def _key_arn(key_id, region):
    """A KMS key's ARN for an id, ARN, alias name or alias ARN; '*' when unknown."""
    from moto.kms.models import kms_backends

    if not isinstance(key_id, str) or not key_id:
        return "*"
    backend = kms_backends[ACCOUNT][region]
    try:
        if "alias/" in key_id:
            alias = "alias/" + key_id.split("alias/", 1)[1]
            key_id = backend.get_key_id_from_alias(alias) or key_id
        return backend.describe_key(key_id).arn
    except Exception:  # unknown key: KMS itself answers NotFound
        return key_id if key_id.startswith("arn:") else "*"


def _bucket_key(bucket, region):
    """The KMS key ARN of a bucket whose default encryption is SSE-KMS, else None."""
    from moto.s3.models import s3_backends

    try:
        encryption = s3_backends[ACCOUNT]["global"].get_bucket(bucket).encryption or {}
    except Exception:  # no such bucket: S3 answers NoSuchBucket itself
        return None
    rules = encryption.get("Rule")
    for rule in rules if isinstance(rules, list) else [rules]:
        default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
            return _key_arn(default["KMSMasterKeyID"], region)
    return None


# Object subresources and the action each needs (the rest of an object request is below).
_S3_OBJECT_SUBRESOURCES = {
    ("GET", "tagging"): "GetObjectTagging",
    ("PUT", "tagging"): "PutObjectTagging",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("GET", "acl"): "GetObjectAcl",
    ("PUT", "acl"): "PutObjectAcl",
    ("GET", "attributes"): "GetObjectAttributes",
}


def _s3(environ, body, region):
    """(action, resource) pairs of a path-style S3 request, as AWS authorises it."""
    method = environ.get("REQUEST_METHOD", "GET")
    raw = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    path = unquote(raw.partition("?")[0])
    bucket, _, key = path.lstrip("/").partition("/")
    query = _query(environ)
    if not bucket:
        return [("s3:ListAllMyBuckets", "*")]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "POST" and "delete" in query:
            keys = _delete_keys(body)
            return [("s3:DeleteObject", f"{bucket_arn}/{k}") for k in keys] or [
                ("s3:DeleteObject", f"{bucket_arn}/*")
            ]
        if method in ("GET", "HEAD") and not (set(query) - _LIST_PARAMETERS):
            return [("s3:ListBucket", bucket_arn)]
        # Bucket configuration: only the administrator provisions it.
        sub = next(iter(sorted(query)), "")
        return [(f"s3:{method.title()}Bucket{sub.title()}", bucket_arn)]
    object_arn = f"{bucket_arn}/{key}"
    for (verb, sub), action in _S3_OBJECT_SUBRESOURCES.items():
        if verb == method and sub in query:
            return [(f"s3:{action}", object_arn)]
    kms_key = _bucket_key(bucket, region)
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return [("s3:ListMultipartUploadParts", object_arn)]
        needs = [("s3:GetObject", object_arn)]
        return needs + ([("kms:Decrypt", kms_key)] if kms_key else [])
    if method == "DELETE":
        if "uploadId" in query:
            return [("s3:AbortMultipartUpload", object_arn)]
        return [("s3:DeleteObject", object_arn)]
    if method in ("PUT", "POST"):
        needs = [("s3:PutObject", object_arn)]
        source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
        if source:
            needs.append(("s3:GetObject", "arn:aws:s3:::" + unquote(source).lstrip("/")))
        return needs + ([("kms:GenerateDataKey", kms_key)] if kms_key else [])
    return [(f"s3:{method}", object_arn)]


# Query parameters of ListObjects(V2): a GET on the bucket with only these lists it.
_LIST_PARAMETERS = {
    "list-type", "prefix", "delimiter", "encoding-type", "max-keys", "continuation-token",
    "fetch-owner", "start-after", "marker", "x-id",
}


def _delete_keys(body):
    """The keys of a DeleteObjects request body."""
    try:
        root = ElementTree.fromstring(body or b"<Delete/>")
    except ElementTree.ParseError:
        return []
    return [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]


def _dynamodb(operation, params, region):
    def table(name):
        return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"

    if operation in ("TransactWriteItems", "TransactGetItems"):
        needs = []
        for item in params.get("TransactItems") or []:
            for kind, op in (item.items() if isinstance(item, dict) else []):
                if isinstance(op, dict) and kind in _TRANSACT_ITEM:
                    needs.append((f"dynamodb:{_TRANSACT_ITEM[kind]}", table(op.get("TableName"))))
        return needs or [(f"dynamodb:{operation}", "*")]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        items = params.get("RequestItems")
        names = list(items) if isinstance(items, dict) else []
        return [(f"dynamodb:{operation}", table(n)) for n in names] or [
            (f"dynamodb:{operation}", "*")
        ]
    name = params.get("TableName")
    if not isinstance(name, str):
        return [(f"dynamodb:{operation}", "*")]
    index = params.get("IndexName")
    if operation in ("Query", "Scan") and isinstance(index, str):
        return [(f"dynamodb:{operation}", f"{table(name)}/index/{index}")]
    return [(f"dynamodb:{operation}", table(name))]


def _sqs(operation, params, region, path):
    action = f"sqs:{_SQS_BATCH.get(operation, operation)}"
    url = params.get("QueueUrl")
    if isinstance(url, str) and url:
        parts = urlparse(url).path.strip("/").split("/") if "://" in url else [ACCOUNT, url]
    elif isinstance(params.get("QueueName"), str):
        parts = [ACCOUNT, params["QueueName"]]
    else:
        parts = path.strip("/").split("/")
    if len(parts) == 2 and all(parts):
        return [(action, f"arn:aws:sqs:{region}:{parts[0]}:{parts[1]}")]
    return [(action, "*")]


def _authorization(header):
    """(key id, date, region, service, signed headers, signature) of a SigV4 header, or None."""
    scheme, _, rest = header.partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return None
    fields = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or not fields.get("Signature") or not fields.get("SignedHeaders"):
        return None
    key_id, date, region, service, _ = scope
    return key_id, date, region, service, fields["SignedHeaders"].split(";"), fields["Signature"]


_SIGNING_KEYS = {}


def _signing_key(secret, date, region, service):
    """AWS4 signing key; cached, since a session signs every request of a day with the same."""
    key = (secret, date, region, service)
    derived = _SIGNING_KEYS.get(key)
    if derived is None:
        derived = ("AWS4" + secret).encode()
        for part in (date, region, service, "aws4_request"):
            derived = hmac.new(derived, part.encode(), hashlib.sha256).digest()
        if len(_SIGNING_KEYS) > 1024:
            _SIGNING_KEYS.clear()
        _SIGNING_KEYS[key] = derived
    return derived


def _presigned(environ):
    """A SigV4 query-string signature (a presigned URL): the header fields' tuple plus whether
    it has expired, or None."""
    q = _query(environ)
    if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return None
    scope = q.get("X-Amz-Credential", "").split("/")
    if len(scope) != 5 or not q.get("X-Amz-Signature") or not q.get("X-Amz-SignedHeaders"):
        return None
    key_id, date, region, service, _ = scope
    try:
        signed_at = datetime.datetime.strptime(q.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ")
        expires = int(q.get("X-Amz-Expires", "0"))
    except ValueError:
        return None
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    expired = now > signed_at + datetime.timedelta(seconds=expires)
    return (key_id, date, region, service, q["X-Amz-SignedHeaders"].split(";"),
            q["X-Amz-Signature"], expired)


def _signature_matches(environ, body, date, region, service, secret, signed, signature):
    """SigV4 as AWS verifies it: the canonical request rebuilt from what arrived, signed with
    the key derived from `secret`. Written out (not botocore's signer, which moto uses) because
    botocore's builds a whole request object and took ~0.7 ms a call, on every call."""
    headers = []
    for name in signed:
        if name == "content-type":
            value = environ.get("CONTENT_TYPE")
        elif name == "content-length":
            value = environ.get("CONTENT_LENGTH")
        else:
            value = environ.get("HTTP_" + name.upper().replace("-", "_"))
        if value is None:
            return False
        headers.append(f"{name}:{' '.join(value.split())}\n")
    raw = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    path, _, query = raw.partition("?")
    query = query or environ.get("QUERY_STRING", "")
    presigned = "X-Amz-Signature=" in query
    amz_date = environ.get("HTTP_X_AMZ_DATE", "")
    if presigned:
        amz_date = _query(environ).get("X-Amz-Date", "")
    if not amz_date.startswith(date):
        return False
    pairs = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in parse_qsl(query, keep_blank_values=True)
        if not (presigned and k == "X-Amz-Signature")
    )
    if presigned:
        payload = "UNSIGNED-PAYLOAD"
    else:
        payload = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([
        environ.get("REQUEST_METHOD", "GET"),
        # Every AWS service but S3 signs the path URI-encoded once more; S3 signs it as sent.
        path if service == "s3" else quote(_normalised(path), safe="/~"),
        "&".join(f"{k}={v}" for k, v in pairs),
        "".join(headers),
        ";".join(signed),
        payload,
    ])
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256",
        amz_date,
        f"{date}/{region}/{service}/aws4_request",
        hashlib.sha256(canonical.encode()).hexdigest(),
    ])
    expected = hmac.new(_signing_key(secret, date, region, service), to_sign.encode(),
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _normalised(path):
    """The path with `.`/`..` segments and repeated slashes resolved, as SigV4 wants."""
    if not path:
        return "/"
    segments = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normal = "/" + "/".join(segments)
    return normal + "/" if path.endswith("/") and normal != "/" else normal


# --- answers in each protocol's shape -------------------------------------------------------

def _protocol(environ, fields=None):
    prefix = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[0]
    if prefix in _TARGET_SERVICES:
        return _TARGET_SERVICES[prefix]
    if fields and fields[3] == "s3":
        return "s3"
    return "query"


def _access_denied(protocol, arn, action, resource, explicit):
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {action} action")
    if protocol == "sqs":
        # SQS names the action in lower case in this message.
        action, why = action.lower(), why.replace(action, action.lower())
    message = f"User: {arn} is not authorized to perform: {action} on resource: {resource} {why}"
    if protocol == "sqs":
        return 403, f"{_CORAL}#AccessDeniedException", message, "AccessDenied"
    if protocol == "dynamodb":
        return 400, f"{_CORAL}#AccessDeniedException", message, None
    if protocol in ("secretsmanager", "kms"):
        return 400, "AccessDeniedException", message, None
    return 403, "AccessDenied", message, None


def _unknown_key(protocol):
    message = "The security token included in the request is invalid."
    if protocol == "s3":
        return 403, "InvalidAccessKeyId", \
            "The AWS Access Key Id you provided does not exist in our records.", None
    if protocol == "sqs":
        return 403, f"{_CORAL}#UnrecognizedClientException", message, "InvalidClientTokenId"
    if protocol == "query":
        return 403, "InvalidClientTokenId", message, None
    return 400, "UnrecognizedClientException", message, None


def _bad_signature(protocol):
    message = ("The request signature we calculated does not match the signature you provided. "
               "Check your AWS Secret Access Key and signing method. "
               "Consult the service documentation for details.")
    if protocol == "sqs":
        return 403, f"{_CORAL}#InvalidSignatureException", message, "SignatureDoesNotMatch"
    if protocol in ("query", "s3"):
        return 403, "SignatureDoesNotMatch", message, None
    return 400, "InvalidSignatureException", message, None


def _missing_token(protocol):
    message = "Request is missing Authentication Token"
    if protocol == "s3":
        # An anonymous request to a private bucket.
        return 403, "AccessDenied", "Access Denied", None
    if protocol == "sqs":
        return 400, f"{_CORAL}#MissingAuthenticationTokenException", message, \
            "MissingAuthenticationToken"
    if protocol == "query":
        return 403, "MissingAuthenticationToken", message, None
    return 400, "MissingAuthenticationTokenException", message, None


def _refuse(start_response, protocol, status, code, message, query_code):
    if protocol == "s3":
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>{_xml(message)}</Message><RequestId>{uuid.uuid4()}</RequestId></Error>"
        ).encode()
        start_response(f"{status} Forbidden", [
            ("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
        ])
        return [body]
    if protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ).encode()
        start_response(f"{status} Forbidden", [
            ("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
        ])
        return [body]
    # DynamoDB qualifies these errors with the service framework's namespace; Secrets Manager
    # does not; SQS's codes above are already qualified.
    if protocol == "dynamodb" and "#" not in code:
        code = f"{_CORAL}#{code}"
    return aws_errors.respond(start_response, protocol, status, code, message, query_code,
                              qualified=True)


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json(start_response, status, value):
    body = json.dumps(value).encode()
    reasons = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found"}
    start_response(f"{status} {reasons.get(status, 'Error')}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
    ])
    return [body]
